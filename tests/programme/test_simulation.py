"""A draft programme replayed over past days, on both backends: the programme in force replayed over
its own sales gives exactly what they earned; a draft's points are what the rules say, per rule and
per day, with the sales it changes most; a bad draft or period is refused naming the field."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from loyalty.bootstrap import Context, FrozenClock
from loyalty.domain.errors import InvalidInput
from loyalty.services import members as members_service
from loyalty.services import merchants, purchases, seed
from loyalty.services.earning_rules.book import define_rules
from loyalty.services.earning_rules.simulation import simulate
from loyalty.services.schemas import MemberIn, PurchaseIn, PurchaseLineIn
from tests.core.conftest import clock, ctx

__all__ = ["clock", "ctx"]
DAY1 = datetime(2026, 3, 7, 3, 0, tzinfo=UTC)  # 11:00 on 7 March in Shanghai
IN_FORCE = [
    {
        "code": "member-day",
        "kind": "multiplier",
        "multiplier_pct": 200,
        "when": {"member_day": {"days_of_month": [8]}},
    },
    {"code": "spend-100", "kind": "fixed_bonus", "points": 50, "when": {"min_spend": "100"}},
]
DRAFT = [
    {
        "code": "coffee-x3",
        "name": "咖啡三倍",
        "kind": "multiplier",
        "multiplier_pct": 300,
        "when": {"categories": ["咖啡"]},
    },
    {"code": "no-gifts", "kind": "exclude", "when": {"categories": ["礼盒"]}},
]


def _post(
    ctx: Context, store: int, member: int, order: str, at: datetime, lines: list[tuple[str, int]]
) -> int:
    ctx.clock = FrozenClock(at)
    sale = PurchaseIn(
        store_id=store,
        member_id=member,
        order_id=order,
        occurred_at=at,
        lines=[PurchaseLineIn(sku=c, category=c, quantity=1, unit_price_minor=p) for c, p in lines],
    )
    return purchases.post_purchase(ctx, sale).points_earned


@pytest.fixture
def history(ctx: Context) -> tuple[Context, int, list[int]]:
    ctx.clock = FrozenClock(DAY1 - timedelta(days=30))
    seed.ensure_programme(ctx)
    store = merchants.list_stores(ctx)[0].id
    member = members_service.register_member(ctx, MemberIn(phone="+8613900077001", name="Sim")).id
    define_rules(ctx, IN_FORCE)
    earned = [
        _post(ctx, store, member, "S-1", DAY1, [("咖啡", 3_000), ("烘焙", 2_000)]),  # ¥50: base 50
        _post(
            ctx, store, member, "S-2", DAY1 + timedelta(hours=2), [("咖啡", 8_000), ("礼盒", 5_000)]
        ),  # ¥130
        _post(ctx, store, member, "S-3", DAY1 + timedelta(days=1), [("咖啡", 4_000)]),  # the 8th: ×2
    ]
    ctx.clock = FrozenClock(DAY1 + timedelta(days=10))
    return ctx, store, earned


def test_the_programme_in_force_replays_to_what_was_earned(history: tuple[Context, int, list[int]]) -> None:
    ctx, _store, earned = history
    assert earned == [50, 130 + 50, 80]
    same = simulate(ctx, {"rules": IN_FORCE}, date(2026, 3, 7), date(2026, 3, 8))
    assert (same.sales, same.points_actual, same.points_draft) == (3, sum(earned), sum(earned))
    assert same.changed == []


def test_a_draft_is_replayed_rule_by_rule_and_day_by_day(history: tuple[Context, int, list[int]]) -> None:
    ctx, store, _earned = history
    sim = simulate(ctx, {"rules": DRAFT}, date(2026, 3, 7), date(2026, 3, 8), store_id=store)
    # S-1: coffee 30 ×3 = 90, bakery 20 → 110; S-2: coffee 80 ×3 = 240, gift box excluded → 240;
    # S-3: coffee 40 ×3 = 120 (no member day in the draft)
    assert (sim.points_actual, sim.points_draft) == (310, 110 + 240 + 120)
    assert sim.spend_minor == 5_000 + 13_000 + 4_000
    effects = {e.code: (e.sales, e.points) for e in sim.rules}
    assert effects == {"coffee-x3": (3, 60 + 160 + 80), "no-gifts": (0, 0)}  # an exclusion lowers the base
    assert [(d.day, d.sales, d.points_actual, d.points_draft) for d in sim.days] == [
        (date(2026, 3, 7), 2, 230, 350),
        (date(2026, 3, 8), 1, 80, 120),
    ]
    assert [c.order_id for c in sim.changed] == ["S-1", "S-2", "S-3"]  # all moved by 60 or 40+
    nothing = simulate(ctx, {"rules": DRAFT}, date(2026, 3, 1), date(2026, 3, 2))
    assert (nothing.sales, nothing.points_draft, nothing.days) == (0, 0, [])


def test_a_bad_draft_or_period_is_refused_naming_the_field(history: tuple[Context, int, list[int]]) -> None:
    ctx, _store, _earned = history
    with pytest.raises(InvalidInput) as bad:
        simulate(
            ctx,
            {"rules": [{"code": "x", "kind": "multiplier", "multiplier_pct": 5}]},
            date(2026, 3, 7),
            date(2026, 3, 7),
        )
    assert bad.value.details["errors"][0]["field"].startswith("rules[0]")
    with pytest.raises(InvalidInput) as backwards:
        simulate(ctx, {"rules": DRAFT}, date(2026, 3, 8), date(2026, 3, 7))
    assert backwards.value.details["errors"][0]["field"] == "to"
    with pytest.raises(InvalidInput) as long:
        simulate(ctx, {"rules": DRAFT}, date(2025, 10, 1), date(2026, 3, 1))
    assert long.value.details["errors"][0]["field"] == "from"
