"""Open flags made the product's way, for the tests of other areas (the API matrix, the console).

A flag needs activity that breaks a rule: here a ¥1 purchase today, scanned with the points-earned
line lowered to one point a day (the statistical methods off, so a scan of a small world is quick).
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

from loyalty.domain.actors import SYSTEM, Actor

_orders = itertools.count(1)
_phones = itertools.count(1)
LOW_LINE = {
    "points_earned": {"params": {"day": 1}},
    "robust_z": {"enabled": False},
    "isolation_forest": {"enabled": False},
}


def flag_for(ctx: Any, member_id: int, store_id: int) -> int:
    """The id of an open points-earned flag about `member_id` (made now, or the one already open)."""
    from loyalty.services import anomalies, purchases
    from loyalty.services.schemas import PurchaseIn, PurchaseLineIn

    rules = anomalies.get_rules(ctx)
    if rules["points_earned"]["day"] != 1 or rules.on("isolation_forest"):
        anomalies.set_rules(ctx, LOW_LINE, SYSTEM)
    now = ctx.now()
    purchases.post_purchase(
        ctx,
        PurchaseIn(
            store_id=store_id,
            order_id=f"FLAG-{member_id}-{next(_orders)}-{now.timestamp():.0f}",
            occurred_at=now,
            member_id=member_id,
            lines=[PurchaseLineIn(sku="flag", category="test", quantity=1, unit_price_minor=100)],
        ),
    )
    today = now.astimezone(ctx.settings.tz).date()
    anomalies.scan(ctx, today - timedelta(days=1), today)
    found = anomalies.list_flags(ctx, anomalies.FlagFilter(member_id=member_id, kind="points_earned"))
    assert found.items, "the scan raised no flag"
    return found.items[0].id


def fresh_flag(ctx: Any, store_id: int) -> tuple[int, int]:
    """(flag id, member id) of an open flag about a member registered for it at `store_id`."""
    from loyalty.services import members
    from loyalty.services.schemas import MemberIn

    member = members.register_member(
        ctx, MemberIn(phone=f"+86159{next(_phones):08d}", name="Flagged", registration_store_id=store_id)
    )
    return flag_for(ctx, member.id, store_id), member.id


def suspended_member(ctx: Any, store_id: int) -> int:
    """A member of `store_id` whose redemptions a confirmed flag suspended."""
    from loyalty.services import anomalies

    flag_id, member_id = fresh_flag(ctx, store_id)
    reviewer = Actor(kind="system", id="test", role="system")
    anomalies.review(ctx, flag_id, "approve", actor=reviewer, suspend=True)
    return member_id
