"""Earning rules give the same points on every posting path: the live routine (one sale at a time)
and the set-based routine (an import's batches) leave identical purchases, lines, per-rule entries and
ledgers, on SQLite and PostgreSQL, with a programme exercising every rule kind (member day, birthday
week, hours in the store's zone, store and channel scope, minimum spend, purchase numbers, visit
streaks, brands, stop, exclude) and a rule changed half-way (versions in force at each sale's time)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
from sqlalchemy import text, update

from loyalty.bootstrap import Context, FrozenClock
from loyalty.db.core_tables import members
from loyalty.services import purchases
from loyalty.services.earning_rules.book import define_rules, list_rules
from tests.imports.test_bulk_equivalence import (
    NOW,
    TABLES,
    _add_members,
    _batch,
    _post_both,
    _scenario,
    _slice,
    _store_ids,
    assert_same_ledger,
    pair,
)

__all__ = ["pair"]

START = NOW - timedelta(days=420)  # before the scenario's first sale
CHANGE = NOW - timedelta(days=100)

PROGRAMME = [
    {"code": "member-day", "kind": "multiplier", "multiplier_pct": 200,
     "when": {"member_day": {"days_of_month": [8], "nth_weekdays": [{"weekday": "fri", "n": "last"}]}}},
    {"code": "coffee-morning", "kind": "bonus_per_unit", "points_per_unit": 2, "priority": 10, "stop": True,
     "when": {"categories": ["coffee", "咖啡"], "hours": "06:00-12:00"}},
    {"code": "birthday-week", "kind": "fixed_bonus", "points": 300,
     "when": {"birthday": "week", "min_spend": "20"}},
    {"code": "shanghai-store", "kind": "multiplier", "multiplier_pct": 150,
     "when": {"stores": ["EQ-SH"], "channels": ["store"]}},
    {"code": "big-basket", "kind": "fixed_bonus", "points": 50, "when": {"min_spend": "300"}},
    {"code": "capped", "kind": "bonus_per_unit", "points_per_unit": 3, "priority": 60,
     "limits": {"per_member": {"points": 400, "per": "month"}, "budget": {"points": 9000, "per": "week",
                "per_store": True}}},
    {"code": "budgeted", "kind": "fixed_bonus", "points": 40, "priority": 61,
     "limits": {"budget": {"points": 2000}}},
    {"code": "first-purchase", "kind": "fixed_bonus", "points": 88, "when": {"purchase_number": {"n": 1}}},
    {"code": "every-third", "kind": "fixed_bonus", "points": 33,
     "when": {"purchase_number": {"every": 3, "per": "month"}}},
    {"code": "second-this-week", "kind": "bonus_per_unit", "points_per_unit": 1,
     "when": {"purchase_number": {"n": 2, "per": "week"}}},
    {"code": "two-weeks-running", "kind": "fixed_bonus", "points": 25,
     "when": {"visit_streak": {"periods": 2, "per": "week"}}},
    {"code": "house-brand", "kind": "bonus_per_unit", "points_per_unit": 2, "priority": 55,
     "when": {"brands": ["house", "星巴克"]}},
    {"code": "no-acme", "kind": "exclude", "when": {"brands": ["ACME"], "categories": ["coffee"]}},
    {"code": "no-gift-cards", "kind": "exclude", "when": {"categories": ["gift_card"]}},
]  # fmt: skip
CHANGED = [{"code": "big-basket", "kind": "fixed_bonus", "points": 80, "when": {"min_spend": "250"}}]


def _define(ctx: Context) -> None:
    """The programme from START, the change from CHANGE (the clock moved so neither is backdated)."""
    clock = ctx.clock
    try:
        ctx.clock = FrozenClock(START)
        define_rules(ctx, PROGRAMME)
        ctx.clock = FrozenClock(CHANGE)
        define_rules(ctx, CHANGED)
    finally:
        ctx.clock = clock


def _birthdays(ctx: Context, ids: list[int], rng: np.random.Generator) -> None:
    with ctx.engine.begin() as conn:
        for mid in ids:
            born = date(1990, 1, 1) + timedelta(days=int(rng.integers(0, 366)))
            conn.execute(update(members).where(members.c.id == mid).values(birthday=born))


def test_rules_earn_the_same_live_and_set_based(pair: tuple[Context, Context]) -> None:
    bulk, live = pair
    for ctx in pair:
        _define(ctx)
    assert [v.version for v in list_rules(bulk) if v.spec.code == "big-basket"] == [2]
    store_ids = _store_ids(bulk)
    ids = _add_members(bulk, 10, "PR", [0, 400])
    assert ids == _add_members(live, 10, "PR", [0, 400])
    _birthdays(bulk, ids, np.random.default_rng(5))
    _birthdays(live, ids, np.random.default_rng(5))
    rng = np.random.default_rng(17)
    orders = _scenario(store_ids, ids, rng, 260, anonymous=0.1, channels=True, brands=True)
    batch = _batch(orders, "R")
    purchases.post_purchases(bulk, _slice(batch, 0, 20).items())  # history posted live on both sides
    purchases.post_purchases(live, _slice(batch, 0, 20).items())
    _post_both(bulk, live, _slice(batch, 20, len(batch)), cut=[60, 150])
    assert "purchase_line_rules" not in TABLES  # compared here, beside the shared ledger dump
    assert_same_ledger(bulk, live)
    dumps = []
    for ctx in pair:
        with ctx.engine.connect() as conn:
            dumps.append(conn.execute(text("SELECT * FROM purchase_line_rules ORDER BY 1, 2, 3")).all())
    assert dumps[0] == dumps[1]
    # Every rule gave points somewhere (the test would prove nothing otherwise), both versions of the
    # changed one included; the points of a line are its base and its entries.
    with bulk.engine.connect() as conn:
        used = set(
            conn.execute(
                text(
                    "SELECT r.code, r.version FROM purchase_line_rules e "
                    "JOIN earning_rules r ON r.id = e.rule_id"
                )
            ).all()
        )
        lines = conn.execute(
            text(
                "SELECT l.points, coalesce(sum(e.points), 0) FROM purchase_lines l "
                "LEFT JOIN purchase_line_rules e ON e.purchase_id = l.purchase_id AND e.line_no = l.line_no "
                "GROUP BY l.purchase_id, l.line_no, l.points"
            )
        ).all()
        gift = conn.execute(
            text(
                "SELECT e.points FROM purchase_line_rules e JOIN purchase_lines l "
                "ON l.purchase_id = e.purchase_id AND l.line_no = e.line_no WHERE l.category = 'gift_card'"
            )
        ).all()
        coffee = conn.execute(
            text(
                "SELECT l.brand = 'ACME', l.points FROM purchase_lines l "
                "JOIN purchases p ON p.id = l.purchase_id "
                "WHERE l.category = 'coffee' AND p.member_id IS NOT NULL AND l.brand IS NOT NULL"
            )
        ).all()
        house = conn.execute(
            text(
                "SELECT DISTINCT l.brand FROM purchase_line_rules e JOIN earning_rules r ON r.id = e.rule_id "
                "JOIN purchase_lines l ON l.purchase_id = e.purchase_id AND l.line_no = e.line_no "
                "WHERE r.code = 'house-brand'"
            )
        ).all()
    codes = {code for code, _ in used}
    assert codes == {p["code"] for p in PROGRAMME} - {"no-gift-cards", "no-acme"}
    # ACME's coffee is excluded by brand and category together (no points at all), other brands' not
    assert {points for acme, points in coffee if acme} == {0}
    assert any(points > 0 for acme, points in coffee if not acme)
    assert {brand for (brand,) in house} == {"house", "星巴克"}  # a brand rule gives on its brands only
    assert {("big-basket", 1), ("big-basket", 2)} <= used
    assert all(total >= extra for total, extra in lines)
    assert gift == []
    with bulk.engine.connect() as conn:  # the limits bound (else they were not tested)
        usage = conn.execute(text("SELECT rule_code, subject_kind, points FROM rule_usage")).all()
        given = dict(
            conn.execute(
                text(
                    "SELECT r.code, sum(e.points) FROM purchase_line_rules e "
                    "JOIN earning_rules r ON r.id = e.rule_id GROUP BY r.code"
                )
            ).all()
        )
    assert ("capped", "member", 400) in usage
    assert ("budgeted", "chain", 2000) in usage
    assert given["budgeted"] == 2000
    assert given["capped"] == sum(p for code, kind, p in usage if code == "capped" and kind == "member")
    for ctx in pair:
        with ctx.engine.connect() as conn:
            dumps.append(conn.execute(text("SELECT * FROM rule_usage ORDER BY 1, 2, 3, 4, 5")).all())
    assert dumps[-1] == dumps[-2]
