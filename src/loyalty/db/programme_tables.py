"""The programme engine's tables: earning rules as versioned data, and what each rule gave each line.

`earning_rules` keeps every version of every rule of a programme with the period it is in force
[effective_from, effective_to); a change writes a new version and closes the previous one at the new
one's start, so a sale is always earned by the rules in force at its time and no change rewrites
history. `purchase_line_rules` records, per purchase line, the points each rule added to the line's
base points (the base is the line's points less these), for the statement's "why". `rule_usage`
counts what a limited rule has given per member, store or chain and period.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
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

earning_rules = Table(
    "earning_rules",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("programme_id", Id, ForeignKey("programmes.id"), nullable=False),
    Column("code", String(40), nullable=False),
    Column("version", Integer, nullable=False),
    Column("name", String(200), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("priority", Integer, nullable=False),
    #: the rule as defined (`domain.programme.rules.RuleSpec.as_dict`): what the engine evaluates
    Column("definition", JSON, nullable=False),
    Column("effective_from", UTCDateTime(), nullable=False),
    Column("effective_to", UTCDateTime(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("created_by", String(100), nullable=False),
    UniqueConstraint("programme_id", "code", "version", name="uq_earning_rules_version"),
    CheckConstraint("version > 0", name="version"),
    CheckConstraint(
        "kind IN ('multiplier', 'bonus_per_unit', 'fixed_bonus', 'exclude', 'event_bonus')", name="kind"
    ),
    CheckConstraint("effective_to IS NULL OR effective_to >= effective_from", name="period"),
)
Index("ix_earning_rules_programme_code", earning_rules.c.programme_id, earning_rules.c.code)

purchase_line_rules = Table(
    "purchase_line_rules",
    metadata,
    Column("purchase_id", Id, ForeignKey("purchases.id"), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("rule_id", Id, ForeignKey("earning_rules.id"), primary_key=True),
    Column("points", BigInteger, nullable=False),
    CheckConstraint("points > 0", name="points"),
    sqlite_with_rowid=False,
)

#: what each limited rule has given under each key in each period (`domain.programme.limits`)
rule_usage = Table(
    "rule_usage",
    metadata,
    Column("programme_id", Id, ForeignKey("programmes.id"), primary_key=True),
    Column("rule_code", String(40), primary_key=True),
    #: member (per member), store or chain (budgets)
    Column("subject_kind", String(10), primary_key=True),
    Column("subject_id", BigInteger, primary_key=True),
    #: the period in the store's calendar: 2026-12-08, 2026-W49, 2026-12, 2026 or - (ever)
    Column("period", String(10), primary_key=True),
    Column("points", BigInteger, nullable=False),
    CheckConstraint("points >= 0", name="points"),
    CheckConstraint("subject_kind IN ('member', 'store', 'chain')", name="subject_kind"),
    sqlite_with_rowid=False,
)

PROGRAMME_TABLES = (earning_rules, purchase_line_rules, rule_usage)
