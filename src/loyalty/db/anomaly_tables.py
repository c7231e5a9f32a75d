"""Anomaly detection: the chain's threshold rules, the flags a scan raises, and suspended redemptions.

`anomaly_rules` holds the rules a chain has changed from their defaults (`loyalty.analytics.anomalies.
rules.RULES`), one row per rule: whether it is on and its parameters. A rule without a row runs with its
defaults. `anomaly_flags` is the review queue: one row per suspicious subject (a member, or a staff
operator's manual adjustments) and kind, with the period it covers, its score (1 is the rule's line),
the reason as a code and the figures that fill it, and its review. While a flag is open a new scan
updates it instead of adding another: a partial unique index keeps one open flag per subject and kind.
`redemption_suspensions` lists the members whose points may not be redeemed (a reviewer confirmed a
flag and suspended them); lifting one deletes its row, and both are in the audit log.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
)

from loyalty.db.base import metadata
from loyalty.db.core_tables import Id, UTCDateTime

FLAG_STATUSES = ("open", "approved", "rejected")
SUBJECT_KINDS = ("member", "staff")

anomaly_rules = Table(
    "anomaly_rules",
    metadata,
    #: the rule's code (`loyalty.analytics.anomalies.rules.RULES`)
    Column("code", String(40), primary_key=True),
    Column("enabled", Boolean, nullable=False),
    #: {parameter: number}, every parameter of the rule
    Column("params", JSON, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    #: who changed it last ("staff:12", "cli")
    Column("updated_by", String(100), nullable=False),
)

anomaly_flags = Table(
    "anomaly_flags",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("subject_kind", String(10), nullable=False),
    #: "member:42" or "staff:staff:7" (the operator as the ledger records it): one key for both kinds
    Column("subject", String(120), nullable=False),
    Column("member_id", Id, ForeignKey("members.id"), nullable=True),
    #: the operator of the manual adjustments (`transfers.operator`) of a staff flag
    Column("operator", String(100), nullable=True),
    #: the rule or method that raised it (`RULES`' codes)
    Column("kind", String(40), nullable=False),
    #: the business days the finding covers, both included
    Column("period_start", Date, nullable=False),
    Column("period_end", Date, nullable=False),
    #: how far past the rule's line (1.0 is on it); the queue sorts by it
    Column("score", Float, nullable=False),
    #: the reason as a stable code and the figures that fill its words (`analytics.anomalies.words`)
    Column("reason_code", String(60), nullable=False),
    Column("params", JSON, nullable=False),
    Column("status", String(10), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    #: when a scan last found it (a rerun over an open flag updates it)
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("reviewed_by", String(100), nullable=True),
    Column("reviewer_name", String(100), nullable=True),
    Column("reviewed_at", UTCDateTime(), nullable=True),
    Column("note", Text, nullable=True),
    #: whether its approval suspended the member's redemptions
    Column("suspended", Boolean, nullable=False),
    CheckConstraint("status IN ('open', 'approved', 'rejected')", name="status"),
    CheckConstraint("subject_kind IN ('member', 'staff')", name="subject_kind"),
    CheckConstraint(
        "(subject_kind = 'member' AND member_id IS NOT NULL) OR "
        "(subject_kind = 'staff' AND operator IS NOT NULL)",
        name="subject",
    ),
    CheckConstraint("period_end >= period_start", name="period"),
    CheckConstraint(
        "(status = 'open' AND reviewed_at IS NULL) OR (status <> 'open' AND reviewed_at IS NOT NULL)",
        name="reviewed",
    ),
)
# One open flag per subject and kind: a rerun of a scan updates it (idempotent), whatever the period.
Index(
    "uq_anomaly_flags_open",
    anomaly_flags.c.subject,
    anomaly_flags.c.kind,
    unique=True,
    sqlite_where=anomaly_flags.c.status == "open",
    postgresql_where=anomaly_flags.c.status == "open",
)
Index("ix_anomaly_flags_status_id", anomaly_flags.c.status, anomaly_flags.c.id)
Index("ix_anomaly_flags_member", anomaly_flags.c.member_id)
Index("ix_anomaly_flags_subject_kind", anomaly_flags.c.subject, anomaly_flags.c.kind)

redemption_suspensions = Table(
    "redemption_suspensions",
    metadata,
    Column("member_id", Id, ForeignKey("members.id"), primary_key=True),
    #: the confirmed flag that led to it (None: suspended by hand)
    Column("flag_id", Id, ForeignKey("anomaly_flags.id"), nullable=True),
    Column("suspended_at", UTCDateTime(), nullable=False),
    Column("suspended_by", String(100), nullable=False),
    Column("note", Text, nullable=True),
)

ANOMALY_TABLES = (anomaly_rules, anomaly_flags, redemption_suspensions)
