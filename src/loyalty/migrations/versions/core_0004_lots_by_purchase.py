"""Index point lots by purchase: a return finds the lots of its order without scanning every lot.

Revision ID: core_0004
Revises: core_0003
Create Date: 2026-11-23

`core_0001` builds tables from the current Core definitions, so a fresh database already has the index;
`if_not_exists` makes this revision a no-op there and adds it to databases created before it.
"""

from __future__ import annotations

from alembic import op

revision = "core_0004"
down_revision = "core_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_point_lots_purchase", "point_lots", ["purchase_id"], if_not_exists=True)


def downgrade() -> None:
    op.drop_index("ix_point_lots_purchase", table_name="point_lots", if_exists=True)
