"""A year of members' purchases for the analytics tests: enough repeat buyers, drop-outs and spend for
the BG/NBD and Gamma-Gamma models to fit, made through the services (as the tills would post them)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np

from loyalty.services import members, purchases
from loyalty.services.schemas import MemberIn, PurchaseIn, PurchaseLineIn


def buying_members(
    ctx: Any, store_id: int, *, count: int = 40, prefix: str = "AN", seed: int = 17
) -> list[int]:
    """`count` new members of `store_id`, each with 1–12 purchases over the last year (returns their ids).

    The default seed gives histories the purchase and spend models fit (a seed can give a degenerate
    fit, whose scores are then left empty, as a chain's would be)."""
    rng = np.random.default_rng(seed)
    # From noon a year ago: the same days whatever the hour the suite runs (a sale near midnight would
    # move to another day, and the models' fit with it).
    start = ctx.now().replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=365)
    ids = []
    for i in range(count):
        phone = f"+86139{seed:02d}{i:06d}"
        member = members.register_member(
            ctx, MemberIn(phone=phone, name=f"{prefix}{i}", registration_store_id=store_id)
        )
        ids.append(member.id)
        day = float(rng.uniform(0, 200))
        rate = float(rng.uniform(8, 60))  # mean days between visits
        alive_for = float(rng.exponential(250))
        k = 0
        while k == 0 or (day < 360 and day < alive_for and k < 12):
            price = int(rng.integers(20, 300)) * 100
            purchases.post_purchase(
                ctx,
                PurchaseIn(
                    store_id=store_id,
                    order_id=f"{prefix}-{i}-{k}",
                    occurred_at=start + timedelta(days=day, hours=2),
                    member_id=member.id,
                    currency="CNY",
                    lines=[PurchaseLineIn(sku="SKU-A", quantity=1, unit_price_minor=price)],
                ),
            )
            k += 1
            day += float(rng.exponential(rate))
    return ids
