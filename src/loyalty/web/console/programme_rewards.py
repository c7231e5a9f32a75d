"""The marketer's rewards catalogue (`/console/programme/rewards`): every reward with its price per
tier, the tiers an exclusive reward is for, stock, limit per member and period; for marketers, a form
to add one (checked whole, every bad field named beside the form).

Reading needs `programme:read`, changing `programme:write`, through `services.rewards` as the API's
`/api/v1/rewards` does, audited as the user's.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.datastructures import FormData
from starlette.responses import Response

from loyalty.domain.errors import DomainError
from loyalty.domain.programme.rewards import RewardTerms
from loyalty.i18n import marker, translator
from loyalty.services import tiers as tiers_service
from loyalty.services.rewards import catalog
from loyalty.web.pages import ConsoleRoute, Page, StaffForm, StaffPage

_ = translator("web")
N_ = marker("web")

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

PATH = "/console/programme/rewards"
KIND_NAMES = {"gift": N_("Gift"), "coupon": N_("Coupon"), "service": N_("Service")}
FIELDS = ("code", "name", "kind", "points", "stock", "per_member_limit", "offer_code", "tier_prices")


def _render(page: Page, *, given: dict[str, Any] | None = None, errors: list[dict[str, str]] | None = None,
            status: int = 200) -> Response:  # fmt: skip
    ladder = tiers_service.list_tiers(page.ctx)
    return page.html(
        "console/programme_rewards.html",
        {
            "rewards": catalog.list_rewards(page.ctx),
            "tiers": ladder,
            "tier_names": {t.code: t.name for t in ladder},
            "kinds": KIND_NAMES,
            "now": page.ctx.now(),
            "zone": page.ctx.settings.timezone,
            "editable": page.can("programme:write"),
            "given": given or {"kind": "gift", "tiers": []},
            "errors": errors or [],
        },
        status=status,
    )


@router.get("/programme/rewards")
def rewards_page(page: StaffPage) -> Response:
    """The catalogue; for marketers, the form to add a reward."""
    page.require("programme:read")
    return _render(page)


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _whole(text: str, field: str, errors: list[dict[str, str]], *, required: bool = False) -> int | None:
    if not text:
        if required:
            errors.append({"field": field, "message": _("Enter a whole number.")})
        return None
    if not text.isdigit() or len(text) > 9:
        errors.append({"field": field, "message": _("Enter a whole number.")})
        return None
    return int(text)


def _tier_prices(text: str, errors: list[dict[str, str]]) -> dict[str, int]:
    """`gold=250, diamond=200` as {tier: points}."""
    out: dict[str, int] = {}
    for part in (p.strip() for p in text.replace("，", ",").split(",") if p.strip()):
        tier, _sep, price = part.partition("=")
        if not tier.strip() or not price.strip().isdigit():
            errors.append({"field": "tier_prices", "message": _("Write each as TIER=POINTS, e.g. gold=250.")})
            return {}
        out[tier.strip()] = int(price.strip())
    return out


@router.post("/programme/rewards")
def define_reward(page: StaffPage, form: StaffForm) -> Response:
    """Add a reward to the catalogue (audited); refused beside the form, naming each bad field."""
    page.require("programme:write")
    given: dict[str, Any] = {name: _text(form, name) for name in FIELDS}
    given["tiers"] = [str(code) for code in form.getlist("tiers")]
    errors: list[dict[str, str]] = []
    points = _whole(given["points"], "points", errors, required=True)
    stock = _whole(given["stock"], "stock", errors)
    limit = _whole(given["per_member_limit"], "per_member_limit", errors)
    tier_prices = _tier_prices(given["tier_prices"], errors)
    if errors or points is None:
        return _render(page, given=given, errors=errors, status=422)
    terms: dict[str, Any] = {
        "code": given["code"],
        "name": given["name"],
        "kind": given["kind"],
        "points": points,
        "tier_prices": tier_prices,
        "stock": stock,
        "per_member_limit": limit,
        "offer_code": given["offer_code"] or None,
        "tiers": tuple(given["tiers"]) or None,  # none ticked: every member
    }
    try:
        made = catalog.define_reward(page.ctx, RewardTerms(**terms), actor=page.staff.to_actor())
    except DomainError as exc:
        shown = exc.localized_errors(page.locale) or [
            {"field": "form", "message": exc.localized(page.locale)}
        ]
        return _render(page, given=given, errors=shown, status=422)
    return page.redirect(PATH, flash=_("Reward {code} added to the catalogue.", code=made.code))
