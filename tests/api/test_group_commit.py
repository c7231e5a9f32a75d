"""Concurrent POS sales through the API share transactions, each with its own outcome: the group commit on
SQLite, set-based batches on PostgreSQL (see also `test_sale_batches`). Every answer matches the ledger."""

from __future__ import annotations

import asyncio
import itertools
import threading
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text

from loyalty.db.core_tables import purchases
from loyalty.services import points
from loyalty.services.posting.group_commit import GroupCommit
from loyalty.services.posting.shared_transactions import NotWritten
from tests.api.api_world import World, purchase_body, register

V1 = "/api/v1"
_seq = itertools.count(1)


async def _post_all(w: World, requests: list[tuple[dict[str, Any], dict[str, str]]]) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=w.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://pos") as client:
        return await asyncio.gather(
            *(client.post(f"{V1}/purchases", json=body, headers=headers) for body, headers in requests)
        )


def test_concurrent_sales_each_get_their_own_outcome(world: World) -> None:
    run = next(_seq)
    members = [register(world, "admin", f"+86136{run:03d}{i:05d}", world.store_a) for i in range(4)]
    pos = world.as_("pos")
    good = [(purchase_body(world.store_a, members[i % 4]["id"], f"gc{run}-{i}"), pos) for i in range(20)]
    unknown_member = (purchase_body(world.store_a, 987_654_321, f"gc{run}-unknown"), pos)
    reused_order = (purchase_body(world.store_a, members[0]["id"], f"gc{run}-0", price="5.00"), pos)
    keyed = {**pos, "Idempotency-Key": f"gc{run}-key"}
    same_key = [(purchase_body(world.store_a, members[1]["id"], f"gc{run}-keyed"), keyed)] * 2
    posting = world.app.state.posting
    group_commit = posting if isinstance(posting, GroupCommit) else None
    before = group_commit.transactions if group_commit else 0

    answers = asyncio.run(_post_all(world, [*good, unknown_member, *same_key]))

    for answer in answers[:20]:
        assert answer.status_code == 201, answer.text
    assert answers[20].status_code == 404, answers[20].text
    assert answers[20].json()["code"].endswith("NOT_FOUND")
    first, second = answers[21:]
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()  # one sale, the other answer replays it
    # the order id reused with another body is refused after the first sale committed
    again = asyncio.run(_post_all(world, [reused_order]))[0]
    assert again.status_code == 422, again.text

    with world.ctx.engine.connect() as conn:
        posted = conn.execute(
            select(func.count()).select_from(purchases).where(purchases.c.order_id.like(f"gc{run}-%"))
        ).scalar_one()
        earned = conn.execute(
            select(func.coalesce(func.sum(purchases.c.points_earned), 0)).where(
                purchases.c.order_id.like(f"gc{run}-%")
            )
        ).scalar_one()
    assert posted == 21  # 20 sales and the keyed one, once; nothing from the refused ones
    assert earned == sum(a.json()["points_earned"] for a in [*answers[:20], first])
    assert points.verify_ledger(world.ctx)["ok"]
    if group_commit is not None:  # SQLite: 21 sales written in fewer transactions than sales
        assert group_commit.transactions - before < 21


def test_a_failed_commit_fails_every_sale_of_its_transaction_and_writes_none(tmp_path: Any) -> None:
    """SQLite: when the shared transaction cannot commit, no sale in it is answered as posted."""
    from tests.api.api_world import build_world

    w = build_world(f"sqlite:///{tmp_path / 'gc.db'}")
    try:
        group_commit: GroupCommit = w.app.state.posting
        member = register(w, "admin", "+8613700000001", w.store_a)

        def poison(conn: Any) -> None:  # a write whose foreign key only fails at COMMIT
            conn.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
            conn.execute(text("UPDATE members SET tier_id = 999999 WHERE id = :id"), {"id": member["id"]})

        release = threading.Event()

        async def scenario() -> list[Any]:
            transport = httpx.ASGITransport(app=w.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://pos") as client:
                # hold the writer on a first transaction so the poison and the sales queue up together
                holding = asyncio.ensure_future(group_commit.run(lambda _conn: release.wait(10)))
                await asyncio.sleep(0.05)
                tasks = [asyncio.ensure_future(group_commit.run(poison))] + [
                    asyncio.ensure_future(
                        client.post(
                            f"{V1}/purchases",
                            json=purchase_body(w.store_a, member["id"], f"fail-{i}"),
                            headers=w.as_("pos"),
                        )
                    )
                    for i in range(5)
                ]
                deadline = asyncio.get_running_loop().time() + 10
                while group_commit.queued < 6 and asyncio.get_running_loop().time() < deadline:
                    await asyncio.sleep(0.01)
                release.set()
                await holding
                return await asyncio.gather(*tasks, return_exceptions=True)

        outcomes = asyncio.run(scenario())
        assert isinstance(outcomes[0], NotWritten)
        for sale in outcomes[1:]:
            assert sale.status_code == 503, sale.text
            assert sale.json()["code"] == "NOT_WRITTEN"
            assert sale.headers["Retry-After"] == "1"
        with w.ctx.engine.connect() as conn:
            written = conn.execute(
                select(func.count()).select_from(purchases).where(purchases.c.order_id.like("fail-%"))
            ).scalar_one()
        assert written == 0
        assert points.verify_ledger(w.ctx)["ok"]
    finally:
        w.client.close()
        w.ctx.engine.dispose()


@pytest.mark.parametrize("enabled", [True, False])
def test_group_commit_follows_the_setting_and_the_database(tmp_path: Any, enabled: bool) -> None:
    from loyalty.api.app import create_app
    from loyalty.bootstrap import Context
    from loyalty.config import Settings

    ctx = Context.from_url(f"sqlite:///{tmp_path / 's.db'}")
    ctx.settings = Settings(api_group_commit=enabled)
    app = create_app(ctx)
    assert isinstance(app.state.posting, GroupCommit) is enabled
    ctx.engine.dispose()
