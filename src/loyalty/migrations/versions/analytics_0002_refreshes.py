"""Analytics: analytics_refreshes, one row per refresh with the model's calibration/holdout check.

Revision ID: analytics_0002
Revises: analytics_0001
Create Date: 2026-12-05

The analyst's console page shows how well the fitted model predicts a holdout period; the check
needs the transactions and a second fit, so `analytics refresh` makes it and keeps it here
(`loyalty.db.analytics_tables.analytics_refreshes`) beside the scores it writes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "analytics_0002"
down_revision = "analytics_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from loyalty.db.analytics_tables import analytics_refreshes

    analytics_refreshes.create(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    if "analytics_refreshes" in set(sa.inspect(op.get_bind()).get_table_names()):
        op.drop_table("analytics_refreshes")
