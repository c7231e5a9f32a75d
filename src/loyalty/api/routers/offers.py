"""Offers and coupons as the marketer keeps them (`/offers`, `/coupons/{code}/void`) and a member's
wallet (`/members/{id}/coupons`, `/me/coupons`).

Who may do what: offers and their coupons are read with `programme:read` and defined, ended, issued
and voided with `programme:write` (marketers, admins), through `services.offers`: a definition checked
whole and refused naming its field (`offer.steps`), every write audited in its transaction. Listing an
offer's coupons shows the codes to those who may issue them; other readers (analysts, auditors) see
them masked, since a shared code is as good as cash. A member's wallet is read by staff who read
members (the till applies its codes) and by the member through /me. Sales use the codes through
`POST /purchases` and the quote (`services.offers.checkout`), not here.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse

from loyalty.api.deps import CtxDep, MemberPrincipal, in_query, requires
from loyalty.api.idempotency import IdempotencyKey, run_idempotent_within
from loyalty.api.offer_views import (
    CouponOut,
    IssuedOut,
    IssueIn,
    OfferIn,
    OfferOut,
    WalletCouponOut,
    coupon_view,
    issued_view,
    offer_view,
    wallet_view,
)
from loyalty.api.routers.members import load_member
from loyalty.api.schemas import Page, PathId, minor_of
from loyalty.api.security import Principal
from loyalty.domain.errors import InvalidInput, NotFound, field_error
from loyalty.services import idempotency
from loyalty.services.offers import book, coupons, manage

router = APIRouter(tags=["offers"])

Reader = Annotated[Principal, Depends(requires("programme:read"))]
Writer = Annotated[Principal, Depends(requires("programme:write"))]
MemberReader = Annotated[Principal, Depends(requires("members:read"))]
OfferCode = Annotated[
    str, Path(min_length=1, max_length=40, description="The offer's code, e.g. spring-100-20.")
]
CouponCode = Annotated[
    str,
    Path(min_length=1, max_length=40, description="The coupon's code as printed (7KQM-2XPD-…) or typed."),
]
Cursor = Annotated[str | None, Query(max_length=40, description="`next_cursor` of the previous page.")]
Limit = Annotated[int, Query(ge=1, le=manage.MAX_PAGE)]


def _in_path(exc: NotFound) -> NotFound:
    """The NotFound of a code in the path, naming the parameter (`path.code`)."""
    return NotFound(
        exc.code,
        exc.template,
        {**(exc.details or {}), "errors": [field_error("path.code", exc.template, exc.details)]},
    )


_PATH_CODES = frozenset({"OFFER_NOT_FOUND", "COUPON_NOT_FOUND"})


@router.get("/offers", response_model=list[OfferOut])
def list_offers(
    caller: Reader,
    ctx: CtxDep,
    current: Annotated[bool, Query(description="Only the offers running now.")] = False,
) -> list[OfferOut]:
    """The programme's offers by code: limits, uses, discount given, budget left, coupons issued."""
    currency = ctx.settings.currency
    return [offer_view(s, currency) for s in manage.list_offers(ctx, current=current)]


@router.post("/offers", response_model=OfferOut, status_code=201)
def define_offer(body: OfferIn, caller: Writer, ctx: CtxDep) -> OfferOut:
    """Define an offer (audited); 422 naming the field when it cannot work, 422 OFFER_EXISTS naming
    `offer.code` when its code is taken."""
    currency = ctx.settings.currency
    budget = minor_of(body.budget, currency, "budget") if body.budget is not None else None
    made = book.define_offer(
        ctx,
        body.offer,
        limits=book.OfferLimits(
            per_member=body.per_member,
            max_uses=body.max_uses,
            budget_minor=budget,
            activation_days=body.activation_days,
            validity_days=body.validity_days,
        ),
        valid_from=body.valid_from,
        valid_to=body.valid_to,
        actor=caller.to_actor(),
        prefix="offer.",
    )
    now = ctx.now()
    return offer_view(manage.OfferState(made, 0, manage.offer_status(made, now)), currency)


@router.get("/offers/{code}", response_model=OfferOut)
def get_offer(code: OfferCode, caller: Reader, ctx: CtxDep) -> OfferOut:
    """One offer with its limits and what it has given."""
    try:
        return offer_view(manage.get_offer(ctx, code), ctx.settings.currency)
    except NotFound as exc:
        raise _in_path(exc) from exc


@router.post("/offers/{code}/end", response_model=OfferOut)
def end_offer(code: OfferCode, caller: Writer, ctx: CtxDep) -> OfferOut:
    """End an offer now (audited): its coupons stop working and leave the wallets, a promotion stops
    applying; sales it discounted keep their discount. 409 OFFER_ENDED when it has ended."""
    try:
        ended = manage.end_offer(ctx, code, actor=caller.to_actor())
    except NotFound as exc:
        if exc.code not in _PATH_CODES:
            raise
        raise _in_path(exc) from exc
    return offer_view(ended, ctx.settings.currency)


@router.post("/offers/{code}/coupons", response_model=IssuedOut, status_code=201)
def issue_coupons(
    code: OfferCode, body: IssueIn, caller: Writer, ctx: CtxDep, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    """Issue codes (audited): one to each member's wallet, or `count` shared codes of `max_uses` uses
    each; answers the codes as printed. 409 OFFER_ENDED for an ended offer, OFFER_AUTOMATIC for a
    promotion (it needs no coupon). With an `Idempotency-Key`, a retry is answered the codes of the
    first call (its answer is stored with the codes, in their transaction: never a second batch); the
    key reused with another offer or body is 422 IDEMPOTENCY_MISMATCH."""
    if (body.member_ids is None) == (body.count is None):
        raise InvalidInput.field(
            "member_ids", "issue to members or a count of shared codes", "COUPON_ISSUE_INVALID"
        )

    def handler(record: idempotency.Record | None) -> tuple[int, IssuedOut]:
        if record is not None:
            record.render = lambda issued: (201, issued_view(issued, body.member_ids).model_dump(mode="json"))
        try:
            issued = coupons.issue_coupons(
                ctx,
                code,
                member_ids=body.member_ids,
                count=body.count,
                max_uses=body.max_uses,
                actor=caller.to_actor(),
                record=record,
            )
        except NotFound as exc:
            if exc.code not in _PATH_CODES:
                raise
            raise _in_path(exc) from exc
        return 201, issued_view(issued, body.member_ids)

    route = "POST /offers/{code}/coupons"
    payload = {"offer": code, **body.model_dump(mode="json")}
    return run_idempotent_within(ctx, caller, idempotency_key, route, payload, handler)


@router.get("/offers/{code}/coupons", response_model=Page[CouponOut])
def offer_coupons(
    code: OfferCode, caller: Reader, ctx: CtxDep, cursor: Cursor = None, limit: Limit = 100
) -> Page[CouponOut]:
    """A page of the offer's coupons, newest first, each with its uses and status; the codes masked
    for callers who may not issue them."""
    try:
        page = manage.offer_coupons(ctx, code, cursor=cursor, limit=limit)
    except NotFound as exc:
        raise _in_path(exc) from exc
    except InvalidInput as exc:
        raise in_query(exc) from exc
    show = caller.can("programme:write")
    return Page[CouponOut](
        items=[coupon_view(c, show_code=show) for c in page.items], next_cursor=page.next_cursor
    )


@router.post("/coupons/{code}/void", response_model=CouponOut)
def void_coupon(code: CouponCode, caller: Writer, ctx: CtxDep) -> CouponOut:
    """Void a coupon (audited): it cannot be used any more. 409 COUPON_VOIDED when void already,
    COUPON_USED_UP when no use is left to stop."""
    try:
        voided = manage.void_coupon(ctx, code, actor=caller.to_actor())
    except NotFound as exc:
        raise _in_path(exc) from exc
    return coupon_view(voided, show_code=True)


@router.get("/members/{member_id}/coupons", response_model=list[WalletCouponOut], tags=["members"])
def member_coupons(member_id: PathId, caller: MemberReader, ctx: CtxDep) -> list[WalletCouponOut]:
    """A member's wallet: the coupons usable now or later, soonest expiry first."""
    load_member(ctx, member_id)
    now = ctx.now()
    return [wallet_view(c, now) for c in coupons.wallet(ctx, member_id, at=now)]


@router.get("/me/coupons", response_model=list[WalletCouponOut], tags=["me"])
def my_coupons(me: MemberPrincipal, ctx: CtxDep) -> list[WalletCouponOut]:
    """My coupons, usable now or later, soonest expiry first: show the code at the till."""
    assert me.member_id is not None  # guaranteed by `member_only`
    now = ctx.now()
    return [wallet_view(c, now) for c in coupons.wallet(ctx, me.member_id, at=now)]
