"""Analytics: recommendations, one row per refresh, each member's top items and the stores' popular lists.

Revision ID: analytics_0005
Revises: analytics_0004
Create Date: 2026-12-07

`loyalty analytics recommendations refresh` (or the recommendations job) trains the recommender and
keeps its run (settings, training time, the holdout's figures) in `recommendation_runs`, each
member's ranked items in `member_recommendations` and each store's popular items in
`recommendation_popular` (`loyalty.db.recommendation_tables`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "analytics_0005"
down_revision = "analytics_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from loyalty.db.recommendation_tables import RECOMMENDATION_TABLES

    bind = op.get_bind()
    for table in RECOMMENDATION_TABLES:
        table.create(bind, checkfirst=True)


def downgrade() -> None:
    present = set(sa.inspect(op.get_bind()).get_table_names())
    for name in ("recommendation_popular", "member_recommendations", "recommendation_runs"):
        if name in present:
            op.drop_table(name)
