"""32 workers spend from one member at once: exactly the affordable number succeed, never a negative."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from loyalty.bootstrap import Context, FrozenClock
from loyalty.config import Settings
from loyalty.db.engine import make_engine
from loyalty.domain.errors import Conflict
from loyalty.services import members, points, purchases, seed
from loyalty.services.schemas import MemberIn, PurchaseIn, PurchaseLineIn

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
WORKERS = 32


def _race(url: str, workers: int) -> None:
    engine = make_engine(url, pool_size=workers, max_overflow=4)
    clock = FrozenClock(T0)
    ctx = Context(engine=engine, settings=Settings(), clock=clock)
    ids = seed.ensure_programme(ctx)
    m = members.register_member(ctx, MemberIn(phone="13800138010", name="并发"))
    purchases.post_purchase(
        ctx,
        PurchaseIn(
            store_id=ids.store_id,
            order_id="seed",
            occurred_at=ctx.now(),
            member_id=m.id,
            lines=[PurchaseLineIn(sku="x", quantity=1, unit_price_minor=1_050_000)],
        ),
    )  # 10,500 points
    clock.advance(days=10)
    start = points.balance(ctx, m.id).available
    each = 1000
    affordable = start // each
    barrier = threading.Barrier(workers)
    ok: list[int] = []
    lost: list[str] = []
    other: list[BaseException] = []

    def worker(i: int) -> None:
        barrier.wait()
        try:
            points.redeem(ctx, m.id, each, store_id=ids.store_id, order_id=f"w{i}")
            ok.append(i)
        except Conflict as exc:
            lost.append(exc.code)
        except BaseException as exc:
            other.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert other == []
    assert len(ok) == min(affordable, workers)
    assert set(lost) <= {"POINTS_INSUFFICIENT", "CONCURRENT_UPDATE"}
    assert len(lost) == workers - len(ok)
    bal = points.balance(ctx, m.id)
    assert bal.balance == start - each * len(ok)
    assert bal.balance >= 0
    assert points.verify_ledger(ctx)["ok"]
    clock.advance(days=1)
    _ = timedelta
    engine.dispose()


@pytest.mark.postgres
@pytest.mark.slow
def test_32_concurrent_spends_on_postgresql(pg_url: str) -> None:
    _race(pg_url, WORKERS)


def test_concurrent_spends_on_sqlite(tmp_path: object) -> None:
    from pathlib import Path

    from loyalty.db.migrate import upgrade

    url = f"sqlite:///{Path(str(tmp_path)) / 'c.db'}"
    eng = make_engine(url)
    upgrade(eng)
    eng.dispose()
    _race(url, 12)


@pytest.mark.postgres
@pytest.mark.parametrize("range_size", [None, 2])
def test_expiry_run_racing_spends_keeps_the_ledger_whole(pg_url: str, range_size: int | None) -> None:
    """Spends on lots that an expiry run is emptying: one side retries, nothing is spent or expired twice.

    Also with the run cut into ranges of two accounts, two ranges at a time."""
    engine = make_engine(pg_url, pool_size=12, max_overflow=4)
    clock = FrozenClock(T0)
    ctx = Context(engine=engine, settings=Settings(), clock=clock)
    ids = seed.ensure_programme(ctx)
    ms = [members.register_member(ctx, MemberIn(phone=f"1380013820{i}", name="E")) for i in range(6)]
    for i, m in enumerate(ms):
        purchases.post_purchase(
            ctx,
            PurchaseIn(
                store_id=ids.store_id,
                order_id=f"e{i}",
                occurred_at=ctx.now(),
                member_id=m.id,
                lines=[PurchaseLineIn(sku="x", quantity=1, unit_price_minor=100_000)],
            ),
        )  # 1,000 points each, spendable after the return window
    clock.advance(days=10)
    barrier = threading.Barrier(len(ms) + 1)
    spent: list[int] = []
    other: list[BaseException] = []

    def spend(m: int) -> None:
        barrier.wait()
        try:
            points.redeem(ctx, m, 300, store_id=ids.store_id)
            spent.append(m)
        except Conflict:
            pass
        except BaseException as exc:
            other.append(exc)

    def expire() -> None:
        barrier.wait()
        try:  # as of a year on: every lot is due, while the spends still see them spendable
            points.expire_points(ctx, T0 + timedelta(days=400), range_size=range_size, workers=2)
        except BaseException as exc:
            other.append(exc)

    threads = [threading.Thread(target=spend, args=(m.id,)) for m in ms] + [threading.Thread(target=expire)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert other == []
    assert points.verify_ledger(ctx)["ok"]
    for m in ms:  # whatever the interleaving, the member ends with nothing: spent 300 + expired the rest
        assert points.balance(ctx, m.id).balance == 0
    assert points.expire_points(ctx, T0 + timedelta(days=400)).lots_expired == 0
    engine.dispose()
