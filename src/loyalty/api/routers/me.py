"""Member self-service under /api/v1/me: the caller's own card, points, tier and statement only.

No path here takes a member id: the member comes from the token, so one member can never address
another's data (there is nothing to tamper with).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from loyalty.api.deps import CtxDep, MemberPrincipal
from loyalty.api.qr import card_payload, qr_png, qr_svg
from loyalty.api.routers.members import load_member
from loyalty.api.routers.points import BalanceOut, StatementEntry, balance_view, statement_page
from loyalty.api.routers.purchase_history import Cursor, Limit, Lines, ReceiptOut, receipt_view, receipts_page
from loyalty.api.routers.tiers import MemberTierOut, TierChangeOut, member_tier_view, tier_history_view
from loyalty.api.schemas import DbId, Page, PathId
from loyalty.api.views import MemberSelfOut, TierServiceOut, self_view, tier_services_view
from loyalty.services import points as points_service
from loyalty.services import purchase_history

router = APIRouter(prefix="/me", tags=["me"])


class CardOut(BaseModel):
    """What the member shows at the till: card number, member code, where to fetch the QR code, and
    what their tier gives besides points."""

    member_id: DbId
    card_no: str
    member_code: str
    name: str | None
    tier_id: int | None
    tier_code: str | None = None
    tier_services: list[TierServiceOut] = Field(
        default_factory=list, description="What my tier gives besides points (show the card for them)."
    )
    qr_payload: str
    qr_png_url: str
    qr_svg_url: str


def _member_id(me: MemberPrincipal) -> int:
    assert me.member_id is not None  # guaranteed by `member_only`
    return me.member_id


@router.get("", response_model=MemberSelfOut)
def my_profile(me: MemberPrincipal, ctx: CtxDep) -> MemberSelfOut:
    """My own profile (without the analytics scores staff see)."""
    return self_view(load_member(ctx, _member_id(me)), me)


@router.get("/card", response_model=CardOut)
def my_card(me: MemberPrincipal, ctx: CtxDep) -> CardOut:
    """My membership card: number, member code and QR links for the POS scanner."""
    member = load_member(ctx, _member_id(me))
    return CardOut(
        member_id=member.id,
        card_no=member.card_no,
        member_code=member.member_code,
        name=member.name,
        tier_id=member.tier_id,
        tier_code=member.tier_code,
        tier_services=tier_services_view(member.tier_services),
        qr_payload=card_payload(member.member_code),
        qr_png_url="/api/v1/me/card/qr.png",
        qr_svg_url="/api/v1/me/card/qr.svg",
    )


_PNG: dict[int | str, dict[str, Any]] = {200: {"content": {"image/png": {}}, "description": "QR code"}}
_SVG: dict[int | str, dict[str, Any]] = {200: {"content": {"image/svg+xml": {}}, "description": "QR code"}}


@router.get("/card/qr.png", response_class=Response, responses=_PNG)
def my_card_png(me: MemberPrincipal, ctx: CtxDep, scale: Annotated[int, Query(ge=1, le=20)] = 6) -> Response:
    """My card's QR code as PNG (encodes the member code only, no personal data)."""
    member = load_member(ctx, _member_id(me))
    return Response(qr_png(card_payload(member.member_code), scale), media_type="image/png")


@router.get("/card/qr.svg", response_class=Response, responses=_SVG)
def my_card_svg(me: MemberPrincipal, ctx: CtxDep, scale: Annotated[int, Query(ge=1, le=20)] = 6) -> Response:
    """My card's QR code as SVG."""
    member = load_member(ctx, _member_id(me))
    return Response(qr_svg(card_payload(member.member_code), scale), media_type="image/svg+xml")


@router.get("/points", response_model=BalanceOut)
def my_points(me: MemberPrincipal, ctx: CtxDep) -> BalanceOut:
    """My points: spendable, pending, and on which dates points expire."""
    member_id = _member_id(me)
    return balance_view(points_service.balance(ctx, member_id))


@router.get("/points/statement", response_model=Page[StatementEntry])
def my_statement(
    me: MemberPrincipal,
    ctx: CtxDep,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[StatementEntry]:
    """My points movements, newest first."""
    return statement_page(ctx, _member_id(me), cursor, limit)


@router.get("/purchases", response_model=Page[ReceiptOut])
def my_purchases(
    me: MemberPrincipal,
    ctx: CtxDep,
    cursor: Cursor = None,
    limit: Limit = 50,
    lines: Lines = False,
) -> Page[ReceiptOut]:
    """My receipts at every store, newest first, with returns (and lines on request)."""
    return receipts_page(ctx, _member_id(me), store_ids=None, cursor=cursor, limit=limit, lines=lines)


@router.get("/purchases/{purchase_id}", response_model=ReceiptOut)
def my_purchase(purchase_id: PathId, me: MemberPrincipal, ctx: CtxDep) -> ReceiptOut:
    """One of my receipts with its lines and returns (404 for anyone else's)."""
    return receipt_view(purchase_history.member_purchase(ctx, _member_id(me), purchase_id))


@router.get("/tier", response_model=MemberTierOut)
def my_tier(me: MemberPrincipal, ctx: CtxDep) -> MemberTierOut:
    """My tier and how much more to spend for the next one."""
    return member_tier_view(ctx, _member_id(me))


@router.get("/tier/history", response_model=list[TierChangeOut])
def my_tier_history(me: MemberPrincipal, ctx: CtxDep) -> list[TierChangeOut]:
    """My tier changes."""
    return tier_history_view(ctx, _member_id(me))
