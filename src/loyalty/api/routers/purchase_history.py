"""A member's purchase history for the staff who serve them (the member's own is under /me).

Store staff (store managers, cashiers, POS keys) see the member's receipts from their own stores only,
as `GET /purchases/{id}` lets them read only those; chain-wide roles that read purchases see them all.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from loyalty.api.deps import CtxDep, in_query, requires
from loyalty.api.schemas import Money, Page, PathId, aware, money
from loyalty.api.security import Principal
from loyalty.domain.channels import Channel
from loyalty.domain.errors import InvalidInput
from loyalty.services import purchase_history

router = APIRouter(tags=["purchases"])

Reader = Annotated[Principal, Depends(requires("purchases:read"))]

Cursor = Annotated[str | None, Query(max_length=200, description="`next_cursor` of the previous page.")]
Limit = Annotated[int, Query(ge=1, le=200)]
Lines = Annotated[bool, Query(description="Include each receipt's lines.")]


class StoreRef(BaseModel):
    """Where a sale was made."""

    id: int
    code: str
    name: str
    timezone: str


class ReceiptLineOut(BaseModel):
    """One line of a receipt, and how much of it came back."""

    line_no: int
    sku: str
    category: str | None
    quantity: int
    unit_price: Money
    discount: Money
    amount: Money
    points: int
    returned_quantity: int
    brand: str | None = None


class ReceiptReturnOut(BaseModel):
    """A return made against the receipt."""

    id: int
    return_id: str
    store_id: int
    occurred_at: datetime
    refund: Money
    points_reversed: int
    debt_created: int = Field(description="Points the member owed because they were already spent.")


class ReceiptOut(BaseModel):
    """One receipt in a member's history."""

    id: int
    order_id: str
    store: StoreRef
    channel: Channel = Field(description="Where the sale was made.")
    occurred_at: datetime = Field(description="When the sale was made (UTC).")
    business_date: date = Field(description="The day of the sale in its store's time zone.")
    total: Money
    refunded: Money
    points_earned: int
    points_reversed: int
    claimed_at: datetime | None = Field(description="When the member claimed this anonymous sale.")
    tier_code: str = Field(description="The member's tier as the sale (or its claim) left it.")
    upgraded_to: str | None = Field(description="The tier the sale upgraded the member to, if it did.")
    returns: list[ReceiptReturnOut]
    lines: list[ReceiptLineOut] | None = Field(description="Present when asked for (`lines=true`).")


def receipt_view(r: Any) -> ReceiptOut:
    cur = r.currency
    return ReceiptOut(
        id=r.id,
        order_id=r.order_id,
        store=StoreRef(id=r.store_id, code=r.store_code, name=r.store_name, timezone=r.store_timezone),
        channel=r.channel,
        occurred_at=aware(r.occurred_at),
        business_date=r.business_date,
        total=money(r.total_minor, cur),
        refunded=money(r.refunded_minor, cur),
        points_earned=r.points_earned,
        points_reversed=r.points_reversed,
        claimed_at=aware(r.claimed_at) if r.claimed_at is not None else None,
        tier_code=r.tier_code,
        upgraded_to=r.upgraded_to,
        returns=[
            ReceiptReturnOut(
                id=x.id,
                return_id=x.return_id,
                store_id=x.store_id,
                occurred_at=aware(x.occurred_at),
                refund=money(x.refund_minor, cur),
                points_reversed=x.points_reversed,
                debt_created=x.debt_created,
            )
            for x in r.returns
        ],
        lines=[
            ReceiptLineOut(
                line_no=ln.line_no,
                sku=ln.sku,
                category=ln.category,
                quantity=ln.quantity,
                unit_price=money(ln.unit_price_minor, cur),
                discount=money(ln.discount_minor, cur),
                amount=money(ln.amount_minor, cur),
                points=ln.points,
                returned_quantity=ln.returned_quantity,
                brand=ln.brand,
            )
            for ln in r.lines
        ]
        if r.lines is not None
        else None,
    )


def receipts_page(
    ctx: Any,
    member_id: int,
    *,
    store_ids: frozenset[int] | None,
    cursor: str | None,
    limit: int,
    lines: bool,
) -> Page[ReceiptOut]:
    """A page of the member's receipts, newest first (the caller's stores only, when given)."""
    try:
        page = purchase_history.member_purchases(
            ctx,
            member_id,
            store_ids=sorted(store_ids) if store_ids is not None else None,
            cursor=cursor,
            limit=limit,
            lines=lines,
        )
    except InvalidInput as exc:
        raise in_query(exc) from exc
    return Page[ReceiptOut](items=[receipt_view(r) for r in page.items], next_cursor=page.next_cursor)


@router.get("/members/{member_id}/purchases", response_model=Page[ReceiptOut])
def member_purchases(
    member_id: PathId,
    caller: Reader,
    ctx: CtxDep,
    cursor: Cursor = None,
    limit: Limit = 50,
    lines: Lines = False,
) -> Page[ReceiptOut]:
    """A member's receipts, newest first, with returns (and lines on request); store staff see their
    stores' receipts only."""
    return receipts_page(ctx, member_id, store_ids=caller.store_ids, cursor=cursor, limit=limit, lines=lines)
