"""On PostgreSQL, 20 members racing to order a reward with 5 units: exactly 5 orders, the other 15 a
clear REWARD_OUT_OF_STOCK, the stock at 0 and never below, every loser's points untouched; then
racing cancellations and orders never take the stock below zero nor above what it was."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import func, select

from loyalty.bootstrap import Context
from loyalty.db.reward_tables import reward_orders
from loyalty.domain.errors import Conflict
from loyalty.services import points
from loyalty.services.rewards import catalog, redeem, settle
from tests.conftest import pg_context
from tests.rewards.helpers import available, chain, gift, member

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_ctx() -> Iterator[Context]:
    with pg_context() as context:
        yield context


def _race(calls: list[Callable[[], object]]) -> list[str]:
    start = threading.Barrier(len(calls))
    answers: list[str] = []
    lock = threading.Lock()

    def go(call: Callable[[], object]) -> None:
        start.wait()
        try:
            call()
            outcome = "ok"
        except Conflict as exc:
            outcome = exc.code
        except BaseException as exc:  # reported in the assertion below
            outcome = repr(exc)
        with lock:
            answers.append(outcome)

    threads = [threading.Thread(target=go, args=(c,)) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def test_20_members_racing_for_5_units_get_exactly_5_orders(pg_ctx: Context) -> None:
    ctx = pg_ctx
    store = chain(ctx)
    people = [member(ctx, 500) for _ in range(20)]
    catalog.define_reward(ctx, gift(stock=5))
    answers = _race([lambda m=m: redeem.redeem(ctx, m, "mug", store_id=store) for m in people])
    assert sorted(answers) == ["REWARD_OUT_OF_STOCK"] * 15 + ["ok"] * 5
    assert catalog.get_reward(ctx, "mug").stock == 0
    with ctx.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(reward_orders)).scalar_one() == 5
    assert sorted(available(ctx, m) for m in people) == [200] * 5 + [500] * 15
    assert points.verify_ledger(ctx)["ok"]

    # 5 cancellations racing 10 new orders: never more than 5 units out, never below zero
    with ctx.engine.connect() as conn:
        made = list(conn.execute(select(reward_orders.c.id)).scalars())
    losers = [m for m in people if available(ctx, m) == 500][:10]
    calls: list[Callable[[], object]] = [lambda o=o: settle.cancel(ctx, o) for o in made]
    calls += [lambda m=m: redeem.redeem(ctx, m, "mug", store_id=store) for m in losers]
    answers = _race(calls)
    assert set(answers) <= {"ok", "REWARD_OUT_OF_STOCK"}, answers
    with ctx.engine.connect() as conn:
        live = conn.execute(
            select(func.count()).select_from(reward_orders).where(reward_orders.c.status != "cancelled")
        ).scalar_one()
    stock = catalog.get_reward(ctx, "mug").stock
    assert stock is not None
    assert stock >= 0
    assert live + stock == 5
    assert points.verify_ledger(ctx)["ok"]
