"""The till's first steps: find a member (phone, card number, typed or scanned member code, or a
name), register one in seconds, and open their card and 360° page.

A search is a POST, never a query string: a phone number must not end up in a URL, a proxy's log or
the browser's history. It counts against the API's `member_lookup` rate limit.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from loyalty.api.errors import ApiError
from loyalty.api.ratelimit import Lookups
from loyalty.domain import cards
from loyalty.domain.errors import DomainError, InvalidInput, NotFound
from loyalty.i18n import translator
from loyalty.services import member_search
from loyalty.services import members as members_service
from loyalty.services.schemas import MemberIn
from loyalty.web.console import churn, forms, recommendations, views
from loyalty.web.offer_words import CouponView, coupon_views
from loyalty.web.pages import ConsoleRoute, Page, StaffForm, StaffPage

_ = translator("web")

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

_MEMBER_CODE = re.compile(r"^LM[A-Z2-9]{20}$", re.IGNORECASE)
_PHONE = re.compile(r"^\+?[0-9 ()-]{5,20}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
NAME_RESULTS = 20


def member_path(member_id: int) -> str:
    return f"/console/members/{member_id}"


@router.get("")
def home(page: StaffPage) -> Response:
    """The till's start page: one field to find a member."""
    page.require("members:read")
    return page.html("console/find.html", {"query": "", "error": None, "results": None})


@router.post("/find")
async def find(page: StaffPage, form: StaffForm) -> Response:
    """Find the member the cashier typed or scanned; one match opens their card."""
    page.require("members:read")
    query = str(form.get("q") or "").strip()[:100]
    if not query:
        return _found(page, query, _("Type a phone number, card number or member code."), None, 422)
    return await run_in_threadpool(_find, page, query)


def limited(exc: ApiError) -> str:
    """The message for a 429 of the API's limiter (anything else is raised on)."""
    if exc.status != 429:
        raise exc
    return _("Too many searches. Try again in {seconds} s.", seconds=exc.headers.get("Retry-After", "60"))


def _find(page: Page, query: str) -> Response:
    try:
        Lookups.of(page.request, page.staff).count()
    except ApiError as exc:
        return _found(page, query, limited(exc), None, 429)
    try:
        member = exact_member(page, query)
    except InvalidInput as exc:
        return _found(page, query, exc.localized(page.locale), None, 422)
    if member is not None and member.status == "merged" and member.merged_into_id is not None:
        # an old card of a duplicate: the till goes on with the member it was merged into
        return page.redirect(
            member_path(member.merged_into_id),
            flash=_("That card was merged into this member's; carry on here."),
        )
    if member is not None:
        return page.redirect(member_path(member.id))
    scope = page.staff.store_ids
    matches = member_search.search_members(
        page.ctx,
        member_search.MemberFilter(q=query, store_ids=sorted(scope) if scope is not None else None),
        limit=NAME_RESULTS,
    ).items
    if len(matches) == 1:
        return page.redirect(member_path(matches[0].id))
    results = [(m, *views.masked(page, m)) for m in matches]
    message = None if results else _("No member found for what you typed.")
    offer = _PHONE.match(query) is not None and page.can("members:write")
    return _found(page, query, message, results, 200 if results else 404, offer_register=offer)


def exact_member(page: Page, query: str) -> Any:
    """The one member `query` names exactly (code, card, phone), or None; InvalidInput for a code
    or card number that cannot be one. The caller counts the look-up against the user's limit."""
    ctx = page.ctx
    attempts: list[dict[str, Any]] = []
    if cards.is_qr_payload(query) or _MEMBER_CODE.match(query):
        attempts.append({"member_code": query})
    else:
        digits = re.sub(cards.CARD_SEPARATORS, "", query)
        if digits.isdigit() and len(digits) == cards.CARD_LENGTH and digits.startswith(cards.CARD_PREFIX):
            attempts.append({"card_no": query})
        elif _PHONE.match(query):
            attempts += [{"phone": query}, {"card_no": query}]
        else:
            attempts.append({"card_no": query})
    for keys in attempts:
        try:
            return members_service.find_member(ctx, **keys)
        except NotFound:
            continue
        except InvalidInput:
            if len(attempts) == 1:
                raise
    return None


def _found(
    page: Page,
    query: str,
    error: str | None,
    results: list[Any] | None,
    status: int,
    *,
    offer_register: bool = False,
) -> Response:
    values: dict[str, Any] = {"query": query, "error": error, "results": results}
    if offer_register:
        values["register"] = _register_values(page, {"phone": query})
    return page.html("console/find.html", values, status=status)


# --- registration --------------------------------------------------------------------------------


def _register_values(
    page: Page, given: dict[str, str], errors: dict[str, str] | None = None
) -> dict[str, Any]:
    return {"given": given, "errors": errors or {}, "stores": views.my_stores(page)}


@router.get("/members/new")
def new_member(page: StaffPage) -> Response:
    """The registration form."""
    page.require("members:write")
    return page.html("console/register.html", _register_values(page, {}))


@router.post("/members")
def register(page: StaffPage, form: StaffForm) -> Response:
    """Register the member at the user's store and open their card."""
    page.require("members:write")
    given = {k: str(form.get(k) or "").strip() for k in ("phone", "name", "email", "birthday", "store_id")}
    given["marketing_consent"] = "on" if form.get("marketing_consent") else ""
    errors: dict[str, str] = {}
    if not _PHONE.match(given["phone"]):
        errors["phone"] = _("Enter a mobile phone number.")
    if not given["name"]:
        errors["name"] = _("Enter the member's name.")
    if given["email"] and not _EMAIL.match(given["email"]):
        errors["email"] = _("Enter an email address such as name@example.com, or leave it empty.")
    birthday = forms.optional_date(given["birthday"], "birthday", errors)
    store_id = forms.store_choice(page, given["store_id"], errors)
    if errors:
        return page.html("console/register.html", _register_values(page, given, errors), status=422)
    page.require_store(store_id)
    data = MemberIn(
        phone=given["phone"],
        name=given["name"][:100],
        email=given["email"] or None,
        birthday=birthday,
        registration_store_id=store_id,
        marketing_consent=bool(given["marketing_consent"]),
    )
    try:
        with Lookups.of(page.request, page.staff).guard():  # a taken phone tells that it exists
            member = members_service.register_member(page.ctx, data, actor=page.staff.to_actor())
    except ApiError as exc:
        errors = {"form": limited(exc)}
        return page.html("console/register.html", _register_values(page, given, errors), status=429)
    except DomainError as exc:
        errors = forms.field_errors(exc, page.locale, {"phone", "name", "email", "birthday"})
        return page.html("console/register.html", _register_values(page, given, errors), status=422)
    return page.redirect(
        member_path(member.id), flash=_("Member registered: card {card_no}.", card_no=member.card_no)
    )


# --- the member's card and 360° page -------------------------------------------------------------


@router.get("/members/{member_id}")
def member_page(member_id: int, page: StaffPage) -> Response:
    """The member's card with the till's actions, then their profile, purchases, points and tiers."""
    page.require("members:read")
    return render_member(page, member_id)


def render_member(
    page: Page,
    member_id: int,
    *,
    errors: dict[str, str] | None = None,
    given: dict[str, str] | None = None,
    form_error: str | None = None,
    status: int = 200,
) -> Response:
    view = views.member_view(page, member_id, full=True)
    values = {
        "view": view,
        "stores": views.my_stores(page) if page.can("purchases:write") else [],
        "errors": errors or {},
        "given": given or {},
        "form_error": form_error,
        "new_order_id": forms.new_reference("S", page.ctx.now()),
        "new_key": forms.new_reference("K", page.ctx.now()),
        "lines": range(forms.SALE_LINES),
        "movement_names": views.MOVEMENT_NAMES,
        "tier_reasons": views.TIER_REASONS,
        "may_merge": (
            page.can("members:manage")
            and not view.closed
            and page.staff.covers_store(view.member.registration_store_id)
        ),
        "cluster": member_cluster_shown(page, member_id),
        "churn": churn.member_churn_shown(page, member_id),
        "recommended": recommendations.member_recommendations_shown(page, member_id),
        "coupons": [] if view.closed else member_coupons(page, member_id),
    }
    return page.html("console/member.html", values, status=status)


def member_coupons(page: Page, member_id: int) -> list[CouponView]:
    """The member's coupons for the card: what the cashier may apply now, and what waits."""
    return coupon_views(page.ctx, member_id)


def member_cluster_shown(page: Page, member_id: int) -> dict[str, Any] | None:
    """The member's cluster for the 360° page (readers of the analytics only; None: not clustered)."""
    if not page.can("analytics:read"):
        return None
    from loyalty.analytics.clusters import describe, name
    from loyalty.services.clusters import member_cluster

    found = member_cluster(page.ctx, member_id)
    profile = found.profile
    if profile is None:
        return None
    return {
        "number": profile.cluster,
        "name": name(profile.traits, page.locale),
        "description": describe(profile.traits, page.locale),
    }
