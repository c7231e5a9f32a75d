"""Analytics: member_scores (latest scores per member) and member_score_history (every refresh).

Revision ID: analytics_0001
Revises:
Create Date: 2026-11-22

Created from the Table definitions in `loyalty.db.analytics_tables` so the migrated schema equals the
metadata exactly on SQLite and PostgreSQL; later analytics revisions use explicit `op.*` operations.
"""

from __future__ import annotations

from alembic import op

revision = "analytics_0001"
down_revision = None
branch_labels = ("analytics",)
depends_on = "core_0001"


def upgrade() -> None:
    from loyalty.db.analytics_tables import ANALYTICS_TABLES

    bind = op.get_bind()
    for table in ANALYTICS_TABLES:
        table.create(bind, checkfirst=False)


def downgrade() -> None:
    from loyalty.db.analytics_tables import ANALYTICS_TABLES

    bind = op.get_bind()
    for table in reversed(ANALYTICS_TABLES):
        table.drop(bind, checkfirst=False)
