"""The demo's ratings (`loyalty.demo.feedback`): drawn from the seed, so the same chain gets the same
ratings; only members' recent sales not returned, each at the sale's store, once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from loyalty.bootstrap import Context, FrozenClock
from loyalty.config import Settings
from loyalty.db.core_tables import purchases
from loyalty.db.engine import make_engine
from loyalty.db.feedback_tables import feedback
from loyalty.db.migrate import upgrade
from loyalty.demo.feedback import rate_recent_sales
from tests.feedback.helpers import sell, shop

NOW = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)


def _chain(path: Path, seed: int) -> tuple[dict[str, int], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    clock = FrozenClock(NOW - timedelta(days=60))
    ctx = Context(engine=engine, settings=Settings(), clock=clock)
    s = shop(ctx)
    for day in range(60):
        clock.now = NOW - timedelta(days=60 - day)
        for i, member in enumerate((s.alice, s.bob, None)):
            sell(ctx, (s.store_a, s.store_b)[(day + i) % 2], member, staff=f"C{i}")
    clock.now = NOW
    made = rate_recent_sales(ctx, seed)
    assert rate_recent_sales(ctx, seed) == {"ratings": 0, "handled": 0}  # once
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                feedback.c.purchase_id,
                feedback.c.rating,
                feedback.c.comment,
                feedback.c.created_at,
                feedback.c.handled_at,
            ).order_by(feedback.c.purchase_id)
        ).all()
        checks = conn.execute(
            select(
                feedback.c.member_id == purchases.c.member_id,
                feedback.c.store_id == purchases.c.store_id,
                purchases.c.occurred_at,
                feedback.c.created_at,
            ).join(purchases, purchases.c.id == feedback.c.purchase_id)
        ).all()
    engine.dispose()
    return made, [tuple(r) for r in rows], [tuple(r) for r in checks]


def test_the_same_seed_rates_the_same_sales_alike(tmp_path: Path) -> None:
    made, rows, checks = _chain(tmp_path / "a.db", 7)
    again, same, _ = _chain(tmp_path / "b.db", 7)
    assert made == again
    assert rows == same
    assert 0 < made["ratings"] == len(rows) < 60 * 2  # a share of the members' sales only
    assert {r[1] for r in rows} <= {1, 2, 3, 4, 5}
    for own_member, own_store, sold_at, rated_at in checks:
        assert own_member
        assert own_store
        assert NOW - timedelta(days=30) <= sold_at.replace(tzinfo=UTC) <= rated_at.replace(tzinfo=UTC) <= NOW
    _, other, _ = _chain(tmp_path / "c.db", 8)
    assert other != rows
