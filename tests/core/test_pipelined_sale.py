"""A sale's statements travel together on PostgreSQL (`db.prepared.pipelined`) without changing what it does.

The member's lock and window spend share a round trip, the purchase id is reserved with the lock, and
the writes go out together. What must still hold: the spend is read after the lock is granted (so a
sale that waited for another sees it), a refused sale reserves no id, and an error of a statement sent
without waiting is raised as SQLAlchemy's error, rolling the sale back whole.
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import IntegrityError

from loyalty.bootstrap import Context, FrozenClock
from loyalty.config import Settings
from loyalty.db.core_tables import purchase_lines, purchases
from loyalty.db.engine import make_engine
from loyalty.db.prepared import Prepared, pipelined
from loyalty.domain.errors import Conflict
from loyalty.services import members, seed
from loyalty.services import purchases as purchase_service
from loyalty.services.schemas import MemberIn
from loyalty.services.seed import ProgrammeIds

from .conftest import T0
from .sales import food_sale


def test_a_refused_sale_reserves_no_purchase_id(ctx: Context, programme: ProgrammeIds) -> None:
    active = members.register_member(ctx, MemberIn(phone="13800138101", name="在")).id
    gone = members.register_member(ctx, MemberIn(phone="13800138102", name="离")).id
    members.deactivate_member(ctx, gone)
    first = purchase_service.post_purchase(ctx, food_sale(ctx, programme.store_id, active, "o1", 1000))
    for order in ("o2", "o3"):
        with pytest.raises(Conflict):
            purchase_service.post_purchase(ctx, food_sale(ctx, programme.store_id, gone, order, 1000))
    second = purchase_service.post_purchase(ctx, food_sale(ctx, programme.store_id, active, "o4", 1000))
    assert second.purchase_id == first.purchase_id + 1


@pytest.mark.postgres
def test_the_window_spend_is_read_after_the_lock(pg_url: str) -> None:
    """A sale that waited for the member's lock counts the spend committed meanwhile: it upgrades."""
    engine = make_engine(pg_url)
    ctx = Context(engine=engine, settings=Settings(), clock=FrozenClock(T0))
    try:
        ids = seed.ensure_programme(ctx)
        m = members.register_member(ctx, MemberIn(phone="13800138103", name="等")).id
        results: list[object] = []
        with engine.connect() as holder:
            # Another sale of the same member holds the account lock and adds 1,500.00 of spend.
            holder.execute(text("SELECT 1 FROM accounts WHERE member_id = :m FOR UPDATE"), {"m": m})
            sale = threading.Thread(
                target=lambda: results.append(
                    purchase_service.post_purchase(ctx, food_sale(ctx, ids.store_id, m, "waiter", 60_000))
                ),
                daemon=True,
            )
            sale.start()
            sale.join(timeout=0.5)
            assert sale.is_alive(), "the sale must wait for the member's lock"
            holder.execute(
                insert(purchases).values(
                    store_id=ids.store_id,
                    member_id=m,
                    order_id="holder",
                    occurred_at=T0,
                    total_minor=150_000,
                    eligible_minor=0,
                    refunded_minor=0,
                    currency="CNY",
                    points_earned=0,
                    points_reversed=0,
                    redeemed_points=0,
                    rule="test",
                    created_at=T0,
                )
            )
            holder.commit()
            sale.join(timeout=30)
        assert not sale.is_alive()
        (result,) = results
        # 1,500.00 + 600.00 reaches silver (2,000.00); without the other sale it would not.
        assert getattr(result, "upgraded_to", None) == "silver", result
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_an_error_sent_without_waiting_rolls_the_block_back(pg_url: str) -> None:
    engine = make_engine(pg_url)
    try:
        bad_line = Prepared(insert(purchase_lines))
        with pytest.raises(IntegrityError), engine.begin() as conn, pipelined(conn):
            bad_line.send(
                conn,
                {
                    "purchase_id": 987_654,  # no such purchase
                    "line_no": 1,
                    "sku": "x",
                    "category": None,
                    "quantity": 1,
                    "unit_price_minor": 1,
                    "discount_minor": 0,
                    "amount_minor": 1,
                    "points": 0,
                    "returned_quantity": 0,
                },
            )
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(purchase_lines)).scalar_one() == 0
    finally:
        engine.dispose()
