"""Members' feedback on their purchases: a member rates one of their purchases (1 to 5, an optional
comment), staff list their stores' ratings (low ones to follow up) and mark one handled.

The member's route takes the member from the token, as every /me route: another member's purchase,
an anonymous one and a missing one all answer 404 PURCHASE_NOT_FOUND. A purchase is rated once (a
second rating is 409 FEEDBACK_EXISTS naming it), not once fully returned (409 PURCHASE_RETURNED) and
within 30 days of the sale (409 FEEDBACK_WINDOW_CLOSED). Staff read with `feedback:read` (the KPI
readers; store managers their own stores) and handle with `feedback:handle` (admins, store managers);
another store's rating is 404 FEEDBACK_NOT_FOUND to a store manager. Both writes are audited.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from loyalty.api.deps import CtxDep, MemberPrincipal, in_query, requires
from loyalty.api.schemas import DbId, Page, PathId, aware
from loyalty.api.security import Principal
from loyalty.domain.errors import InvalidInput
from loyalty.domain.feedback import LOW_RATING, MAX_COMMENT, MAX_NOTE, MAX_RATING, MIN_RATING
from loyalty.services import feedback

router = APIRouter(tags=["feedback"])

Reader = Annotated[Principal, Depends(requires("feedback:read"))]
Handler = Annotated[Principal, Depends(requires("feedback:handle"))]


class RatingIn(BaseModel):
    """A member's rating of one of their purchases."""

    model_config = ConfigDict(extra="forbid")

    rating: int = Field(ge=MIN_RATING, le=MAX_RATING, description="1 (very unhappy) to 5 (very happy).")
    comment: str | None = Field(default=None, max_length=MAX_COMMENT, examples=["店员很耐心"])


class HandleIn(BaseModel):
    """The follow-up of a rating, done."""

    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(
        default=None,
        max_length=MAX_NOTE,
        description="What was done (a call, a voucher).",
        examples=["已致电"],
    )


class FeedbackOut(BaseModel):
    """A rating, the sale it is about and its follow-up."""

    id: int
    purchase_id: int
    member_id: int
    store_id: int
    store_code: str
    order_id: str
    sold_at: datetime
    staff: str | None = Field(description="Who rang the sale (its staff code), when named.")
    rating: int
    comment: str | None
    low: bool = Field(description=f"A rating of {LOW_RATING} or less: one the store follows up.")
    created_at: datetime
    handled_at: datetime | None
    handled_by: str | None = Field(description='Who handled it ("staff:12").')
    handled_note: str | None


def feedback_view(f: feedback.Feedback) -> FeedbackOut:
    return FeedbackOut(
        id=f.id,
        purchase_id=f.purchase_id,
        member_id=f.member_id,
        store_id=f.store_id,
        store_code=f.store_code,
        order_id=f.order_id,
        sold_at=aware(f.sold_at),
        staff=f.staff,
        rating=f.rating,
        comment=f.comment,
        low=f.low,
        created_at=aware(f.created_at),
        handled_at=aware(f.handled_at) if f.handled_at is not None else None,
        handled_by=f.handled_by,
        handled_note=f.handled_note,
    )


@router.post("/me/purchases/{purchase_id}/feedback", response_model=FeedbackOut, status_code=201, tags=["me"])
def rate_my_purchase(purchase_id: PathId, body: RatingIn, me: MemberPrincipal, ctx: CtxDep) -> FeedbackOut:
    """Rate one of my purchases, 1 to 5 with an optional comment, once, within 30 days of the sale."""
    assert me.member_id is not None  # guaranteed by `member_only`
    made = feedback.rate_purchase(
        ctx, me.member_id, purchase_id, body.rating, body.comment, actor=me.to_actor()
    )
    return feedback_view(made)


@router.get("/feedback", response_model=Page[FeedbackOut])
def list_feedback(
    caller: Reader,
    ctx: CtxDep,
    store: Annotated[
        DbId | None, Query(description="Only this store (store managers: one of their own).")
    ] = None,
    low: Annotated[bool, Query(description=f"Only ratings of {LOW_RATING} or less.")] = False,
    handled: Annotated[bool | None, Query(description="Only handled (true) or open (false) ones.")] = None,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=feedback.MAX_LIMIT)] = feedback.DEFAULT_LIMIT,
) -> Page[FeedbackOut]:
    """Members' ratings of the caller's stores' purchases, newest first (store managers: their own)."""
    if store is not None:
        caller.require_store(store)
    try:
        page = feedback.list_feedback(
            ctx,
            store_ids=caller.store_ids,
            store_id=store,
            low=low,
            handled=handled,
            cursor=cursor,
            limit=limit,
        )
    except InvalidInput as exc:
        raise in_query(exc) from exc
    return Page[FeedbackOut](items=[feedback_view(f) for f in page.items], next_cursor=page.next_cursor)


@router.post("/feedback/{feedback_id}/handle", response_model=FeedbackOut)
def handle_feedback(feedback_id: PathId, body: HandleIn, caller: Handler, ctx: CtxDep) -> FeedbackOut:
    """Mark a rating handled once its follow-up is done, with a note (once: 409 after)."""
    done = feedback.handle_feedback(
        ctx, feedback_id, caller.to_actor(), note=body.note, store_ids=caller.store_ids
    )
    return feedback_view(done)
