"""Analytics: churn, one row per churn run and each member's churn probability and next purchase date.

Revision ID: analytics_0006
Revises: analytics_0005
Create Date: 2026-12-08

`loyalty analytics churn refresh` (or the churn-model job) trains the churn model, checks it out of
time against P(alive), and keeps its run (the AUCs, ROC curves, importances) in `churn_runs` and each
member's scores in `member_churn` (`loyalty.db.churn_tables`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "analytics_0006"
down_revision = "analytics_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from loyalty.db.churn_tables import CHURN_TABLES

    bind = op.get_bind()
    for table in CHURN_TABLES:
        table.create(bind, checkfirst=True)


def downgrade() -> None:
    present = set(sa.inspect(op.get_bind()).get_table_names())
    for name in ("member_churn", "churn_runs"):
        if name in present:
            op.drop_table(name)
