"""The programme's rules and its tier ladder (`programme:write`: admins and marketers).

The forms call `services.programme_settings` (as `PATCH /api/v1/programme`, `POST/PATCH
/api/v1/tiers`): each field checked and named, all or nothing, audited. Nothing is retroactive,
and the page says so: earning and expiry rules apply to points earned from then on, members' tiers
follow at their next sale or tier evaluation. The currency and time zone are the server's settings,
shown, not edited.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from loyalty.domain import tier_services
from loyalty.domain.errors import DomainError
from loyalty.i18n import formats, marker, translator
from loyalty.services import programme_settings as settings_service
from loyalty.services import tiers as tiers_service
from loyalty.web.console import forms
from loyalty.web.console.admin.common import given
from loyalty.web.pages import ConsoleRoute, Page, StaffForm, StaffPage

_ = translator("web")
N_ = marker("web")

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

PROGRAMME_PATH = "/console/admin/programme"
#: each whole-number rule with its label and what it does, in the order the form shows them
RULES: tuple[tuple[str, str, str], ...] = (
    ("points_per_unit", N_("Points per currency unit spent"), N_("Before the tier multiplier.")),
    (
        "points_per_currency_unit",
        N_("Points that pay for one currency unit"),
        N_("When points are redeemed."),
    ),
    ("redeem_cap_pct", N_("Share of an order points may pay (%)"), N_("0 to 100.")),
    ("min_redeem_balance", N_("Points a member must hold to redeem"), N_("0: any balance.")),
    ("return_window_days", N_("Days earned points stay pending"), N_("The return window.")),
    ("expiry_days", N_("Days after the sale points expire"), N_("Must be more than the return window.")),
    ("tier_window_days", N_("Days of spend that count for a tier"), N_("The tier window.")),
    ("downgrade_grace_days", N_("Days of grace before a downgrade"), N_("0: at the next evaluation.")),
)
POLICIES = {
    "one_step": N_("Down one tier at a time"),
    "window": N_("Down to the tier the window's spend supports"),
}
PROGRAMME_FIELDS = {"name", "excluded_categories", "downgrade_policy", *(r[0] for r in RULES)}
TIER_FIELDS = {"name", "code", "threshold", "multiplier_pct", "services"}
_CATEGORY_SPLIT = re.compile(r"[,，;；\n]")


def _programme_values(settings: settings_service.ProgrammeSettings) -> dict[str, str]:
    values = {name: str(getattr(settings, name)) for name, _label, _hint in RULES}
    values["name"] = settings.name
    values["downgrade_policy"] = settings.downgrade_policy
    values["excluded_categories"] = ", ".join(settings.excluded_categories)
    return values


def _tier_values(tier: Any, currency: str) -> dict[str, Any]:
    return {
        "name": tier.name,
        "threshold": str(formats.major(tier.threshold_minor, currency)),
        "multiplier_pct": str(tier.multiplier_pct),
        "services": list(tier.services),
    }


def service_choices() -> list[tuple[str, str]]:
    """Every tier service as (code, label in the page's language), for the forms' tick boxes."""
    return [(code, tier_services.label(code)) for code in tier_services.SERVICE_CODES]


def _render(
    page: Page,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    tier_values: dict[str, Any] | None = None,
    tier_errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    settings = settings_service.programme_settings(page.ctx)
    return page.html(
        "console/admin/programme.html",
        {
            "settings": settings,
            "given": values or _programme_values(settings),
            "errors": errors or {},
            "tier_given": tier_values or {"multiplier_pct": "100", "services": []},
            "tier_errors": tier_errors or {},
            "rules": [(name, _(label), _(hint)) for name, label, hint in RULES],
            "policies": [(code, _(text)) for code, text in POLICIES.items()],
            "tiers": tiers_service.list_tiers(page.ctx),
            "services": service_choices(),
            "service_label": tier_services.label,
            "currency": settings.currency,
        },
        status=status,
    )


@router.get("/admin/programme")
def programme_page(page: StaffPage) -> Response:
    """The programme's rules to change, and its tier ladder."""
    page.require("programme:write")
    return _render(page)


@router.post("/admin/programme")
def update_programme(page: StaffPage, form: StaffForm) -> Response:
    """Save the programme's name and rules (all or nothing)."""
    page.require("programme:write")
    values = given(form, *PROGRAMME_FIELDS)
    errors: dict[str, str] = {}
    changes: dict[str, Any] = {"name": values["name"], "downgrade_policy": values["downgrade_policy"]}
    for name, _label, _hint in RULES:
        low, high = settings_service.RULE_BOUNDS[name]
        changes[name] = forms.whole(values[name], name, errors, low=low, high=high)
    changes["excluded_categories"] = [
        c.strip() for c in _CATEGORY_SPLIT.split(values["excluded_categories"]) if c.strip()
    ]
    if not values["name"]:
        errors["name"] = _("Enter the programme's name.")
    if errors:
        return _render(page, values=values, errors=errors, status=422)
    try:
        settings_service.update_programme(
            page.ctx, settings_service.ProgrammeChanges(**changes), actor=page.staff.to_actor()
        )
    except DomainError as exc:
        return _render(
            page, values=values, errors=forms.field_errors(exc, page.locale, PROGRAMME_FIELDS), status=422
        )
    return page.redirect(
        PROGRAMME_PATH, flash=_("Programme saved. New rules apply to points earned from now on.")
    )


def _read_tier(page: Page, form: Any, *names: str) -> tuple[dict[str, Any], dict[str, str], dict[str, Any]]:
    """The tier form as typed (the services ticked), its shape errors, and the values for the service."""
    values: dict[str, Any] = given(form, *names)
    values["services"] = [str(code) for code in form.getlist("services")]
    errors: dict[str, str] = {}
    currency = page.ctx.settings.currency
    out: dict[str, Any] = {
        "name": values["name"],
        "threshold_minor": forms.amount(values["threshold"], currency, "threshold", errors),
        "multiplier_pct": forms.whole(values["multiplier_pct"], "multiplier_pct", errors, low=0, high=1000),
        "services": values["services"],
    }
    if not values["name"]:
        errors["name"] = _("Enter the tier's name.")
    if "code" in values:
        out["code"] = values["code"] or None
    return values, errors, out


@router.post("/admin/tiers")
def add_tier(page: StaffPage, form: StaffForm) -> Response:
    """Add a tier where its qualifying spend puts it on the ladder."""
    page.require("programme:write")
    values, errors, tier = _read_tier(page, form, "name", "threshold", "multiplier_pct", "code")
    if errors:
        return _render(page, tier_values=values, tier_errors=errors, status=422)
    try:
        added = settings_service.add_tier(
            page.ctx, settings_service.NewTier(**tier), actor=page.staff.to_actor()
        )
    except DomainError as exc:
        errors = forms.field_errors(exc, page.locale, TIER_FIELDS)
        return _render(page, tier_values=values, tier_errors=errors, status=422)
    return page.redirect(
        PROGRAMME_PATH,
        flash=_(
            "Tier {name} added. Members reach it at their next sale or tier evaluation.", name=added.name
        ),
    )


def _tier(page: Page, tier_id: int) -> Any:
    found = next((t for t in tiers_service.list_tiers(page.ctx) if t.id == tier_id), None)
    if found is None:
        raise settings_service.tier_not_found(tier_id)
    return found


def _tier_page(
    page: Page, tier: Any, values: dict[str, Any], errors: dict[str, str] | None = None, status: int = 200
) -> Response:
    return page.html(
        "console/admin/tier_form.html",
        {
            "tier": tier,
            "given": values,
            "errors": errors or {},
            "currency": page.ctx.settings.currency,
            "services": service_choices(),
        },
        status=status,
    )


@router.get("/admin/tiers/{tier_id}")
def tier_page(tier_id: int, page: StaffPage) -> Response:
    """One tier's name, qualifying spend, multiplier and services to change."""
    page.require("programme:write")
    tier = _tier(page, tier_id)
    return _tier_page(page, tier, _tier_values(tier, page.ctx.settings.currency))


@router.post("/admin/tiers/{tier_id}")
def update_tier(tier_id: int, page: StaffPage, form: StaffForm) -> Response:
    """Save the tier (tiers keep their order); members' tiers follow at their next evaluation."""
    page.require("programme:write")
    tier = _tier(page, tier_id)
    values, errors, changes = _read_tier(page, form, "name", "threshold", "multiplier_pct")
    if errors:
        return _tier_page(page, tier, values, errors, status=422)
    try:
        changed = settings_service.update_tier(
            page.ctx, tier_id, settings_service.TierChanges(**changes), actor=page.staff.to_actor()
        )
    except DomainError as exc:
        return _tier_page(page, tier, values, forms.field_errors(exc, page.locale, TIER_FIELDS), status=422)
    return page.redirect(
        PROGRAMME_PATH,
        flash=_(
            "Tier {name} saved. Members' tiers follow at their next sale or tier evaluation.",
            name=changed.name,
        ),
    )
