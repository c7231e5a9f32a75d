"""Store targets: monthly plans per metric and their stores' targets, alert thresholds, store regions.

Revision ID: core_0024
Revises: core_0023
Create Date: 2026-12-05

Three new tables (`loyalty.db.target_tables`): `target_plans` (one version of a month's targets for
one metric; a new version supersedes the old one, which is kept), `store_targets` (a plan's stores)
and `target_settings` (the chain's alert thresholds). `stores` gains `region`, the grouping the KPIs
and the targets' league add stores up by (nullable: a store without one is in no region).

`core_0001` builds tables from the current definitions, so a fresh database already has the column
and this revision leaves it alone.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_0024"
down_revision = "core_0023"
branch_labels = None
depends_on = None


def _has_region() -> bool:
    return any(c["name"] == "region" for c in sa.inspect(op.get_bind()).get_columns("stores"))


def upgrade() -> None:
    from loyalty.db.target_tables import TARGET_TABLES

    if not _has_region():
        op.add_column("stores", sa.Column("region", sa.String(64), nullable=True))
    bind = op.get_bind()
    for table in TARGET_TABLES:
        table.create(bind, checkfirst=True)


def downgrade() -> None:
    present = set(sa.inspect(op.get_bind()).get_table_names())
    for name in ("target_settings", "store_targets", "target_plans"):
        if name in present:
            op.drop_table(name)
    if _has_region():
        op.execute("ALTER TABLE stores DROP COLUMN region")
