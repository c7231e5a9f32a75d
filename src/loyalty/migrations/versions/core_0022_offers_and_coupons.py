"""Offers and coupons: definitions with limits, issued codes, and each use of a code.

Revision ID: core_0022
Revises: core_0021
Create Date: 2026-12-05

Three new tables (`loyalty.db.offer_tables`); nothing existing changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_0022"
down_revision = "core_0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from loyalty.db.offer_tables import OFFER_TABLES

    bind = op.get_bind()
    for table in OFFER_TABLES:
        table.create(bind, checkfirst=True)


def downgrade() -> None:
    present = set(sa.inspect(op.get_bind()).get_table_names())
    for name in ("coupon_uses", "coupons", "offers"):
        if name in present:
            op.drop_table(name)
