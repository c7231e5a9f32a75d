"""Churn: one row per churn run, and every scored member's churn probability and next purchase date.

`churn_runs` keeps what a run found and how well it did: the horizon and cutoffs, the out-of-time
check (the model's AUC beside 1 − P(alive)'s and recency's, the ROC curves on a fixed grid, the
permutation importances, the next purchase date's error beside the member's own rhythm's) or why there
is none, so the console and the API show a run without recomputing it. `member_churn` holds each
member's scores of the latest run (replaced by each run, in the same transaction as its run row), for
segments, campaigns and the call-back list: the churn probability in the horizon, P(alive), the
purchases expected in the horizon, the next purchase date and the value at risk (minor units).
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Date, Float, ForeignKey, Index, Integer, String, Table, Text

from loyalty.db.base import metadata
from loyalty.db.core_tables import Id, UTCDateTime

churn_runs = Table(
    "churn_runs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("computed_at", UTCDateTime(), nullable=False, index=True),
    #: the business day scored ("now")
    Column("as_of", Date, nullable=False),
    Column("horizon_days", Integer, nullable=False),
    Column("seed", Integer, nullable=False),
    Column("members", Integer, nullable=False),
    Column("currency", String(3), nullable=False),
    #: the model scoring the members was trained on the members of this day (as_of − horizon)
    Column("train_cutoff", Date, nullable=False),
    Column("train_members", Integer, nullable=False),
    Column("train_churn_rate", Float, nullable=False),
    #: the out-of-time check: trained at validation_train_cutoff, scored at validation_cutoff
    Column("validation_train_cutoff", Date, nullable=True),
    Column("validation_cutoff", Date, nullable=True),
    Column("validation_members", Integer, nullable=True),
    Column("validation_churned", Integer, nullable=True),
    Column("auc_model", Float, nullable=True),
    Column("auc_p_alive", Float, nullable=True),
    Column("auc_recency", Float, nullable=True),
    #: [{"fpr", "model", "p_alive", "recency"}] on the ROC grid
    Column("roc", JSON, nullable=True),
    #: [{"feature", "importance", "std"}], biggest first
    Column("importances", JSON, nullable=True),
    #: NextPurchaseCheck.to_dict()
    Column("next_purchase", JSON, nullable=True),
    #: the seconds the model's fits took: {"model", "p_alive"} (validation) and "fit" (the model used)
    Column("timings", JSON, nullable=False),
    #: why there is no out-of-time check ("history", "one_class"); null when there is one
    Column("problem", String(32), nullable=True),
    #: why there is no P(alive) or next purchase date (the purchase model could not be fitted)
    Column("purchase_problem", Text, nullable=True),
    #: the features and the booster's settings
    Column("settings", JSON, nullable=False),
)

member_churn = Table(
    "member_churn",
    metadata,
    Column("member_id", Id, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    Column("run_id", Id, ForeignKey("churn_runs.id"), nullable=False),
    Column("churn_probability", Float, nullable=False),
    Column("p_alive", Float, nullable=True),
    Column("expected_purchases", Float, nullable=True),
    Column("next_purchase_on", Date, nullable=True),
    Column("recency_days", Integer, nullable=False),
    Column("yearly_spend_minor", BigInteger, nullable=False),
    Column("value_at_risk_minor", BigInteger, nullable=False),
    Index("ix_member_churn_value_at_risk", "value_at_risk_minor"),
)

CHURN_TABLES = (churn_runs, member_churn)
