"""The demo chain's earning rules: a believable café programme, in force from the start of its history.

Member day on the 8th (double points), double points in the birthday month, 1.5× on bakery, extra
points on gift boxes, and a bonus for a basket of ¥200 or more — so the imported history, the statement
and the quote all show rules at work. The demo chain adds a visit streak (`DEMO_STREAK`: four weeks in
a row), kept apart so that the import benchmark's programme stays what it measured. The rules are
defined as a marketer would (`earning_rules.book`), dated to the first day of the generated history so
that every sale in it is earned by them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from loyalty.bootstrap import Context, FrozenClock

DEMO_RULES: list[dict[str, Any]] = [
    {
        "code": "member-day",
        "name": "会员日双倍积分（每月 8 日）",
        "kind": "multiplier",
        "multiplier_pct": 200,
        "priority": 20,
        "when": {"member_day": {"days_of_month": [8]}},
    },
    {
        "code": "birthday-month",
        "name": "生日月双倍积分",
        "kind": "multiplier",
        "multiplier_pct": 200,
        "priority": 30,
        "when": {"birthday": "month"},
    },
    {
        "code": "bakery",
        "name": "烘焙 1.5 倍积分",
        "kind": "multiplier",
        "multiplier_pct": 150,
        "priority": 40,
        "when": {"categories": ["烘焙"]},
    },
    {
        "code": "gift-boxes",
        "name": "礼盒每元加赠 2 积分",
        "kind": "bonus_per_unit",
        "points_per_unit": 2,
        "priority": 40,
        "when": {"categories": ["礼盒"]},
    },
    {
        "code": "big-basket",
        "name": "满 200 元赠 100 积分",
        "kind": "fixed_bonus",
        "points": 100,
        "priority": 50,
        "when": {"min_spend": "200"},
    },
]


#: the demo chain's regulars: a bonus every fourth week in a row with a purchase (连续到店奖励)
DEMO_STREAK: dict[str, Any] = {
    "code": "four-weeks-running",
    "name": "连续四周到店奖励 200 积分",
    "kind": "fixed_bonus",
    "points": 200,
    "priority": 60,
    "when": {"visit_streak": {"periods": 4, "per": "week"}},
}


def define_demo_programme(ctx: Context, since: date, extra: list[dict[str, Any]] | None = None) -> None:
    """Define `DEMO_RULES` (and `extra` rules) in force from `since` (the clock set there, so nothing is
    backdated)."""
    from loyalty.services.earning_rules.book import define_rules

    clock = ctx.clock
    try:
        ctx.clock = FrozenClock(datetime(since.year, since.month, since.day, tzinfo=UTC))
        define_rules(ctx, [*DEMO_RULES, *(extra or [])])
    finally:
        ctx.clock = clock
    give_tier_services(ctx)


#: what each tier of the café ladder gives beyond points (`domain.tier_services`): the cashier sees
#: them as badges on the member's card, the member on the portal's card
DEMO_TIER_SERVICES = {
    "silver": ["birthday_gift"],
    "gold": ["birthday_gift", "priority_service", "free_delivery"],
    "diamond": ["birthday_gift", "vip_lane", "priority_service", "free_delivery", "member_lounge"],
}


def give_tier_services(ctx: Context) -> None:
    """Set `DEMO_TIER_SERVICES` on the ladder's tiers (a tier the ladder lacks is left out)."""
    from loyalty.services.programme_settings import TierChanges, update_tier
    from loyalty.services.tiers import list_tiers

    for tier in list_tiers(ctx):
        services = DEMO_TIER_SERVICES.get(tier.code)
        if services is not None:
            update_tier(ctx, tier.id, TierChanges(services=services))
