"""The demo chain's coupon campaigns: coupons issued to RFM segments, and some of them used.

Once the members are scored, three campaigns run as a marketer would run them (`services.offers`):

- 回归券 满100减20, to the members to win back (重要/一般挽留客户; at risk and about to sleep in the
  quintile scheme), 30 days to use it;
- 会员专享 咖啡九折 (10 % off coffee, at most ¥30), to the high-value and the ones to keep
  (重要价值/保持客户; champions and loyal);
- 下单返券 满200减30, a next-order coupon to the members to develop (重要/一般发展客户; new and
  promising), usable 7 days after it is issued (the return window) for 30 days.

A chain-wide promotion (冬季满减 满300减30, no coupon needed) runs from the same day. The coupons are
issued three weeks before today; over the days since, about a third of the holders
come back and use theirs on a purchase posted through the till's path (`purchases.post_purchase`,
the clock set to the sale's time), so the history, the statements and the offers' counters show them
used. Everything is seeded: the same chain gets the same campaign.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import select

from loyalty.bootstrap import Context, FrozenClock
from loyalty.db.analytics_tables import member_scores
from loyalty.db.core_tables import members
from loyalty.domain.actors import Actor

DEMO_ACTOR = Actor(kind="system", id="demo", role="system")
#: most holders a campaign reaches, so that the demo stays quick at any size
MAX_HOLDERS = 400


@dataclass(frozen=True)
class Campaign:
    offer: dict[str, Any]
    segments: tuple[str, ...]
    activation_days: int = 0
    validity_days: int = 30


CAMPAIGNS: tuple[Campaign, ...] = (
    Campaign(
        {
            "code": "win-back-100-20",
            "name": "回归券 满100减20",
            "kind": "ladder",
            "steps": [{"over": 100, "off": 20}],
        },
        ("win_back", "general_win_back", "at_risk", "about_to_sleep"),
    ),
    Campaign(
        {
            "code": "vip-coffee-10",
            "name": "会员专享 咖啡九折",
            "kind": "percent_off",
            "percent": 10,
            "max_discount": "30",
            "when": {"categories": ["咖啡"]},
        },
        ("high_value", "retain", "champions", "loyal"),
    ),
    Campaign(
        {
            "code": "next-order-200-30",
            "name": "下单返券 满200减30",
            "kind": "ladder",
            "steps": [{"over": 200, "off": 30}],
        },
        ("develop", "general_develop", "new", "promising"),
        activation_days=7,
    ),
)
#: a promotion for everyone, without a coupon, on the sales of tills that price with the programme
PROMOTION = {
    "code": "winter-300-30",
    "name": "冬季满减 满300减30",
    "kind": "ladder",
    "steps": [{"over": 300, "off": 30}],
    "automatic": True,
    "group": "site",
}
#: what a returning holder buys: (sku, category, unit price in fen)
BASKET = (
    ("LATTE", "咖啡", 3_200),
    ("CROISSANT", "烘焙", 1_800),
    ("BEANS-500G", "咖啡", 9_800),
    ("GIFTBOX", "礼盒", 16_800),
)


def run_campaigns(ctx: Context, *, seed: int = 11, days_ago: int = 21) -> dict[str, int]:
    """Issue the campaigns' coupons `days_ago` days back and post the purchases that use some of
    them; how many coupons each campaign issued and how many were used."""
    from loyalty.services.offers.book import OfferLimits, define_offer
    from loyalty.services.offers.coupons import issue_coupons

    rng = np.random.default_rng(seed)
    now = ctx.clock
    today = ctx.now()
    issued_at = today - timedelta(days=days_ago)
    counts: dict[str, int] = {"issued": 0, "used": 0}
    try:
        ctx.clock = FrozenClock(issued_at)
        define_offer(ctx, PROMOTION, actor=DEMO_ACTOR)  # the chain-wide 满减, running since then
        for campaign in CAMPAIGNS:
            ctx.clock = FrozenClock(issued_at)  # each campaign issued the same day (its sales move it)
            holders = _holders(ctx, campaign.segments, rng)
            if not holders:
                continue
            limits = OfferLimits(
                activation_days=campaign.activation_days, validity_days=campaign.validity_days
            )
            define_offer(ctx, campaign.offer, limits=limits, actor=DEMO_ACTOR)
            issued = issue_coupons(ctx, campaign.offer["code"], member_ids=[m for m, _ in holders])
            counts["issued"] += len(issued.codes)
            counts["used"] += _use_some(ctx, campaign, holders, issued.codes, issued_at, today, rng)
    finally:
        ctx.clock = now
    return counts


def _holders(ctx: Context, segments: Sequence[str], rng: np.random.Generator) -> list[tuple[int, int]]:
    """(member id, registration store id) of up to `MAX_HOLDERS` scored members of `segments`."""
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            select(member_scores.c.member_id, members.c.registration_store_id)
            .join(members, members.c.id == member_scores.c.member_id)
            .where(member_scores.c.segment.in_(segments), members.c.status == "active")
            .order_by(member_scores.c.member_id)
        ).all()
    chosen = [(int(r.member_id), int(r.registration_store_id or 0)) for r in rows]
    if len(chosen) > MAX_HOLDERS:
        picks = rng.choice(len(chosen), MAX_HOLDERS, replace=False)
        chosen = [chosen[i] for i in sorted(picks.tolist())]
    return chosen


def _use_some(
    ctx: Context,
    campaign: Campaign,
    holders: list[tuple[int, int]],
    codes: Sequence[str],
    issued_at: datetime,
    until: datetime,
    rng: np.random.Generator,
) -> int:
    """A third of the holders come back within the coupon's life and use it; how many did."""
    from loyalty.domain.errors import DomainError
    from loyalty.services import merchants, purchases
    from loyalty.services.schemas import PurchaseIn, PurchaseLineIn

    stores = {s.id: s for s in merchants.list_stores(ctx)}
    if not stores:
        return 0
    first_day = issued_at + timedelta(days=campaign.activation_days)
    span = max(1, int((until - first_day).total_seconds() // 86_400))
    used = 0
    for (member_id, store_id), code in zip(holders, codes, strict=True):
        if rng.random() > 1 / 3:
            continue
        store = stores.get(store_id) or next(iter(stores.values()))
        zone = ZoneInfo(store.timezone)
        day = (first_day + timedelta(days=int(rng.integers(0, span)))).astimezone(zone).date()
        at = datetime.combine(day, time(int(rng.integers(9, 21)), int(rng.integers(0, 60))), zone)
        if at >= until or at < first_day:
            continue
        lines = [
            PurchaseLineIn(
                sku=sku, category=category, quantity=int(rng.integers(1, 4)), unit_price_minor=price
            )
            for sku, category, price in BASKET
            if rng.random() < 0.6
        ] or [PurchaseLineIn(sku="BEANS-500G", category="咖啡", quantity=2, unit_price_minor=9_800)]
        ctx.clock = FrozenClock(at + timedelta(seconds=5))
        sale = PurchaseIn(
            store_id=store.id,
            order_id=f"CPN-{campaign.offer['code']}-{member_id}",
            occurred_at=at,
            member_id=member_id,
            lines=lines,
            coupon_codes=[code],
            apply_promotions=True,
            staff=f"{store.code}-C{member_id % 4 + 1}",  # one of the store's cashiers (`demo.generator`)
        )
        try:
            result = purchases.post_purchase(ctx, sale, actor=DEMO_ACTOR)
        except DomainError:
            continue  # a member merged or erased since they were scored: their coupon stays unused
        used += bool(result.coupons)
    return used
