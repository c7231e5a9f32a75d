"""A small chain to rate: two stores, two members, sales by named cashiers at the clock's time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from itertools import count

from loyalty.bootstrap import Context
from loyalty.services import members, merchants, purchases, seed
from loyalty.services.schemas import MemberIn, PurchaseIn, PurchaseLineIn, StoreIn

_orders = count(1)


@dataclass
class Shop:
    ctx: Context
    store_a: int
    store_b: int
    alice: int
    bob: int


def shop(ctx: Context) -> Shop:
    ids = seed.ensure_programme(ctx)
    store_b = merchants.create_store(
        ctx, StoreIn(merchant_id=ids.merchant_id, code="FB-B", name="Store B", timezone="Asia/Shanghai")
    ).id
    alice = members.register_member(ctx, MemberIn(phone="+8613900001001", name="Alice")).id
    bob = members.register_member(ctx, MemberIn(phone="+8613900001002", name="Bob")).id
    return Shop(ctx, ids.store_id, store_b, alice, bob)


def sell(
    ctx: Context,
    store_id: int,
    member_id: int | None,
    *,
    staff: str | None = "C1",
    at: datetime | None = None,
    yuan: int = 100,
    quantity: int = 1,
) -> int:
    """A sale of one line at the clock's time (or `at`); its purchase id."""
    return purchases.post_purchase(
        ctx,
        PurchaseIn(
            store_id=store_id,
            order_id=f"FB-{next(_orders)}",
            occurred_at=at or ctx.now(),
            member_id=member_id,
            staff=staff,
            lines=[PurchaseLineIn(sku="tea", quantity=quantity, unit_price_minor=yuan * 100)],
        ),
    ).purchase_id
