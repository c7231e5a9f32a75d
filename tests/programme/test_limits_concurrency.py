"""PostgreSQL: tills racing for a rule's budget never give more than it, alone or in shared batches.

32 threads post sales at once (each its own member, each sale asking 30 points of a rule whose budget
is 1,000 and whose cap per member is 70): exactly 1,000 points are given in all, no member gets more
than 70, and the ledger balances. The same through the API, where sales arriving together share
transactions (`posting.set_based_batches`)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text

from loyalty.bootstrap import Context, FrozenClock
from loyalty.services import members, merchants, points, purchases, seed
from loyalty.services.earning_rules.book import define_rules
from loyalty.services.schemas import MemberIn, PurchaseIn, PurchaseLineIn
from tests.api.api_world import World, pg_world, purchase_body, register
from tests.conftest import pg_context

pytestmark = pytest.mark.postgres
RULE = {
    "code": "racing",
    "kind": "fixed_bonus",
    "points": 30,
    "limits": {"per_member": {"points": 70, "per": "ever"}, "budget": {"points": 1000}},
}
WHEN = datetime(2026, 3, 1, 2, tzinfo=UTC)


def _define(ctx: Context) -> None:
    clock = ctx.clock
    ctx.clock = FrozenClock(WHEN - timedelta(days=30))
    try:
        define_rules(ctx, [RULE])
    finally:
        ctx.clock = clock


def _given(ctx: Context) -> tuple[int, int]:
    """(points the rule gave in all, the most one member got)."""
    with ctx.engine.connect() as conn:
        per_member = conn.execute(
            text(
                "SELECT p.member_id, sum(e.points) FROM purchase_line_rules e "
                "JOIN purchases p ON p.id = e.purchase_id GROUP BY p.member_id"
            )
        ).all()
    return sum(int(p) for _, p in per_member), max(int(p) for _, p in per_member)


@pytest.fixture
def ctx() -> Iterator[Context]:
    with pg_context() as context:
        seed.ensure_programme(context)
        yield context


def test_32_tills_never_give_more_than_the_budget(ctx: Context) -> None:
    _define(ctx)
    store = merchants.list_stores(ctx)[0].id
    ids = [
        members.register_member(ctx, MemberIn(phone=f"+8613780000{i:03d}", name=f"M{i}")).id
        for i in range(32)
    ]
    start = threading.Barrier(32)
    failures: list[BaseException] = []

    def till(n: int) -> None:
        start.wait()
        try:
            for k in range(4):
                purchases.post_purchase(
                    ctx,
                    PurchaseIn(
                        store_id=store,
                        member_id=ids[n],
                        order_id=f"race-{n}-{k}",
                        occurred_at=WHEN + timedelta(minutes=k),
                        lines=[PurchaseLineIn(sku="A", quantity=1, unit_price_minor=5_000)],
                    ),
                )
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=till, args=(n,)) for n in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    total, most = _given(ctx)
    assert total == 1000  # asked: 32 × 4 × 30 = 3,840
    assert most <= 70
    with ctx.engine.connect() as conn:
        assert (
            conn.execute(text("SELECT points FROM rule_usage WHERE subject_kind = 'chain'")).scalar() == 1000
        )
    assert points.verify_ledger(ctx)["ok"]


@pytest.fixture(scope="module", name="world")
def _world() -> Iterator[World]:
    with pg_world() as w:
        yield w


def test_sales_sharing_transactions_never_give_more_than_the_budget(world: World) -> None:
    w = world
    _define(w.ctx)
    people = [register(w, "admin", f"+8613781000{i:03d}", w.store_a) for i in range(24)]
    pos = w.as_("pos")

    async def post() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=w.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://pos") as client:
            return await asyncio.gather(
                *(
                    client.post(
                        "/api/v1/purchases",
                        json=purchase_body(w.store_a, people[i % 24]["id"], f"rc-{i}"),
                        headers={**pos, "Idempotency-Key": f"rc-{i}"},
                    )
                    for i in range(72)
                )
            )

    answers = asyncio.run(post())
    assert [a.status_code for a in answers] == [201] * 72, answers[0].text
    total, most = _given(w.ctx)
    assert total == 1000  # asked: 72 × 30 = 2,160
    assert most <= 70
    assert points.verify_ledger(w.ctx)["ok"]
