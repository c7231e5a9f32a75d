"""Kill -9 a bulk posting mid-way, run it again: every purchase is posted exactly once, totals exact."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

from sqlalchemy import func, select

from loyalty.bootstrap import Context
from loyalty.db.core_tables import purchases
from loyalty.services import members, points, seed
from loyalty.services.schemas import MemberIn

N = 400

SCRIPT = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime
    from loyalty.bootstrap import Context, FrozenClock
    from loyalty.db.engine import make_engine
    from loyalty.services import purchases
    from loyalty.services.schemas import PurchaseIn, PurchaseLineIn

    url, store_id, member_id, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    ctx = Context(engine=make_engine(url), clock=FrozenClock(datetime(2026, 1, 5, tzinfo=UTC)))
    for i in range(n):
        purchases.post_purchase(ctx, PurchaseIn(
            store_id=store_id, order_id=f"bulk-{i}", occurred_at=ctx.now(), member_id=member_id,
            lines=[PurchaseLineIn(sku="a", category="food", quantity=1, unit_price_minor=1000 + i),
                   PurchaseLineIn(sku="b", category="food", quantity=2, unit_price_minor=550),
                   PurchaseLineIn(sku="c", category="tobacco", quantity=1, unit_price_minor=3000)]))
        if i % 20 == 0:
            print(i, flush=True)
    print("done", flush=True)
    """
)


def _expected_points() -> int:
    """Independent re-computation: tiers rise with cumulative spend, the multiplier applies per order."""
    tiers = [(5_000_000, 200), (1_000_000, 150), (200_000, 120), (0, 100)]
    spent = total = 0
    mult = 100
    for i in range(N):
        eligible = 1000 + i + 1100
        total += (1000 + i) * mult // 10_000 + 1100 * mult // 10_000
        spent += eligible + 3000
        mult = max(mult, next(m for t, m in tiers if spent >= t))
    _ = eligible
    return total


def _count(ctx: Context) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(purchases)).scalar_one())


def test_kill_minus_nine_then_rerun_converges(ctx: Context, db_url: str) -> None:
    ids = seed.ensure_programme(ctx)
    m = members.register_member(ctx, MemberIn(phone="13800138020", name="崩溃"))
    args = [sys.executable, "-c", SCRIPT, db_url, str(ids.store_id), str(m.id), str(N)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.strip().isdigit() and int(line) >= 60:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()  # reap it and close its pipe
    partial = _count(ctx)
    assert 0 < partial < N, "the kill must land mid-way"
    assert points.verify_ledger(ctx)["ok"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=240, check=True)
    assert "done" in done.stdout
    assert _count(ctx) == N
    expected = _expected_points()
    assert points.balance(ctx, m.id).balance == expected
    assert points.verify_ledger(ctx)["ok"]
