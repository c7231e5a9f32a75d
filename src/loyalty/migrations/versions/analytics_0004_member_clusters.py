"""Analytics: member clusters, one row per clustering run and each member's cluster of the last run.

Revision ID: analytics_0004
Revises: analytics_0003
Create Date: 2026-12-06

`loyalty analytics clusters refresh` (or the member-clusters job) groups the members by behaviour
and keeps its run (k, the silhouette per candidate k, the clusters' profiles) in
`member_cluster_runs` and each member's cluster in `member_clusters`
(`loyalty.db.cluster_tables`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "analytics_0004"
down_revision = "analytics_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from loyalty.db.cluster_tables import CLUSTER_TABLES

    bind = op.get_bind()
    for table in CLUSTER_TABLES:
        table.create(bind, checkfirst=True)


def downgrade() -> None:
    present = set(sa.inspect(op.get_bind()).get_table_names())
    for name in ("member_clusters", "member_cluster_runs"):
        if name in present:
            op.drop_table(name)
