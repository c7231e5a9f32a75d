"""The member's ratings of their purchases in the portal: the history page shows, beside each recent
purchase, its rating once given or a small form (1 to 5 and a comment) while it may be rated; the form
posts here (`services.feedback.rate_purchase`, audited as the member's own rating).

The purchase is named in the path but read as the signed-in member's: another member's purchase
answers as a missing one, so nothing is learnt by trying ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from loyalty.api.schemas import PathId
from loyalty.domain import feedback as rules
from loyalty.domain.actors import Actor
from loyalty.domain.errors import DomainError
from loyalty.i18n import translator
from loyalty.services import feedback
from loyalty.web.portal.access import MemberForm, MemberPage, PortalRoute

_ = translator("web")

router = APIRouter(route_class=PortalRoute, include_in_schema=False)

HISTORY_PATH = "/m/history"
#: what the form's radio buttons send
_STARS = {str(n) for n in range(rules.MIN_RATING, rules.MAX_RATING + 1)}


@dataclass(frozen=True)
class RatingState:
    """What the history shows for one purchase: its rating, or whether the form is offered."""

    rating: feedback.Feedback | None
    rateable: bool


def rating_states(ctx: Any, member_id: int, receipts: Sequence[Any], now: datetime) -> dict[int, RatingState]:
    """Each receipt's rating state, by purchase id: rated, rateable (within the window and not fully
    returned), or neither."""
    given = feedback.member_ratings(ctx, member_id, [r.id for r in receipts])
    out = {}
    for r in receipts:
        returned = 0 < r.total_minor <= r.refunded_minor
        open_ = not returned and rules.window_open(r.occurred_at, now)
        out[r.id] = RatingState(given.get(r.id), r.id not in given and open_)
    return out


@router.post("/purchases/{purchase_id}/rating")
async def rate(purchase_id: PathId, page: MemberPage, form: MemberForm) -> Response:
    """Rate one of the member's purchases (1 to 5, an optional comment), once."""
    assert page.member_id is not None  # member_page sets it or sends to the sign-in page
    member_id = page.member_id
    raw = str(form.get("rating") or "")
    comment = str(form.get("comment") or "")

    def place() -> tuple[str, str]:
        if raw not in _STARS:
            return _("Choose from 1 to 5 stars."), "error"
        try:
            feedback.rate_purchase(
                page.ctx,
                member_id,
                purchase_id,
                int(raw),
                comment,
                actor=Actor(kind="member", id=str(member_id), role="member"),
            )
        except DomainError as exc:
            return exc.localized(page.locale), "error"
        return _("Thank you for your rating."), "ok"

    message, kind = await run_in_threadpool(place)
    return page.redirect(HISTORY_PATH, flash=message, kind=kind)
