"""A write's audit row is written in the write's own transaction: it exists exactly when the write does,
also where many writes share one transaction (the group commit's savepoints, the set-based batches).
On SQLite and PostgreSQL (issue #22, item 1).
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Connection, text

from loyalty.bootstrap import Context
from loyalty.domain.actors import Actor
from loyalty.services import idempotency, purchases
from loyalty.services.members import register_member
from loyalty.services.posting.group_commit import GroupCommit
from loyalty.services.posting.pos_batch import post_sales
from loyalty.services.schemas import MemberIn
from loyalty.services.seed import ProgrammeIds
from tests.core.sales import food_sale, sale_return

TILL = Actor(kind="api_key", id="7", role="cashier")


def _audited(ctx: Context, action: str) -> list[tuple[str, str, str]]:
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT actor_kind, actor_id, entity_id FROM audit_log WHERE action = :a ORDER BY id"),
            {"a": action},
        )
        return [tuple(r) for r in rows]


def _orders(ctx: Context) -> set[str]:
    with ctx.engine.connect() as conn:
        return set(conn.execute(text("SELECT order_id FROM purchases")).scalars())


def _member(ctx: Context, phone: str) -> int:
    return register_member(ctx, MemberIn(phone=phone, name="A")).id


def _failing_record() -> idempotency.Record:
    """An Idempotency-Key whose answer cannot be rendered: the sale fails after everything was written."""

    def render(_result: Any) -> tuple[int, dict[str, Any]]:
        raise RuntimeError("the answer could not be rendered")

    return idempotency.Record("api_key:7", "k-1", "hash", render=render)


def test_a_sale_that_fails_after_its_writes_leaves_no_audit_row(
    ctx: Context, programme: ProgrammeIds
) -> None:
    mid = _member(ctx, "+8613900000001")
    sale = food_sale(ctx, programme.store_id, mid, "A-1", 10_000)
    with pytest.raises(RuntimeError):
        purchases.post_purchase(ctx, sale, actor=TILL, record=_failing_record())
    assert _orders(ctx) == set()
    assert _audited(ctx, "purchase.post") == []
    posted = purchases.post_purchase(ctx, sale, actor=TILL)
    assert _audited(ctx, "purchase.post") == [("api_key", "7", str(posted.purchase_id))]
    purchases.post_purchase(ctx, sale, actor=TILL)  # a replay: nothing written, nothing audited
    assert len(_audited(ctx, "purchase.post")) == 1
    ret = purchases.post_return(ctx, sale_return(ctx, programme.store_id, "A-1", "R-1", refund_minor=100))
    assert _audited(ctx, "purchase.return") == [("system", "system", str(ret.purchase_id))]


def test_group_commit_writes_the_rows_of_the_sales_that_stand(ctx: Context, programme: ProgrammeIds) -> None:
    """Three sales share a transaction; the second fails after its writes (its savepoint is undone):
    the rows of the first and third are written, the second's is dropped with its sale."""
    mid = _member(ctx, "+8613900000002")
    store = programme.store_id

    def job(order: str, record: idempotency.Record | None = None) -> Any:
        def run(conn: Connection) -> Any:
            return purchases.post_purchase_in(
                conn, ctx, food_sale(ctx, store, mid, order, 5_000), record=record, actor=TILL
            )

        return run

    outcomes = GroupCommit(ctx)._transaction([job("G-1"), job("G-2", _failing_record()), job("G-3")])
    assert [ok for ok, _ in outcomes] == [True, False, True]
    assert _orders(ctx) == {"G-1", "G-3"}
    ids = sorted(str(result.purchase_id) for ok, result in outcomes if ok)
    assert sorted(entity_id for _, _, entity_id in _audited(ctx, "purchase.post")) == ids


def test_set_based_batches_write_one_row_per_sale(ctx: Context, programme: ProgrammeIds) -> None:
    mid = _member(ctx, "+8613900000003")
    store = programme.store_id
    sales = [food_sale(ctx, store, mid, f"B-{i}", 3_000 + i) for i in range(5)]
    clerk = Actor(kind="staff", id="3", role="cashier")
    with ctx.engine.begin() as conn:
        results = post_sales(conn, ctx, sales, actors=[TILL, TILL, clerk, TILL, clerk])
    assert results is not None
    expected = [
        (actor.kind, actor.id, str(r.purchase_id))
        for actor, r in zip([TILL, TILL, clerk, TILL, clerk], results, strict=True)
    ]
    assert sorted(_audited(ctx, "purchase.post")) == sorted(expected)
