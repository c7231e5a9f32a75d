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

from loyalty.db.statement_keys import STATEMENT_KEYS, writer_functions_sql

revision = "core_0034"
down_revision = "core_0033"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # The keys moved so far (core_0010, core_0031). A key moved later gets its check function from its
    # own revision; made here first, before its table's triggers exist, it is merely replaced there.
    for ddl in writer_functions_sql(STATEMENT_KEYS):
        op.execute(ddl)


def downgrade() -> None:
    """Nothing to undo: the functions answer as before (see the module docstring)."""
