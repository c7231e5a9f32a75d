"""The programme engine's earning rules, versioned, and the points each rule gave each purchase line.

Revision ID: core_0021
Revises: core_0018
Create Date: 2026-12-05

Three new tables (`loyalty.db.programme_tables`): `earning_rules` (every version of every rule with
the period it is in force), `purchase_line_rules` (per purchase line, the points each rule added) and
`rule_usage` (what a limited rule has given per member, store or chain and period).
Existing purchases keep their points; they have no rule entries (their base rule is `purchases.rule`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_0021"
down_revision = "core_0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from loyalty.db.programme_tables import PROGRAMME_TABLES

    bind = op.get_bind()
    for table in PROGRAMME_TABLES:
        table.create(bind, checkfirst=True)


def downgrade() -> None:
    present = set(sa.inspect(op.get_bind()).get_table_names())
    for name in ("rule_usage", "purchase_line_rules", "earning_rules"):
        if name in present:
            op.drop_table(name)
