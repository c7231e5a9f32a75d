"""Reading reward orders: one order, a member's orders, and a member's view of the catalogue."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, func, select

from loyalty.bootstrap import Context
from loyalty.db.core_tables import tiers
from loyalty.db.offer_tables import coupons
from loyalty.db.reward_tables import reward_orders, rewards
from loyalty.domain.errors import NotFound
from loyalty.services.common import member_row, read
from loyalty.services.offers.coupons import printed
from loyalty.services.rewards.catalog import list_rewards
from loyalty.services.rewards.model import CatalogueItem, RewardOrder

#: the most orders one read lists (a member's history; older ones through the ledger's statement)
MAX_LISTED = 500


def _query() -> Any:
    return (
        select(
            reward_orders,
            rewards.c.code.label("reward_code"),
            rewards.c.name.label("reward_name"),
            rewards.c.kind,
            coupons.c.code.label("coupon_code"),
        )
        .join(rewards, rewards.c.id == reward_orders.c.reward_id)
        .outerjoin(coupons, coupons.c.id == reward_orders.c.coupon_id)
    )


def order_of(row: Row[Any], balance_after: int | None = None) -> RewardOrder:
    return RewardOrder(
        id=row.id,
        reward_code=row.reward_code,
        reward_name=row.reward_name,
        kind=row.kind,
        member_id=row.member_id,
        store_id=row.store_id,
        points=row.points,
        status=row.status,
        coupon_code=printed(row.coupon_code) if row.coupon_code else None,
        redeem_transfer_id=row.redeem_transfer_id,
        refund_transfer_id=row.refund_transfer_id,
        created_at=row.created_at,
        created_by=row.created_by,
        updated_at=row.updated_at,
        balance_after=balance_after,
    )


def order_not_found(order_id: int) -> NotFound:
    return NotFound("REWARD_ORDER_NOT_FOUND", "no reward order {order_id}", {"order_id": order_id})


def read_order(conn: Connection, order_id: int, balance_after: int | None = None) -> RewardOrder:
    row = conn.execute(_query().where(reward_orders.c.id == order_id)).first()
    if row is None:
        raise order_not_found(order_id)
    return order_of(row, balance_after)


def get_order(ctx: Context, order_id: int) -> RewardOrder:
    """One order (REWARD_ORDER_NOT_FOUND)."""
    with read(ctx) as conn:
        return read_order(conn, order_id)


def member_orders(ctx: Context, member_id: int, *, limit: int = MAX_LISTED) -> list[RewardOrder]:
    """The member's orders, newest first (MEMBER_NOT_FOUND for an unknown member)."""
    with read(ctx) as conn:
        member_row(conn, member_id)
        rows = conn.execute(
            _query()
            .where(reward_orders.c.member_id == member_id)
            .order_by(reward_orders.c.id.desc())
            .limit(min(max(limit, 1), MAX_LISTED))
        ).all()
    return [order_of(r) for r in rows]


def held(conn: Connection, reward_id: int, member_id: int) -> int:
    """The member's orders of the reward that count against its limit (all but cancelled ones)."""
    return int(
        conn.execute(
            select(func.count())
            .select_from(reward_orders)
            .where(
                reward_orders.c.reward_id == reward_id,
                reward_orders.c.member_id == member_id,
                reward_orders.c.status != "cancelled",
            )
        ).scalar_one()
    )


def member_catalogue(ctx: Context, member_id: int, *, at: datetime | None = None) -> list[CatalogueItem]:
    """The rewards that can be ordered now, each at the member's tier's price, with how many more
    they may order; a reward exclusive to tiers the member is not in comes `locked`, with the names
    of the tiers it is for (the portal shows what it takes)."""
    offered = list_rewards(ctx, current=True, at=at)
    with read(ctx) as conn:
        m = member_row(conn, member_id)
        names = dict(conn.execute(select(tiers.c.code, tiers.c.name).order_by(tiers.c.rank)).tuples().all())
        tier_code = conn.execute(select(tiers.c.code).where(tiers.c.id == m.tier_id)).scalar()
        counts = {
            int(rid): int(n)
            for rid, n in conn.execute(
                select(reward_orders.c.reward_id, func.count())
                .where(reward_orders.c.member_id == member_id, reward_orders.c.status != "cancelled")
                .group_by(reward_orders.c.reward_id)
            )
        }
    out = []
    for r in offered:
        ordered = counts.get(r.id, 0)
        left = None if r.per_member_limit is None else max(r.per_member_limit - ordered, 0)
        for_tiers = [] if r.tiers is None else [names[c] for c in names if c in r.tiers]
        out.append(
            CatalogueItem(
                reward=r,
                price=r.price(tier_code),
                ordered=ordered,
                left_for_member=left,
                locked=not r.open_to(tier_code),
                tier_names=for_tiers,
            )
        )
    return out
