"""The marketer's offers and coupons (`/console/programme/offers`): every offer in words with its
status, uses, discount given and budget left; for marketers, an offer defined as YAML (checked whole,
every bad field named), shared codes issued (shown once, to print or send), and an offer ended with
a confirmation.

Reading needs `programme:read`, changing `programme:write`, through `services.offers` as the API's
`/api/v1/offers` does, audited as the user's.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.datastructures import FormData
from starlette.responses import Response

from loyalty.domain.errors import DomainError
from loyalty.i18n import translator
from loyalty.services.earning_rules import yaml_io
from loyalty.services.offers import manage
from loyalty.services.offers.book import OfferLimits, define_offer
from loyalty.services.offers.coupons import issue_coupons
from loyalty.web.offer_words import offer_words
from loyalty.web.pages import ConsoleRoute, Page, StaffForm, StaffPage

_ = translator("web")

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

PATH = "/console/programme/offers"
MAX_YAML = 20_000
#: the most shared codes one issue from the console makes (the API and CLI take more)
MAX_CODES = 1_000
EXAMPLE = "code: spring-100-20\nname: 春季满100减20\nkind: ladder\nsteps:\n  - {over: 100, off: 20}\n"


def _render(
    page: Page,
    *,
    text: str = EXAMPLE,
    errors: list[dict[str, str]] | None = None,
    issued: tuple[str, list[str]] | None = None,
    status: int = 200,
) -> Response:
    currency = page.ctx.settings.currency
    offers = [(o, offer_words(o.offer.spec, currency)) for o in manage.list_offers(page.ctx)]
    return page.html(
        "console/programme_offers.html",
        {
            "offers": offers,
            "currency": currency,
            "zone": page.ctx.settings.timezone,
            "editable": page.can("programme:write"),
            "text": text,
            "errors": errors or [],
            "issued": issued,
        },
        status=status,
    )


@router.get("/programme/offers")
def offers_page(page: StaffPage) -> Response:
    """The offers; for marketers, the forms to define one, issue codes and end one."""
    page.require("programme:read")
    return _render(page)


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _whole(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() and len(text) <= 9 else None


@router.post("/programme/offers")
def define(page: StaffPage, form: StaffForm) -> Response:
    """Define an offer typed as YAML, with its limits (audited; refused beside the form)."""
    page.require("programme:write")
    text = _text(form, "yaml")

    def refused(errors: list[dict[str, str]]) -> Response:
        return _render(page, text=text, errors=errors, status=422)

    if not text.strip() or len(text) > MAX_YAML:
        return refused(
            [{"field": "yaml", "message": _("Type the offer as YAML (at most {n} characters).", n=MAX_YAML)}]
        )
    try:
        raw: Any = yaml_io.load(text)  # YAML 1.2's booleans: a ladder step's `off` stays a key
    except DomainError as exc:
        return refused(
            exc.localized_errors(page.locale) or [{"field": "yaml", "message": exc.localized(page.locale)}]
        )
    if not isinstance(raw, dict):
        return refused(
            [{"field": "yaml", "message": _("An offer is a mapping of fields (code, name, kind, …).")}]
        )
    limits: dict[str, int | None] = {}
    shape: list[dict[str, str]] = []
    for name in ("per_member", "max_uses", "activation_days", "validity_days"):
        given = _text(form, name).strip()
        limits[name] = _whole(given) if given else None
        if given and limits[name] is None:
            shape.append({"field": name, "message": _("Enter a whole number.")})
    if shape:
        return refused(shape)
    try:
        made = define_offer(
            page.ctx,
            raw,
            limits=OfferLimits(
                per_member=limits["per_member"],
                max_uses=limits["max_uses"],
                activation_days=limits["activation_days"] or 0,
                validity_days=limits["validity_days"],
            ),
            actor=page.staff.to_actor(),
        )
    except DomainError as exc:
        return refused(
            exc.localized_errors(page.locale) or [{"field": "yaml", "message": exc.localized(page.locale)}]
        )
    return page.redirect(PATH, flash=_("Offer {code} defined.", code=made.code))


@router.post("/programme/offers/{code}/issue")
def issue(code: str, page: StaffPage, form: StaffForm) -> Response:
    """Issue shared codes of offer `code` (shown once on the page that answers)."""
    page.require("programme:write")
    count, uses = _whole(_text(form, "count")), _whole(_text(form, "max_uses") or "1")
    if count is None or not 1 <= count <= MAX_CODES or uses is None or uses < 1:
        message = _("Give 1 to {n} codes, each usable at least once.", n=MAX_CODES)
        return _render(page, errors=[{"field": "count", "message": message}], status=422)
    try:
        made = issue_coupons(page.ctx, code, count=count, max_uses=uses, actor=page.staff.to_actor())
    except DomainError as exc:
        return _render(page, errors=[{"field": "count", "message": exc.localized(page.locale)}], status=422)
    return _render(page, issued=(code, list(made.codes)))


@router.post("/programme/offers/{code}/end")
def end(code: str, page: StaffPage, form: StaffForm) -> Response:
    """End offer `code` now (ticked to confirm; audited): its coupons cannot be used from now on."""
    page.require("programme:write")
    if _text(form, "confirm") != "yes":
        return _render(
            page, errors=[{"field": "confirm", "message": _("Tick the box to end the offer.")}], status=422
        )
    try:
        manage.end_offer(page.ctx, code, actor=page.staff.to_actor())
    except DomainError as exc:
        return _render(page, errors=[{"field": "confirm", "message": exc.localized(page.locale)}], status=422)
    return page.redirect(PATH, flash=_("Offer {code} ended.", code=code))
