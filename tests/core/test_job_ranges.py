"""The set-based jobs cut into id ranges: the same outcome however the members are cut, ranges side by
side on PostgreSQL, and a member changed by a sale while the tier job runs is never set back."""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text, update

from loyalty.bootstrap import Context, FrozenClock
from loyalty.config import Settings
from loyalty.db.core_tables import accounts, members, point_lots, postings, tier_history, transfers
from loyalty.db.core_tables import tiers as tiers_t
from loyalty.db.engine import make_engine
from loyalty.db.migrate import upgrade
from loyalty.services import members as member_service
from loyalty.services import points, purchases, seed, tiers
from loyalty.services.id_ranges import IdRange, id_ranges, run_ranges
from loyalty.services.schemas import MemberIn, TierEvaluation
from tests.core.sales import food_sale

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


def test_ranges_are_fixed_multiples_of_their_size_and_cover_every_id(engine: Engine) -> None:
    with engine.connect() as conn:
        assert id_ranges(conn, members.c.id, 10) == []  # nothing to cut
    ctx = Context(engine=engine, settings=Settings(), clock=FrozenClock(T0))
    seed.ensure_programme(ctx)
    made = [
        member_service.register_member(ctx, MemberIn(phone=f"1390014{i:04d}", name="R")) for i in range(23)
    ]
    with engine.connect() as conn:
        cut = id_ranges(conn, members.c.id, 10)
        with pytest.raises(ValueError, match="at least one id"):
            id_ranges(conn, members.c.id, 0)
    assert all(r.lo == r.number * 10 and r.hi == r.lo + 9 for r in cut)
    assert [r.number for r in cut] == list(range(cut[0].number, cut[-1].number + 1))
    assert all(sum(r.lo <= m.id <= r.hi for r in cut) == 1 for m in made)


def test_run_ranges_keeps_the_order_and_raises_the_first_error(engine: Engine) -> None:
    cut = [IdRange(k, 10 * k, 10 * k + 9) for k in range(6)]
    seen: list[int] = []
    lock = threading.Lock()

    def work(r: IdRange) -> int:
        time.sleep(0.01 * (6 - r.number))  # later ranges finish first when run side by side
        with lock:
            seen.append(r.number)
        return r.lo

    assert run_ranges(engine, cut, work, workers=3) == [r.lo for r in cut]
    assert sorted(seen) == list(range(6))

    def failing(r: IdRange) -> int:
        if r.number == 2:
            raise RuntimeError("range 2 failed")
        return r.number

    with pytest.raises(RuntimeError, match="range 2 failed"):
        run_ranges(engine, cut, failing, workers=3)


def test_an_expiry_range_reads_the_expired_accounts_by_the_merchants_key(tmp_path: Path) -> None:
    """Each range of an expiry run reads the merchants' 'expired' accounts: by the (merchant, kind)
    key, not by scanning every member's account (a million of them, in every range of the run)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'plan.db'}")
    upgrade(engine)
    with engine.connect() as conn:
        compiled = points.EXPIRED_ACCOUNTS.compile(dialect=engine.dialect)
        plan = conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN " + str(compiled),
            tuple(compiled.params[k] for k in compiled.positiontup or ()),
        ).all()
    details = " ".join(str(row[-1]) for row in plan)
    assert "SEARCH accounts USING COVERING INDEX" in details, details
    engine.dispose()


@pytest.mark.parametrize(("range_size", "workers"), [(None, 1), (5, 1), (3, 3)])
def test_expiry_in_ranges_expires_each_due_lot_once(
    engine: Engine, range_size: int | None, workers: int
) -> None:
    clock = FrozenClock(T0)
    ctx = Context(engine=engine, settings=Settings(), clock=clock)
    ids = seed.ensure_programme(ctx)
    rng = random.Random(range_size)
    ms = [member_service.register_member(ctx, MemberIn(phone=f"1390015{i:04d}", name="X")) for i in range(17)]
    for i, m in enumerate(ms):
        for k in range(rng.randint(1, 2)):
            purchases.post_purchase(
                ctx, food_sale(ctx, ids.store_id, m.id, f"x{i}-{k}", rng.randint(1, 9) * 10_000)
            )
        clock.advance(days=10)
    as_of = T0 + timedelta(days=365 + 80)  # the lots of the first 80 days are due, the later ones not yet
    with engine.connect() as conn:
        due: dict[int, int] = {
            r[0]: int(r[1])
            for r in conn.execute(
                select(point_lots.c.member_id, func.sum(point_lots.c.remaining))
                .where(point_lots.c.expires_at <= as_of, point_lots.c.remaining > 0)
                .group_by(point_lots.c.member_id)
            )
        }
        n_due = conn.execute(
            select(func.count()).where(point_lots.c.expires_at <= as_of, point_lots.c.remaining > 0)
        ).scalar_one()
    before = {m.id: points.balance(ctx, m.id).balance for m in ms}
    assert 0 < len(due) < len([b for b in before.values() if b])  # some members due, some not

    res = points.expire_points(ctx, as_of, range_size=range_size, workers=workers)

    assert (res.lots_expired, res.points_expired) == (n_due, sum(due.values()))
    assert {m.id: points.balance(ctx, m.id).balance for m in ms} == {
        mid: b - due.get(mid, 0) for mid, b in before.items()
    }
    with engine.connect() as conn:
        runs = conn.execute(select(transfers.c.id).where(transfers.c.kind == "expire")).scalars().all()
        legs = conn.execute(
            select(postings.c.transfer_id, func.sum(postings.c.amount), func.count())
            .where(postings.c.transfer_id.in_(runs))
            .group_by(postings.c.transfer_id)
        ).all()
        member_accounts = conn.execute(select(func.count()).where(accounts.c.kind == "member")).scalar_one()
    assert all(total == 0 and n >= 2 for _, total, n in legs)  # every range's run balances on its own
    assert 1 <= len(runs) <= member_accounts
    assert points.verify_ledger(ctx)["ok"]
    assert points.expire_points(ctx, as_of, range_size=range_size, workers=workers).lots_expired == 0


@pytest.mark.postgres
def test_tier_job_skips_a_member_whom_a_sale_moved_while_it_ran(pg_url: str) -> None:
    """A sale upgrades a member between the job's decision and its write: the sale's tier stays.

    The job decides from the rows it sees when its statement starts. Here another transaction holds
    the member's row, already moved to the top tier but not yet committed; the job decides to move
    the member from their old tier, waits for the row, and must then skip them rather than write a
    tier decided on the old row (and must not write a history row for a move it did not make).
    """
    engine = make_engine(pg_url, pool_size=6)
    clock = FrozenClock(T0)
    ctx = Context(engine=engine, settings=Settings(), clock=clock)
    ids = seed.ensure_programme(ctx, tier_window_days=90)
    ms = [member_service.register_member(ctx, MemberIn(phone=f"1390016{i:04d}", name="G")) for i in range(4)]
    with engine.begin() as conn:
        ladder = conn.execute(select(tiers_t.c.id, tiers_t.c.threshold_minor).order_by(tiers_t.c.rank)).all()
    # Each member spends enough for the second tier, then is put back on the lowest by hand.
    for i, m in enumerate(ms):
        purchases.post_purchase(ctx, food_sale(ctx, ids.store_id, m.id, f"g{i}", ladder[1].threshold_minor))
    with engine.begin() as conn:
        conn.execute(update(members).where(members.c.id.in_([m.id for m in ms])).values(tier_id=ladder[0].id))
    raced = ms[1].id
    sale = engine.connect()
    tx = sale.begin()
    sale.execute(update(members).where(members.c.id == raced).values(tier_id=ladder[-1].id))
    result: list[TierEvaluation | BaseException] = []

    def run_job() -> None:
        try:
            result.append(tiers.evaluate_tiers(ctx, ctx.now(), range_size=2, workers=2))
        except BaseException as exc:
            result.append(exc)

    job = threading.Thread(target=run_job)
    job.start()
    try:
        with engine.connect() as watch:  # wait until the job is blocked on the raced member's row
            for _ in range(200):
                waiting = watch.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE wait_event_type = 'Lock' AND datname = :d"
                    ),
                    {"d": engine.url.database},
                ).scalar_one()
                if waiting:
                    break
                watch.rollback()  # a transaction sees one snapshot of pg_stat_activity
                time.sleep(0.05)
        assert waiting, f"the job never reached the member the sale holds: {result}"
        tx.commit()
    finally:
        if tx.is_active:
            tx.rollback()
        sale.close()
        job.join(timeout=60)
    assert result, "the tier job did not finish"
    ev = result[0]
    assert isinstance(ev, TierEvaluation), ev
    with engine.connect() as conn:
        now_tiers = {r.id: r.tier_id for r in conn.execute(select(members.c.id, members.c.tier_id))}
        history = conn.execute(
            select(tier_history.c.member_id).where(tier_history.c.reason == "evaluation_upgrade")
        ).scalars()
        upgraded = sorted(history)
    assert now_tiers[raced] == ladder[-1].id  # the sale's move stands
    assert all(now_tiers[m.id] == ladder[1].id for m in ms if m.id != raced)
    assert upgraded == sorted(m.id for m in ms if m.id != raced)
    assert ev.upgraded == len(ms) - 1
    engine.dispose()


def test_jobs_run_takes_the_range_size_and_workers(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    import json
    from pathlib import Path

    from typer.testing import CliRunner

    from loyalty.cli import app
    from loyalty.config import get_settings
    from loyalty.db.migrate import upgrade

    url = f"sqlite:///{Path(str(tmp_path)) / 'jobs.db'}"
    engine = make_engine(url)
    upgrade(engine)
    clock = FrozenClock(T0)
    ctx = Context(engine=engine, settings=Settings(), clock=clock)
    ids = seed.ensure_programme(ctx)
    for i in range(3):
        m = member_service.register_member(ctx, MemberIn(phone=f"1390017{i:04d}", name="C"))
        purchases.post_purchase(ctx, food_sale(ctx, ids.store_id, m.id, f"c{i}", 50_000))
    engine.dispose()
    monkeypatch.setenv("LOYALTY_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        bad = runner.invoke(app, ["jobs", "run", "--range-size", "0"])
        assert bad.exit_code == 2
        assert "range-size" in bad.output
        when = (T0 + timedelta(days=400)).isoformat()
        done = runner.invoke(app, ["jobs", "run", "--as-of", when, "--range-size", "1", "--workers", "2"])
    finally:
        get_settings.cache_clear()
    assert done.exit_code == 0, done.output
    out = json.loads(done.output)
    assert out["expire"] == {"lots_expired": 3, "points_expired": 1500}
    assert out["tiers"]["evaluated"] == 3


def test_a_zero_range_size_or_worker_count_is_refused_not_taken_for_the_default(engine: Engine) -> None:
    ctx = Context(engine=engine, settings=Settings(), clock=FrozenClock(T0))
    seed.ensure_programme(ctx)
    member_service.register_member(ctx, MemberIn(phone="13900180001", name="Z"))
    with pytest.raises(ValueError, match="at least one id"):
        points.expire_points(ctx, T0, range_size=0)
    with pytest.raises(ValueError, match="at least one worker"):
        tiers.evaluate_tiers(ctx, T0, workers=0)
