"""Bad input gets a specific error code and changes nothing in the database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
from sqlalchemy import func, select

from loyalty.bootstrap import Context
from loyalty.db.core_tables import CORE_TABLES, accounts
from loyalty.domain.errors import DomainError
from loyalty.services import members, merchants, points, purchases, seed
from loyalty.services.schemas import (
    MemberIn,
    MemberUpdate,
    MerchantIn,
    PurchaseIn,
    PurchaseLineIn,
    ReturnIn,
    ReturnLineIn,
)


def _snapshot(ctx: Context) -> dict[str, object]:
    with ctx.engine.connect() as conn:
        snap: dict[str, object] = {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in CORE_TABLES
        }
        snap["balances"] = conn.execute(
            select(accounts.c.id, accounts.c.balance, accounts.c.debt).order_by(accounts.c.id)
        ).all()
    return snap


@pytest.fixture
def world(ctx: Context) -> dict[str, int]:
    ids = seed.ensure_programme(ctx)
    m = members.register_member(ctx, MemberIn(phone="13800138030", name="好"))
    purchases.post_purchase(
        ctx,
        PurchaseIn(
            store_id=ids.store_id,
            order_id="o1",
            occurred_at=ctx.now(),
            member_id=m.id,
            lines=[PurchaseLineIn(sku="a", quantity=2, unit_price_minor=10_000)],
        ),
    )
    return {"store": ids.store_id, "member": m.id}


def _line(q: int = 1) -> list[PurchaseLineIn]:
    return [PurchaseLineIn(sku="a", quantity=q, unit_price_minor=1000)]


CASES: dict[str, tuple[str, Callable[[Context, dict[str, int]], object]]] = {
    "unknown member": (
        "MEMBER_NOT_FOUND",
        lambda c, w: purchases.post_purchase(
            c,
            PurchaseIn(
                store_id=w["store"], order_id="x1", occurred_at=c.now(), member_id=999_999, lines=_line()
            ),
        ),
    ),
    "unknown phone": (
        "MEMBER_NOT_FOUND",
        lambda c, w: purchases.post_purchase(
            c,
            PurchaseIn(
                store_id=w["store"], order_id="x2", occurred_at=c.now(), phone="13911112222", lines=_line()
            ),
        ),
    ),
    "unknown store": (
        "STORE_NOT_FOUND",
        lambda c, w: purchases.post_purchase(
            c,
            PurchaseIn(
                store_id=999, order_id="x3", occurred_at=c.now(), member_id=w["member"], lines=_line()
            ),
        ),
    ),
    "negative quantity": (
        "QUANTITY_INVALID",
        lambda c, w: purchases.post_purchase(
            c,
            PurchaseIn(
                store_id=w["store"],
                order_id="x4",
                occurred_at=c.now(),
                member_id=w["member"],
                lines=_line(-1),
            ),
        ),
    ),
    "return larger than sale": (
        "RETURN_EXCEEDS_SALE",
        lambda c, w: purchases.post_return(
            c,
            ReturnIn(
                store_id=w["store"],
                return_id="r1",
                order_id="o1",
                occurred_at=c.now(),
                lines=[ReturnLineIn(line_no=1, quantity=3)],
            ),
        ),
    ),
    "refund larger than sale": (
        "RETURN_EXCEEDS_SALE",
        lambda c, w: purchases.post_return(
            c,
            ReturnIn(
                store_id=w["store"], return_id="r2", order_id="o1", occurred_at=c.now(), refund_minor=20_001
            ),
        ),
    ),
    "unknown order": (
        "ORDER_NOT_FOUND",
        lambda c, w: purchases.post_return(
            c,
            ReturnIn(
                store_id=w["store"], return_id="r3", order_id="nope", occurred_at=c.now(), refund_minor=1
            ),
        ),
    ),
    "malformed phone": (
        "PHONE_INVALID",
        lambda c, w: members.register_member(c, MemberIn(phone="12-34", name="x")),
    ),
    "duplicate phone": (
        "DUPLICATE_PHONE",
        lambda c, w: members.register_member(c, MemberIn(phone="+86 138 0013 8030", name="x")),
    ),
    "overspend": ("POINTS_INSUFFICIENT", lambda c, w: points.redeem(c, w["member"], 10, store_id=w["store"])),
    "zero adjustment": (
        "POINTS_INVALID",
        lambda c, w: points.adjust(c, w["member"], 0, reason="r", operator="o"),
    ),
    "birthday tomorrow": (
        "BIRTHDAY_OUT_OF_RANGE",
        lambda c, w: members.register_member(
            c,
            MemberIn(phone="13800138031", name="x", birthday=date(2026, 1, 6)),  # the clock: 2026-01-05
        ),
    ),
    "birthday in year 1": (
        "BIRTHDAY_OUT_OF_RANGE",
        lambda c, w: members.update_member(c, w["member"], MemberUpdate(birthday=date(1, 1, 1))),
    ),
    "sale too large to store": (
        "PURCHASE_INVALID",
        lambda c, w: purchases.post_purchase(
            c,
            PurchaseIn(
                store_id=w["store"],
                order_id="x5",
                occurred_at=c.now(),
                member_id=w["member"],
                lines=[PurchaseLineIn(sku="a", quantity=10_000, unit_price_minor=10**14)],
            ),
        ),
    ),
    "merchant in another currency": (
        "CURRENCY_MISMATCH",
        lambda c, w: merchants.create_merchant(c, MerchantIn(code="USD1", name="x", currency="USD")),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_rejected_and_changes_nothing(ctx: Context, world: dict[str, int], case: str) -> None:
    code, call = CASES[case]
    before = _snapshot(ctx)
    with pytest.raises(DomainError) as err:
        call(ctx, world)
    assert err.value.code == code
    assert _snapshot(ctx) == before
