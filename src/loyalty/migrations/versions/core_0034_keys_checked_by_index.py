"""PostgreSQL's per-statement key checks look a small statement's keys up by index.

Revision ID: core_0034
Revises: core_0033
Create Date: 2026-12-06

The keys `db.statement_keys` checks once per statement (a member's tier, the tier history's member
and tiers, an earning entry's purchase and rule) were found missing by one anti-join of the written
rows with the referenced table. The planner may hash the whole referenced table for it, and did so
where that table's statistics lagged behind its growth: each POS batch's earning entries scanned every
purchase. A statement of up to `PROBED_ROWS` rows now looks each distinct key up in the referenced
table's primary key; a larger one (a bulk job's) keeps the anti-join.

Downgrading keeps the new functions: they refuse exactly what the previous ones refused.
"""

from __future__ import annotations

from alembic import op

from loyalty.db.statement_keys import StatementKey, writer_functions_sql

revision = "core_0034"
down_revision = "core_0033"
branch_labels = None
depends_on = None

# Every key moved to statements so far (`core_0010`, `core_0031`); a later key needs a revision of its own.
_KEYS = (
    StatementKey("members", "tier_id", "tiers"),
    StatementKey("tier_history", "member_id", "members"),
    StatementKey("tier_history", "from_tier_id", "tiers"),
    StatementKey("tier_history", "to_tier_id", "tiers"),
    StatementKey("purchase_line_rules", "purchase_id", "purchases"),
    StatementKey("purchase_line_rules", "rule_id", "earning_rules"),
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for ddl in writer_functions_sql(_KEYS):
        op.execute(ddl)


def downgrade() -> None:
    """Nothing to undo: the functions answer as before (see the module docstring)."""
