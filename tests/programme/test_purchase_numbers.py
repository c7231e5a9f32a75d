"""Purchase numbers on both backends, posted live one sale at a time: the first purchase ever, the
first of each ISO week in the store's zone (Sunday 23:30 and Monday 00:30 in Shanghai are different
weeks), counted by time among the member's sales."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from loyalty.bootstrap import Context, FrozenClock
from loyalty.services import members, merchants, purchases, seed
from loyalty.services.earning_rules.book import define_rules
from loyalty.services.schemas import MemberIn, PurchaseIn, PurchaseLineIn
from tests.core.conftest import clock, ctx

__all__ = ["clock", "ctx"]

SUNDAY_LATE = datetime(2026, 1, 4, 15, 30, tzinfo=UTC)  # Sunday 23:30 in Shanghai


def _sale(store: int, member: int, order: str, at: datetime) -> PurchaseIn:
    lines = [PurchaseLineIn(sku="A", quantity=1, unit_price_minor=1_000)]
    return PurchaseIn(store_id=store, member_id=member, order_id=order, occurred_at=at, lines=lines)


def _store_with(ctx: Context, *rules: dict[str, Any]) -> int:
    """The programme seeded with `rules` in force from a month before the sales; the first store's id
    (Asia/Shanghai)."""
    seed.ensure_programme(ctx)
    now = ctx.clock
    ctx.clock = FrozenClock(SUNDAY_LATE - timedelta(days=30))
    define_rules(ctx, list(rules))
    ctx.clock = now
    return merchants.list_stores(ctx)[0].id


def test_first_ever_and_first_of_the_week(ctx: Context) -> None:
    store = _store_with(
        ctx,
        {"code": "first", "kind": "fixed_bonus", "points": 100, "when": {"purchase_number": {"n": 1}}},
        {
            "code": "week",
            "kind": "fixed_bonus",
            "points": 7,
            "when": {"purchase_number": {"n": 1, "per": "week"}},
        },
    )
    m = members.register_member(ctx, MemberIn(phone="+8613800000301", name="F")).id
    times = [SUNDAY_LATE, SUNDAY_LATE + timedelta(minutes=10), SUNDAY_LATE + timedelta(hours=1)]
    for i, at in enumerate(times):
        purchases.post_purchase(ctx, _sale(store, m, f"pn-{i}", at))
    with ctx.engine.connect() as conn:
        given = conn.execute(
            text(
                "SELECT p.order_id, r.code, e.points FROM purchase_line_rules e JOIN purchases p "
                "ON p.id = e.purchase_id JOIN earning_rules r ON r.id = e.rule_id ORDER BY 1, 2"
            )
        ).all()
    assert given == [("pn-0", "first", 100), ("pn-0", "week", 7), ("pn-2", "week", 7)]


def test_a_visit_streak_counts_days_in_a_row_in_the_stores_zone(ctx: Context) -> None:
    """Three days in a row, Shanghai's days: Monday 23:30 and Tuesday 00:30 there are two days (one
    in UTC); a second sale the same day is not the day's first; a day without a purchase breaks the
    streak, which starts again from one."""
    store = _store_with(
        ctx,
        {
            "code": "three-days",
            "kind": "fixed_bonus",
            "points": 30,
            "when": {"visit_streak": {"periods": 3, "per": "day"}},
        },
    )
    m = members.register_member(ctx, MemberIn(phone="+8613800000302", name="S")).id
    monday_late = SUNDAY_LATE + timedelta(days=1)  # Monday 23:30 in Shanghai
    times = {
        "mon": monday_late,
        "tue": monday_late + timedelta(hours=1),  # Tuesday 00:30: the second day in a row
        "tue-again": monday_late + timedelta(hours=12),
        "wed": monday_late + timedelta(days=1, hours=10),  # the third: the bonus
        "thu": monday_late + timedelta(days=2, hours=10),
        "sat": monday_late + timedelta(days=4, hours=10),  # Friday without a purchase: one again
        "sun": monday_late + timedelta(days=5, hours=10),
        "mon-2": monday_late + timedelta(days=6, hours=10),  # the third in a row again
    }
    for order, at in times.items():
        purchases.post_purchase(ctx, _sale(store, m, order, at))
    with ctx.engine.connect() as conn:
        given = conn.execute(
            text(
                "SELECT p.order_id FROM purchase_line_rules e "
                "JOIN purchases p ON p.id = e.purchase_id ORDER BY 1"
            )
        ).all()
    assert [row[0] for row in given] == ["mon-2", "wed"]
