"""Ledger benchmark: SQLite and PostgreSQL side by side, against the issue's targets.

Measures (1) purchases posted per second in-process with 3-line baskets, one transaction each
(`post_purchase`: a sale alone, checked and then posted as a batch of one), in batches of 100
(`post_purchases`) and one transaction each as a till's batch of one sale (`pos_batch.post_sales`,
the batch's own front), the median of three rounds after a
warm-up; (2) the set-based expiry job and (3) the tier re-evaluation on N members (1,000,000 by
default), with data generated set-based in SQL: first the worst case, where nearly every member moves
up, then a month later the routine run, which takes down those whose spend has left the window; and
the process's peak memory. `--small` runs a quick version. Usage: python bench/ledger.py [--small]
"""

# ruff: noqa: E501  (long literal SQL for the set-based data generator)
from __future__ import annotations

import argparse
import os
import resource
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import TextClause, bindparam, create_engine, select, text

import machine
from loyalty.bootstrap import Context, FrozenClock
from loyalty.config import Settings
from loyalty.db.core_tables import UTCDateTime, tiers
from loyalty.db.engine import make_engine
from loyalty.db.migrate import upgrade
from loyalty.services import members, points, purchases, seed
from loyalty.services import tiers as tier_service
from loyalty.services.posting import pos_batch
from loyalty.services.schemas import MemberIn, PurchaseIn, PurchaseLineIn

PG_ADMIN = os.environ.get("LOYALTY_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
TARGET_PURCHASES = 3000.0
TARGET_JOB_S = 10.0


def _basket(store: int, member: int, i: int, at: datetime) -> PurchaseIn:
    return PurchaseIn(
        store_id=store,
        order_id=f"b{i}",
        occurred_at=at,
        member_id=member,
        lines=[
            PurchaseLineIn(sku="rice", category="food", quantity=2, unit_price_minor=1999),
            PurchaseLineIn(
                sku="milk", category="dairy", quantity=1, unit_price_minor=1250, discount_minor=50
            ),
            PurchaseLineIn(sku="cig", category="tobacco", quantity=1, unit_price_minor=3000),
        ],
    )


ROUNDS = 3  # timed rounds per measure; the median is reported (one round lasts about a second)


def bench_purchases(ctx: Context, store: int, n: int) -> tuple[float, float, float]:
    """Median purchases/s over `ROUNDS` rounds of `n`, after an untimed warm-up of n/10 sales: one
    transaction each, batches of 100, and batches of one by the set-based routine."""
    mids = [members.register_member(ctx, MemberIn(phone=f"+86138{i:08d}", name="B")).id for i in range(100)]
    seq = iter(range(10**9))
    for _ in range(max(1, n // 10)):
        i = next(seq)
        purchases.post_purchase(ctx, _basket(store, mids[i % 100], i, ctx.now()))
    singles = []
    for _ in range(ROUNDS):
        t = time.perf_counter()
        for _ in range(n):
            i = next(seq)
            purchases.post_purchase(ctx, _basket(store, mids[i % 100], i, ctx.now()))
        singles.append(n / (time.perf_counter() - t))
    batches = []
    for _ in range(ROUNDS):
        items = [_basket(store, mids[i % 100], i, ctx.now()) for i in (next(seq) for _ in range(n))]
        t = time.perf_counter()
        for k in range(0, n, 100):
            purchases.post_purchases(ctx, items[k : k + 100])
        batches.append(n / (time.perf_counter() - t))
    # The same sales, each posted as a till's batch of one in a transaction of its own: the same
    # routine as a sale alone above, reached through a batch's front (its columns, its reads) rather
    # than the sale's. Without a savepoint, as a sale alone is posted: the transaction is the sale's
    # own, so a repeated order rolls it back and is retried.
    alone_as_batches = []
    for _ in range(ROUNDS):
        items = [_basket(store, mids[i % 100], i, ctx.now()) for i in (next(seq) for _ in range(n))]
        t = time.perf_counter()
        for item in items:
            with ctx.engine.begin() as conn:
                if pos_batch.post_sales(conn, ctx, [item], savepoint=False) is None:
                    raise RuntimeError("the till's batch left a plain sale to be posted alone")
        alone_as_batches.append(n / (time.perf_counter() - t))
    assert points.verify_ledger(ctx)["ok"]
    print(
        "  purchases/s by round: one transaction each "
        + ", ".join(f"{r:,.0f}" for r in singles)
        + "; batches of 100 "
        + ", ".join(f"{r:,.0f}" for r in batches)
        + "; batches of one "
        + ", ".join(f"{r:,.0f}" for r in alone_as_batches),
        flush=True,
    )
    return statistics.median(singles), statistics.median(batches), statistics.median(alone_as_batches)


#: Each member's one purchase lies in one of twelve months before T0 (by member id), so a month on,
#: one member in twelve has no spend left in the tier window.
PURCHASE_MONTHS = 12


def generate(ctx: Context, n: int, merchant_id: int, store_id: int) -> None:
    """N members, each with an account, one purchase in the window and one lot (half already due).

    Every member is still on the lowest tier although nearly all have spent enough for a higher one:
    the tier evaluation's worst case, as after a cut in the thresholds. The purchases are spread over
    the twelve months before T0, so an evaluation a month later has the routine work of taking down
    the members whose spend has left the window.
    """
    dt = UTCDateTime()
    now, old, due = T0, T0 - timedelta(days=30), T0 - timedelta(days=1)
    later = T0 + timedelta(days=100)
    seq = f"WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < {int(n)}) "
    with ctx.engine.begin() as conn:
        low = conn.execute(select(tiers.c.id).order_by(tiers.c.rank).limit(1)).scalar_one()
        base = conn.execute(text("SELECT coalesce(max(id), 0) FROM members")).scalar_one()
        p = {"now": now, "old": old, "due": due, "later": later}

        def t(sql: str) -> TextClause:
            return text(sql).bindparams(*[bindparam(k, type_=dt) for k in p if f":{k}" in sql])

        conn.execute(
            t(
                "INSERT INTO members (id, phone, name, tags, marketing_consent, card_no, member_code, status, tier_id, "
                "created_at, updated_at) "
                + seq
                + f"SELECT {base} + n, '+8619' || (100000000 + n), 'm', '[]', "
                f"false, '77' || (10000000000000 + n), 'BENCH' || n, 'active', {low}, :now, :now FROM seq"
            ),
            p,
        )
        conn.execute(
            t(
                "INSERT INTO accounts (kind, member_id, balance, debt, created_at) "
                f"SELECT 'member', id, 100, 0, :now FROM members WHERE id > {base}"
            ),
            p,
        )
        for month in range(PURCHASE_MONTHS):
            conn.execute(
                t(
                    "INSERT INTO purchases (store_id, member_id, order_id, occurred_at, total_minor, eligible_minor, "
                    "refunded_minor, currency, points_earned, points_reversed, redeemed_points, rule, request_hash, "
                    f"created_at) SELECT {store_id}, id, 'g' || id, :bought, (id * 7919) % 3000000, 0, 0, 'CNY', 100, "
                    f"0, 0, 'bench', 'x', :now FROM members WHERE id > {base} AND id % {PURCHASE_MONTHS} = {month}"
                ).bindparams(bindparam("bought", type_=dt)),
                {**p, "bought": T0 - timedelta(days=30 * month + 15)},
            )
        liab = conn.execute(
            t(f"SELECT id FROM accounts WHERE merchant_id = {merchant_id} AND kind = 'liability'")
        ).scalar_one()
        tid = conn.execute(
            t(
                "INSERT INTO transfers (kind, debit_account_id, credit_account_id, amount, rule, created_at) "
                f"SELECT 'earn', {liab}, min(id), 1, 'bench-seed', :now FROM accounts WHERE kind = 'member' "
                "RETURNING id"
            ),
            p,
        ).scalar_one()
        conn.execute(
            t(
                "INSERT INTO point_lots (account_id, member_id, merchant_id, transfer_id, purchase_id, amount, "
                "debt_paid, remaining, available_at, expires_at, created_at) "
                f"SELECT a.id, a.member_id, {merchant_id}, {tid}, p.id, 100, 0, 100, "
                ":old, CASE WHEN a.member_id % 2 = 0 THEN :due ELSE :later END, :now "
                f"FROM accounts a JOIN purchases p ON p.member_id = a.member_id WHERE a.member_id > {base}"
            ),
            p,
        )
    # Time the jobs, not the generator's leftovers: the gigabyte or so it wrote is flushed to the
    # database files first, as pgbench does before each run, instead of being checkpointed while a
    # job runs.
    if ctx.engine.dialect.name == "postgresql":
        # A production database has statistics and visibility maps: VACUUM ANALYZE the freshly loaded
        # data before timing anything (outside a transaction, as VACUUM requires).
        with ctx.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
            conn.execute(text("CHECKPOINT"))
    else:
        with ctx.engine.connect().execution_options(sqlite_begin="DEFERRED") as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def run_backend(name: str, url: str, n_members: int, n_purchases: int) -> dict[str, float]:
    engine = make_engine(url)
    upgrade(engine)
    clock = FrozenClock(T0)
    ctx = Context(engine=engine, settings=Settings(), clock=clock)
    ids = seed.ensure_programme(ctx)
    single, batch, batch_of_one = bench_purchases(ctx, ids.store_id, n_purchases)
    t = time.perf_counter()
    generate(ctx, n_members, ids.merchant_id, ids.store_id)
    gen_s = time.perf_counter() - t
    t = time.perf_counter()
    exp = points.expire_points(ctx, T0)
    expire_s = time.perf_counter() - t
    t = time.perf_counter()
    ev = tier_service.evaluate_tiers(ctx, T0)
    tiers_s = time.perf_counter() - t
    later = clock.advance(days=30)
    t = time.perf_counter()
    month = tier_service.evaluate_tiers(ctx, later)
    month_s = time.perf_counter() - t
    engine.dispose()
    print(
        f"  [{name}] generated {n_members:,} members in {gen_s:.1f}s; expired {exp.lots_expired:,} lots; "
        f"evaluated {ev.evaluated:,} (up {ev.upgraded:,}, down {ev.downgraded:,}); a month on "
        f"{month.evaluated:,} (up {month.upgraded:,}, down {month.downgraded:,})",
        flush=True,
    )
    return {
        "single": single,
        "batch": batch,
        "batch_of_one": batch_of_one,
        "expire": expire_s,
        "tiers": tiers_s,
        "moved": ev.upgraded + ev.downgraded,
        "month": month_s,
        "month_moved": month.upgraded + month.downgraded,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--small", action="store_true", help="quick run: 20,000 members, 500 purchases")
    ap.add_argument("--members", type=int, default=None)
    ap.add_argument("--purchases", type=int, default=None)
    args = ap.parse_args()
    n_members = args.members or (20_000 if args.small else 1_000_000)
    n_purchases = args.purchases or (500 if args.small else 3000)
    print(machine.note(repeat=1 if args.small else 3), flush=True)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        print(f"members={n_members:,} purchases={n_purchases:,}", flush=True)
        results["SQLite"] = run_backend(
            "SQLite", f"sqlite:///{Path(tmp) / 'bench.db'}", n_members, n_purchases
        )
    try:
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        db = f"loyalty_bench_{secrets.token_hex(4)}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{db}"'))
        try:
            results["PostgreSQL"] = run_backend(
                "PostgreSQL", PG_ADMIN.rsplit("/", 1)[0] + "/" + db, n_members, n_purchases
            )
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
    except Exception as exc:  # no server: print SQLite only, say why
        print(f"PostgreSQL skipped: {str(exc).splitlines()[0]}", file=sys.stderr)
    cols = list(results)
    print()
    print(f"{'measure':<44}" + "".join(f"{c:>14}" for c in cols) + f"{'target':>12}")
    rows = [
        ("purchases/s, 3-line basket, 1 txn each", "single", f"{TARGET_PURCHASES:,.0f}/s", "{:,.0f}"),
        ("purchases/s, batches of 100, 1 txn each", "batch", "-", "{:,.0f}"),
        ("purchases/s, set-based batch of one each", "batch_of_one", "-", "{:,.0f}"),
        (f"expiry job, {n_members:,} members (s)", "expire", f"≤{TARGET_JOB_S:.0f}s", "{:.2f}"),
        (f"tier evaluation, {n_members:,} members (s)", "tiers", f"≤{TARGET_JOB_S:.0f}s", "{:.2f}"),
        ("  members moved (worst case: nearly all)", "moved", "", "{:,.0f}"),
        ("tier evaluation a month on (s)", "month", f"≤{TARGET_JOB_S:.0f}s", "{:.2f}"),
        ("  members moved (routine: window left them)", "month_moved", "", "{:,.0f}"),
    ]
    for label, key, target, fmt in rows:
        print(f"{label:<44}" + "".join(f"{fmt.format(results[c][key]):>14}" for c in cols) + f"{target:>12}")
    print(
        f"{'ratio to target (purchases/s, 1 txn)':<44}"
        + "".join(f"{results[c]['single'] / TARGET_PURCHASES:>14.2f}" for c in cols)
    )
    print(
        f"{'till batch of one / sale alone':<44}"
        + "".join(f"{results[c]['batch_of_one'] / results[c]['single']:>14.2f}" for c in cols)
    )
    print(
        f"{'ratio to target (expiry, tiers)':<44}"
        + "".join(
            f"{TARGET_JOB_S / results[c]['expire']:>7.2f}/{TARGET_JOB_S / results[c]['tiers']:<6.2f}"
            for c in cols
        )
    )
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (RSS): {peak_mib:,.0f} MiB")
    print(machine.note(repeat=1 if args.small else 3, when="after"), flush=True)


if __name__ == "__main__":
    main()
