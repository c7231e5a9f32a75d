"""Core schema: programme, merchants, stores, tiers, members, purchases, returns and the points ledger.

Revision ID: core_0001
Revises:
Create Date: 2026-11-22

The first core revision creates the tables from their Core definitions in `loyalty.db.core_tables`,
in dependency order, so the migrated schema equals the metadata exactly on both backends. Later core
revisions use explicit `op.*` operations (see docs/adr/0001-points-ledger.md).
"""

from __future__ import annotations

from alembic import op

revision = "core_0001"
down_revision = None
branch_labels = ("core",)
depends_on = None


def upgrade() -> None:
    from loyalty.db.core_tables import CORE_TABLES

    bind = op.get_bind()
    for table in CORE_TABLES:
        table.create(bind, checkfirst=False)


def downgrade() -> None:
    from loyalty.db.core_tables import CORE_TABLES

    bind = op.get_bind()
    for table in reversed(CORE_TABLES):
        table.drop(bind, checkfirst=False)
