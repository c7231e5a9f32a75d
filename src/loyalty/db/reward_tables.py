"""Rewards members buy with points, and each order for one.

`rewards` holds a reward's terms (`domain.programme.rewards`): its price, prices per tier (JSON, tier
code → points), the units left (`stock`; NULL: unlimited), the limit per member and the period it can
be ordered in; a coupon reward names the offer whose coupon it gives. `reward_orders` is one order:
who, at which store, the points paid, its status, and the ledger transfers that spent the points and,
on cancellation, gave them back.

Stock is taken by a conditional update (`stock > 0`), and the CHECK `stock >= 0` is the backstop: no
number of racing orders takes a reward below zero.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

from loyalty.db.base import metadata
from loyalty.db.core_tables import Id, UTCDateTime

rewards = Table(
    "rewards",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("programme_id", Id, ForeignKey("programmes.id"), nullable=False),
    Column("code", String(40), nullable=False),
    Column("name", String(200), nullable=False),
    Column("description", String(1000), nullable=True),
    Column("kind", String(10), nullable=False),
    Column("points", Integer, nullable=False),
    #: tier code → points, for the tiers that pay another price than `points`
    Column("tier_prices", JSON, nullable=False),
    #: units left to order; None: unlimited
    Column("stock", Integer, nullable=True),
    Column("per_member_limit", Integer, nullable=True),
    Column("valid_from", UTCDateTime(), nullable=False),
    Column("valid_to", UTCDateTime(), nullable=True),
    #: a coupon reward's offer (`offers`): ordering it issues one of its coupons to the member's wallet
    Column("offer_id", Id, ForeignKey("offers.id"), nullable=True),
    #: the tier codes whose members alone may order it; None: every member (core_0027)
    Column("tiers", JSON, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("created_by", String(100), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("programme_id", "code", name="uq_rewards_code"),
    CheckConstraint("kind IN ('gift', 'coupon', 'service')", name="kind"),
    CheckConstraint("points > 0", name="points"),
    CheckConstraint("stock IS NULL OR stock >= 0", name="stock"),
    CheckConstraint("per_member_limit IS NULL OR per_member_limit > 0", name="per_member_limit"),
    CheckConstraint("(kind = 'coupon') = (offer_id IS NOT NULL)", name="coupon_offer"),
)

reward_orders = Table(
    "reward_orders",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("reward_id", Id, ForeignKey("rewards.id"), nullable=False),
    Column("member_id", Id, ForeignKey("members.id"), nullable=False),
    Column("store_id", Id, ForeignKey("stores.id"), nullable=False),
    Column("points", Integer, nullable=False),
    Column("status", String(10), nullable=False),
    #: the coupon a coupon reward issued
    Column("coupon_id", Id, ForeignKey("coupons.id"), nullable=True),
    #: the ledger transfer that spent the points, and the one that gave them back on cancellation
    Column("redeem_transfer_id", Id, ForeignKey("transfers.id"), nullable=False),
    Column("refund_transfer_id", Id, ForeignKey("transfers.id"), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("created_by", String(100), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    CheckConstraint("points > 0", name="points"),
    CheckConstraint(
        "status IN ('reserved', 'fulfilled', 'shipped', 'collected', 'cancelled')", name="status"
    ),
    CheckConstraint("(status = 'cancelled') = (refund_transfer_id IS NOT NULL)", name="refund"),
)
# The orders a member holds of a reward (the per-member limit), and a member's orders, newest first.
Index("ix_reward_orders_reward_member", reward_orders.c.reward_id, reward_orders.c.member_id)
Index("ix_reward_orders_member", reward_orders.c.member_id, reward_orders.c.id)

REWARD_TABLES = (rewards, reward_orders)
