"""Coupon use of a scope: how many coupons its stores' sales used and what they took off, by the
business day of the sale. A coupon given back by a full return no longer counts."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from sqlalchemy import Connection, func, select

from loyalty.db.core_tables import purchases
from loyalty.db.offer_tables import coupon_uses
from loyalty.services.kpis.local_days import as_date
from loyalty.services.kpis.scope import Scope


def daily_coupons(conn: Connection, scope: Scope) -> dict[date, tuple[int, int]]:
    """(uses, discount in minor units) per business day of the scope's sales."""
    out: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    for zone in scope.zones:
        if not zone.store_ids:
            continue
        used = (
            select(scope.day(purchases.c.occurred_at, zone).label("day"), coupon_uses.c.discount_minor)
            .join(purchases, purchases.c.id == coupon_uses.c.purchase_id)
            .where(
                purchases.c.store_id.in_(zone.store_ids),
                purchases.c.occurred_at >= zone.lo,
                purchases.c.occurred_at < zone.hi,
                coupon_uses.c.released_at.is_(None),
            )
            .subquery()
        )
        for day, n, off in conn.execute(
            select(used.c.day, func.count(), func.sum(used.c.discount_minor)).group_by(used.c.day)
        ):
            got = out[as_date(day)]
            got[0] += int(n)
            got[1] += int(off or 0)
    return {d: (v[0], v[1]) for d, v in out.items()}
