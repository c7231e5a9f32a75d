"""The demo chain's rewards catalogue, and some orders: a thermos mug (cheaper for the upper tiers),
a coffee coupon and a free size-up, ordered by members who have the points, some already collected.
Through `services.rewards` with the clock at each order's time, so statements show the points spent."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
from sqlalchemy import select

from loyalty.bootstrap import Context, FrozenClock
from loyalty.db.core_tables import accounts, members
from loyalty.domain.actors import Actor
from loyalty.domain.programme.rewards import RewardTerms

DEMO_ACTOR = Actor(kind="system", id="demo", role="system")
#: the coffee coupon reward's offer (10 % off coffee, at most ¥20)
COFFEE_CODE = "reward-coffee-10"
COFFEE_OFFER: dict[str, object] = {
    "code": COFFEE_CODE,
    "name": "积分兑换 咖啡九折券",
    "kind": "percent_off",
    "percent": 10,
    "max_discount": "20",
    "when": {"categories": ["咖啡"]},
}


def catalogue(top_tiers: list[str]) -> list[RewardTerms]:
    return [
        RewardTerms(code="thermos-mug", name="保温杯", kind="gift", points=800, stock=200, per_member_limit=1,
                    tier_prices={t: 600 for t in top_tiers}, description="品牌保温杯，门店领取"),
        RewardTerms(code="coffee-coupon", name="咖啡九折券", kind="coupon", points=200,
                    offer_code=COFFEE_CODE),
        RewardTerms(code="size-up", name="免费升杯", kind="service", points=100, per_member_limit=4),
    ]  # fmt: skip


def stock_the_catalogue(
    ctx: Context, *, seed: int = 5, days_ago: int = 14, orders: int = 60
) -> dict[str, int]:
    """Define the catalogue `days_ago` days back and place up to `orders` orders since; counts."""
    from loyalty.domain.errors import DomainError
    from loyalty.services import tiers
    from loyalty.services.offers.book import define_offer
    from loyalty.services.rewards import catalog, redeem, settle

    rng = np.random.default_rng(seed)
    clock = ctx.clock
    start = ctx.now() - timedelta(days=days_ago)
    ladder = [t.code for t in tiers.list_tiers(ctx)]
    made = {"rewards": 0, "orders": 0}
    try:
        ctx.clock = FrozenClock(start)
        define_offer(ctx, COFFEE_OFFER, actor=DEMO_ACTOR)
        for terms in catalogue(ladder[-2:]):
            catalog.define_reward(ctx, terms, actor=DEMO_ACTOR)
            made["rewards"] += 1
        with ctx.engine.connect() as conn:
            rich = conn.execute(
                select(members.c.id, members.c.registration_store_id)
                .join(accounts, accounts.c.member_id == members.c.id)
                .where(accounts.c.balance >= 1_000, members.c.status == "active")
                .where(members.c.registration_store_id.is_not(None))
                .order_by(members.c.id)
            ).all()
        if not rich:
            return made
        picks = rng.choice(len(rich), min(orders, len(rich)), replace=False)
        codes = ["thermos-mug", "coffee-coupon", "size-up"]
        for n, i in enumerate(sorted(picks.tolist())):
            member_id, store_id = rich[i]
            ctx.clock = FrozenClock(start + timedelta(days=float(rng.uniform(0.1, days_ago - 0.1))))
            try:
                order = redeem.redeem(
                    ctx, int(member_id), codes[n % 3], store_id=int(store_id), actor=DEMO_ACTOR
                )
            except DomainError:
                continue  # short of points now, or a limit: as a real member would be told
            made["orders"] += 1
            if order.status == "reserved" and rng.random() < 0.6:
                settle.fulfil(ctx, order.id, "collected", actor=DEMO_ACTOR)
    finally:
        ctx.clock = clock
    return made
