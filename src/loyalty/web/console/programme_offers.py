"""The marketer's offers and coupons (`/console/programme/offers`): every offer in words with its
status, uses, discount given and budget left; for marketers, an offer defined as YAML (checked whole,
every bad field named), shared codes issued (shown once, to print or send), and an offer ended with
a confirmation. The offer presets (coupon campaign, 满减 ladder, gift with purchase, tier discount)
are picked and filled in here (`?preset=…`: the offer shown as the programme's YAML), and the whole
programme — earning rules and offers — is downloaded (`/console/programme.yaml`) and imported back
(`/console/programme/import`: checked first, or written all or nothing; `services.programme_document`).

Reading needs `programme:read`, changing `programme:write`, through `services.offers` as the API's
`/api/v1/offers` does, audited as the user's.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from fastapi import APIRouter
from starlette.datastructures import FormData
from starlette.responses import Response

from loyalty.domain.errors import DomainError
from loyalty.i18n import marker, translate, translator
from loyalty.services import idempotency, programme_document
from loyalty.services.earning_rules import yaml_io
from loyalty.services.offers import manage, presets
from loyalty.services.offers.book import OfferLimits, define_offer
from loyalty.services.offers.coupons import issue_shared_once
from loyalty.web.offer_words import offer_words
from loyalty.web.pages import ConsoleRoute, Page, StaffForm, StaffPage

_ = translator("web")
N_ = marker("web")

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

PATH = "/console/programme/offers"
MAX_YAML = 20_000
#: the longest programme document the console takes (the API and CLI take the whole body)
MAX_DOCUMENT = 200_000
#: the most shared codes one issue from the console makes (the API and CLI take more)
MAX_CODES = 1_000
#: the issue form's own key (`secrets.token_urlsafe(18)`: 24 characters)
ISSUE_KEY = re.compile(r"[A-Za-z0-9_-]{16,64}")
EXAMPLE = "code: spring-100-20\nname: 春季满100减20\nkind: ladder\nsteps:\n  - {over: 100, off: 20}\n"


def _render(
    page: Page,
    *,
    text: str = EXAMPLE,
    errors: list[dict[str, str]] | None = None,
    issued: tuple[str, list[str]] | None = None,
    document: str | None = None,
    document_errors: list[dict[str, str]] | None = None,
    checked: list[dict[str, str]] | None = None,
    status: int = 200,
) -> Response:
    currency = page.ctx.settings.currency
    offers = [(o, offer_words(o.offer.spec, currency)) for o in manage.list_offers(page.ctx)]
    chosen, preset_errors = _preset(page)
    if document is None and chosen is not None and chosen["entry"] is not None:
        document = programme_document.dump({"offers": [chosen["entry"]]})
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
            "issue_key": secrets.token_urlsafe(18),
            "presets": [
                {
                    "code": p.code,
                    "title": presets.title(p, page.locale),
                    "description": presets.description(p, page.locale),
                }
                for p in presets.PRESETS
            ],
            "preset": chosen,
            "preset_errors": preset_errors,
            "document": document or "",
            "document_errors": document_errors or [],
            "checked": checked,
        },
        status=status,
    )


#: the query's fields a preset reads besides its parameters
PRESET_FIELDS = ("code", "name")


def _preset(page: Page) -> tuple[dict[str, Any] | None, list[dict[str, str]]]:
    """The preset picked in the query (`?preset=ladder&code=…&steps=…`), its parameters as given or
    by default, and its offer entry (None when a parameter cannot be read: then the errors say why)."""
    query = page.request.query_params
    code = query.get("preset")
    if not code:
        return None, []
    try:
        chosen = presets.preset(code)
    except DomainError as exc:
        return None, [{"field": "preset", "message": exc.localized(page.locale)}]
    values = {name: (query.get(name) or "")[:200] for name, _default in chosen.params}
    params = [{"name": n, "value": values[n] or default} for n, default in chosen.params]
    given = {"code": (query.get("code") or "")[:40], "name": (query.get("name") or "")[:200]}
    entry = None
    errors: list[dict[str, str]] = []
    try:
        entry = presets.preset_offer(
            code,
            offer_code=given["code"] or None,
            name=given["name"] or None,
            values={k: v or None for k, v in values.items()},
            locale=page.locale,
        )
    except DomainError as exc:
        errors = exc.localized_errors(page.locale) or [
            {"field": "preset", "message": exc.localized(page.locale)}
        ]
    picked = {
        "code": code,
        "title": presets.title(chosen, page.locale),
        "params": params,
        **given,
        "entry": entry,
    }
    return picked, errors


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
    """Issue shared codes of offer `code` (shown once on the page that answers).

    The form carries a key of its own (`issue_key`, fresh each time the page is drawn), kept with the
    codes in their transaction as an Idempotency-Key is: the same form sent twice (a double click, a
    reload) is answered the codes of the first, never a second batch."""
    page.require("programme:write")
    count, uses = _whole(_text(form, "count")), _whole(_text(form, "max_uses") or "1")
    if count is None or not 1 <= count <= MAX_CODES or uses is None or uses < 1:
        message = _("Give 1 to {n} codes, each usable at least once.", n=MAX_CODES)
        return _render(page, errors=[{"field": "count", "message": message}], status=422)
    key = _text(form, "issue_key")
    if not ISSUE_KEY.fullmatch(key):
        message = _("The form has expired: issue the codes again from this page.")
        return _render(page, errors=[{"field": "count", "message": message}], status=422)
    scope, key = f"console:{page.staff.scope_key}", f"{key}:{code}"  # one page holds every offer's form
    try:
        issued = issue_shared_once(
            page.ctx, code, count=count, max_uses=uses, actor=page.staff.to_actor(), scope=scope, key=key
        )
    except idempotency.KeyReused:  # the page drawn before, sent again with other figures
        message = _("The form has expired: issue the codes again from this page.")
        return _render(page, errors=[{"field": "count", "message": message}], status=422)
    except DomainError as exc:
        return _render(page, errors=[{"field": "count", "message": exc.localized(page.locale)}], status=422)
    return _render(page, issued=(code, issued))


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


@router.get("/programme.yaml")
def programme_yaml(page: StaffPage) -> Response:
    """The whole programme (earning rules and offers) as YAML, to keep in git and import back."""
    page.require("programme:read")
    stamp = page.ctx.now().strftime("%Y%m%d-%H%M")
    return Response(
        programme_document.export_yaml(page.ctx),
        media_type=f"{programme_document.MEDIA_TYPE}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="programme-{stamp}.yaml"'},
    )


#: what an import's dry run says of each rule and offer, in the reader's language
ACTIONS = {
    "new": N_("new"),
    "changed": N_("changed"),
    "unchanged": N_("unchanged"),
    "retired": N_("retired"),
    "ended": N_("ended"),
    "kept": N_("kept (not in the document)"),
}


@router.post("/programme/import")
def import_programme(page: StaffPage, form: StaffForm) -> Response:
    """Check the whole programme typed or pasted as YAML (action=check: what would change) or import
    it (all or nothing, audited); refused beside the box, naming each bad field."""
    page.require("programme:write")
    text = _text(form, "document")
    saving = _text(form, "action") != "check"
    retire = _text(form, "retire_missing") == "yes"

    def refused(errors: list[dict[str, str]]) -> Response:
        return _render(page, document=text, document_errors=errors, status=422)

    if not text.strip() or len(text) > MAX_DOCUMENT:
        return refused(
            [
                {
                    "field": "document",
                    "message": _("Paste the programme as YAML (at most {n} characters).", n=MAX_DOCUMENT),
                }
            ]
        )
    try:
        result = programme_document.import_document(
            page.ctx, text, retire_missing=retire, dry_run=not saving, actor=page.staff.to_actor()
        )
    except DomainError as exc:
        return refused(
            exc.localized_errors(page.locale)
            or [{"field": "document", "message": exc.localized(page.locale)}]
        )
    rows = [
        {"what": _("rule"), "code": c.code, "action": translate("web", ACTIONS[c.action])}
        for c in result.rules or []
    ] + [
        {"what": _("offer"), "code": c.code, "action": translate("web", ACTIONS[c.action])}
        for c in result.offers or []
    ]
    if not saving:
        return _render(page, document=text, checked=rows)
    if result.unchanged:
        return page.redirect(PATH, flash=_("Nothing changed: the programme is as the document says."))
    changed = [
        f"{r['code']} ({r['action']})" for r in rows if r["action"] != translate("web", ACTIONS["unchanged"])
    ]
    return page.redirect(PATH, flash=_("Imported: {changes}.", changes=", ".join(changed)))
