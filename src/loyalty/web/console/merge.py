"""Merging a duplicate from the member's 360° page: find it, see both side by side, confirm.

The duplicate is found by what the member carries (member code, card number or phone), typed into
a form that is POSTed: like every search, never in a URL. The two records are then shown side by
side with a choice of which one stays (the page's member by default), and the merge runs through
the same service as `POST /api/v1/members/merge` (`members.merge_members`, audited as
`member.merge`), under the same permission (`members:manage`) and store rule (a store manager
merges members registered at their own stores). The duplicate's self-service tokens are revoked,
as the API does. Every refusal (the same member, one merged or erased already, a survivor that is
not active, another store's member) is shown beside the field it is about.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from loyalty.api.errors import ApiError
from loyalty.api.ratelimit import Lookups
from loyalty.domain.errors import DomainError, InvalidInput
from loyalty.i18n import translator
from loyalty.services import auth as auth_service
from loyalty.services import members as members_service
from loyalty.web.console import views
from loyalty.web.console.members import exact_member, limited, member_path, render_member
from loyalty.web.pages import ConsoleRoute, Page, StaffForm, StaffPage

_ = translator("web")

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


def _may_merge(page: Page, member_id: int) -> None:
    """Only for `members:manage`, and only a member of the user's stores (403 otherwise)."""
    page.require("members:manage")
    page.require_store(members_service.get_member(page.ctx, member_id).registration_store_id)


def _refused(page: Page, member_id: int, query: str, message: str, status: int) -> Response:
    """The member's page again with the search kept and the reason beside its field."""
    return render_member(
        page, member_id, errors={"merge.q": message}, given={"merge_q": query}, status=status
    )


@router.post("/members/{member_id}/merge/find")
async def find_duplicate(member_id: int, page: StaffPage, form: StaffForm) -> Response:
    """Find the duplicate the user typed and show the two members side by side."""
    query = str(form.get("q") or "").strip()[:100]
    return await run_in_threadpool(_find, page, member_id, query)


def _find(page: Page, member_id: int, query: str) -> Response:
    _may_merge(page, member_id)
    if not query:
        return _refused(
            page, member_id, query, _("Type the duplicate's member code, card number or phone."), 422
        )
    try:
        Lookups.of(page.request, page.staff).count()
    except ApiError as exc:
        return _refused(page, member_id, query, limited(exc), 429)
    try:
        other = exact_member(page, query)
    except InvalidInput as exc:
        return _refused(page, member_id, query, exc.localized(page.locale), 422)
    if other is None:
        return _refused(page, member_id, query, _("No member found for what you typed."), 404)
    if not page.staff.covers_store(other.registration_store_id):
        return _refused(
            page, member_id, query, _("You may merge only members registered at your stores."), 422
        )
    keep = member_id
    try:
        members_service.check_merge(page.ctx, duplicate_id=other.id, survivor_id=member_id)
    except DomainError as exc:
        if exc.code != "MEMBER_INACTIVE":
            return _refused(page, member_id, query, exc.localized(page.locale), 422)
        try:  # this member is not active: the other one may stay instead
            members_service.check_merge(page.ctx, duplicate_id=member_id, survivor_id=other.id)
        except DomainError:
            return _refused(page, member_id, query, exc.localized(page.locale), 422)
        keep = other.id
    return _compare(page, member_id, other.id, keep)


def _compare(
    page: Page, member_id: int, other_id: int, keep: int, *, error: str | None = None, status: int = 200
) -> Response:
    """The two members side by side, with the choice of the one that stays."""
    values: dict[str, Any] = {
        "here": views.member_view(page, member_id, full=False),
        "other": views.member_view(page, other_id, full=False),
        "keep": keep,
        "error": error,
    }
    return page.html("console/merge.html", values, status=status)


@router.post("/members/{member_id}/merge")
def merge(member_id: int, page: StaffPage, form: StaffForm) -> Response:
    """Merge the duplicate into the member chosen to stay, then open the survivor's page."""
    _may_merge(page, member_id)
    try:
        other_id = int(str(form.get("other") or ""))
        keep = int(str(form.get("survivor") or member_id))
    except ValueError:
        return _refused(page, member_id, "", _("Find the duplicate first."), 422)
    if keep not in (member_id, other_id):
        return _compare(
            page, member_id, other_id, member_id, error=_("Choose which member stays."), status=422
        )
    duplicate_id = other_id if keep == member_id else member_id
    try:
        _may_merge(page, other_id)
        duplicate = members_service.get_member(page.ctx, duplicate_id)
        members_service.merge_members(
            page.ctx, duplicate_id=duplicate_id, survivor_id=keep, actor=page.staff.to_actor()
        )
    except DomainError as exc:
        message = exc.localized(page.locale)
        if exc.code in ("MERGE_SAME_MEMBER", "MEMBER_NOT_FOUND"):  # no second member to show
            return _refused(page, member_id, "", message, 422)
        return _compare(page, member_id, other_id, keep, error=message, status=422)
    auth_service.revoke_member_tokens(page.ctx, duplicate_id, actor=page.staff.to_actor())
    return page.redirect(
        member_path(keep),
        flash=_("Member {card_no} was merged into this member.", card_no=duplicate.card_no),
    )
