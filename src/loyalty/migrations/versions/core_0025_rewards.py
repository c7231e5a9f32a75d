"""Rewards bought with points, and each order for one.

Revision ID: core_0025
Revises: core_0024
Create Date: 2026-12-06

Two new tables (`loyalty.db.reward_tables`): `rewards` (a reward's terms, price per tier, units left,
limit per member, period; a coupon reward's offer) and `reward_orders` (one order: member, store,
points, status, the transfers that spent the points and gave them back); nothing existing changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_0025"
down_revision = "core_0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from loyalty.db.reward_tables import REWARD_TABLES

    bind = op.get_bind()
    for table in REWARD_TABLES:
        table.create(bind, checkfirst=True)


def downgrade() -> None:
    present = set(sa.inspect(op.get_bind()).get_table_names())
    for name in ("reward_orders", "rewards"):
        if name in present:
            op.drop_table(name)
