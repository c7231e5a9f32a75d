"""Store targets: each month's plan per metric, its stores' targets, and the chain's alert thresholds.

A plan is one version of a month's targets for one metric (`sales` and `member_sales`: net sales in
minor units of `currency`; `new_members`: sign-ups). Plans are never changed: a new breakdown, or a
target set by hand, writes a new plan with all its stores' rows and marks the one it replaces
`superseded_at` (and `replaced_by`), in one transaction, so the history of who set what and when is
kept whole. A partial unique index keeps one current plan per month and metric.

`store_targets` holds a plan's stores: the target, the figure the store's share was worked out from
(`basis`: its sales in the basis period; None for an equal split or a target typed by hand) and
whether it was typed by hand. `target_settings` is one row: the thresholds of the behind-target
alerts, when the chain changed them from their defaults.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from loyalty.db.base import metadata
from loyalty.db.core_tables import Id, UTCDateTime

METRICS = ("sales", "member_sales", "new_members")
METHODS = ("last_year", "trailing_12", "equal", "manual")

target_plans = Table(
    "target_plans",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    #: the month's first day
    Column("month", Date, nullable=False),
    Column("metric", String(20), nullable=False),
    #: how the stores' targets were made: a share of last year's month, of the trailing 12 months, an
    #: equal split, or typed by hand (`manual`)
    Column("method", String(20), nullable=False),
    #: the chain's target: the sum of its stores' (minor units of `currency`, or members)
    Column("chain_target", BigInteger, nullable=False),
    #: the currency of a money metric (None for new members)
    Column("currency", String(3), nullable=True),
    #: the stores' targets are multiples of this (1: the minor unit, or one member)
    Column("step", BigInteger, nullable=False),
    #: the business days the shares were taken from (None: equal split or by hand)
    Column("basis_start", Date, nullable=True),
    Column("basis_end", Date, nullable=True),
    #: why the method was chosen (a fallback's reason), as a stable code
    Column("reason", String(60), nullable=True),
    Column("note", Text, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    #: who made it ("staff:12", "system:cli") and their name when known
    Column("created_by", String(100), nullable=False),
    Column("creator_name", String(100), nullable=True),
    Column("superseded_at", UTCDateTime(), nullable=True),
    Column("replaced_by", Id, ForeignKey("target_plans.id"), nullable=True),
    CheckConstraint("metric IN ('sales', 'member_sales', 'new_members')", name="metric"),
    CheckConstraint("method IN ('last_year', 'trailing_12', 'equal', 'manual')", name="method"),
    CheckConstraint("chain_target >= 0", name="chain_target"),
    CheckConstraint("step >= 1", name="step"),
)
# One current plan per month and metric; the superseded ones are its history.
Index(
    "uq_target_plans_current",
    target_plans.c.month,
    target_plans.c.metric,
    unique=True,
    sqlite_where=target_plans.c.superseded_at.is_(None),
    postgresql_where=target_plans.c.superseded_at.is_(None),
)

store_targets = Table(
    "store_targets",
    metadata,
    Column("plan_id", Id, ForeignKey("target_plans.id"), primary_key=True),
    Column("store_id", Id, ForeignKey("stores.id"), primary_key=True),
    Column("target", BigInteger, nullable=False),
    Column("basis", BigInteger, nullable=True),
    Column("by_hand", Boolean, nullable=False),
    CheckConstraint("target >= 0", name="target"),
)

target_settings = Table(
    "target_settings",
    metadata,
    #: always 1: the chain's one row
    Column("id", Integer, primary_key=True, autoincrement=False),
    #: alert when progress trails the time elapsed by more than this many percentage points
    Column("behind_points", Integer, nullable=False),
    #: alert when the forecast falls below this percentage of the target
    Column("forecast_pct", Integer, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("updated_by", String(100), nullable=False),
    CheckConstraint("id = 1", name="single_row"),
    CheckConstraint("behind_points BETWEEN 0 AND 100", name="behind_points"),
    CheckConstraint("forecast_pct BETWEEN 0 AND 200", name="forecast_pct"),
)

TARGET_TABLES = (target_plans, store_targets, target_settings)
