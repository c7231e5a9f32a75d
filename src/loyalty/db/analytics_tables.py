"""Analytics score tables: the latest scores per member, and every refresh's scores kept as history.

Segments and campaigns filter on ``member_scores``; ``member_score_history`` lets a report show how a
member's segment and value moved between refreshes. Money is integer minor units (``clv_minor``).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from loyalty.db.base import metadata
from loyalty.db.core_tables import (
    Id,  # the id type core uses (BIGINT, INTEGER on SQLite) so FKs match
    UTCDateTime,
)

member_scores = Table(
    "member_scores",
    metadata,
    Column("member_id", Id, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    Column("rfm_code", String(3), nullable=False),
    Column("segment", String(32), nullable=False),
    Column("recency_days", Integer, nullable=False),
    Column("frequency", Integer, nullable=False),
    Column("monetary_minor", BigInteger, nullable=False),
    Column("p_alive", Float, nullable=True),
    Column("expected_purchases", Float, nullable=True),
    Column("clv_minor", BigInteger, nullable=True),
    Column("model", String(16), nullable=False),
    Column("computed_at", DateTime(timezone=True), nullable=False),
    # the dashboards' sleeping members start from the high-value RFM groups (analytics_0003)
    Index("ix_member_scores_rfm_code", "rfm_code"),
)

member_score_history = Table(
    "member_score_history",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("member_id", Id, ForeignKey("members.id", ondelete="CASCADE"), nullable=False),
    Column("computed_at", DateTime(timezone=True), nullable=False),
    Column("rfm_code", String(3), nullable=False),
    Column("segment", String(32), nullable=False),
    Column("p_alive", Float, nullable=True),
    Column("expected_purchases", Float, nullable=True),
    Column("clv_minor", BigInteger, nullable=True),
    Index("ix_member_score_history_member_id_computed_at", "member_id", "computed_at"),
)

#: one row per refresh: when, which model, how many members, in which currency, and the model's
#: calibration/holdout check (the model fitted on the history up to `calibration_end`, its predicted
#: repeat purchases in the holdout weeks beside the actual ones, per calibration-frequency bucket and
#: week by week). The analyst's page draws its calibration chart from here: the check cannot be
#: recomputed from `member_scores`. `problem` says why there is no check (too little history).
analytics_refreshes = Table(
    "analytics_refreshes",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("computed_at", UTCDateTime(), nullable=False, index=True),
    Column("model", String(16), nullable=False),
    Column("members", Integer, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("calibration_end", Date, nullable=True),
    Column("holdout_weeks", Float, nullable=True),
    #: [{"bucket", "customers", "actual", "predicted"}]: mean repeat purchases in the holdout
    Column("holdout", JSON, nullable=True),
    #: [{"week", "actual", "predicted", "holdout"}]: cumulative repeat purchases (BG/NBD only)
    Column("tracking", JSON, nullable=True),
    #: the calibration fit's parameters (PARAMS.json's shape)
    Column("params", JSON, nullable=True),
    Column("problem", Text, nullable=True),
)

ANALYTICS_TABLES = (member_scores, member_score_history)
