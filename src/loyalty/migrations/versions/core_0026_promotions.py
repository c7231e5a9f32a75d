"""Promotions: offers applied without a coupon, and their uses beside the coupons'.

Revision ID: core_0026
Revises: core_0025
Create Date: 2026-12-05

`offers` gains `automatic` (false for every offer already defined: they stay coupon offers) and
`coupon_uses.coupon_id` becomes nullable: a promotion's use names its offer and sale, no coupon.
SQLite rebuilds `coupon_uses` with its rows and indexes (`sqlite_rebuild`); PostgreSQL drops the NOT
NULL in place. `core_0001` builds tables from the current definitions, so a fresh database already
has both and this revision leaves it alone.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

from loyalty.migrations.sqlite_rebuild import rebuild, table_sql

revision = "core_0026"
down_revision = "core_0025"
branch_labels = None
depends_on = None

_COUPON_NOT_NULL = re.compile(r"(coupon_id\s+\w+(?:\(\d+\))?)\s+NOT NULL", re.IGNORECASE)


def _columns(table: str) -> dict[str, dict[str, object]]:
    return {str(c["name"]): dict(c) for c in sa.inspect(op.get_bind()).get_columns(table)}


def upgrade() -> None:
    bind = op.get_bind()
    if "automatic" not in _columns("offers"):
        op.add_column(
            "offers", sa.Column("automatic", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    if _columns("coupon_uses")["coupon_id"]["nullable"]:
        return
    if bind.dialect.name == "sqlite":
        sql = _COUPON_NOT_NULL.sub(r"\1", table_sql(bind, "coupon_uses"), count=1)
        rebuild(bind, "coupon_uses", sql)
    else:
        op.alter_column("coupon_uses", "coupon_id", existing_type=sa.BigInteger(), nullable=True)


def downgrade() -> None:
    bind = op.get_bind()
    op.execute("DELETE FROM coupon_uses WHERE coupon_id IS NULL")  # promotions' uses have no coupon
    if bind.dialect.name == "sqlite":
        sql = table_sql(bind, "coupon_uses")
        rebuild(bind, "coupon_uses", re.sub(r"(coupon_id\s+\w+(?:\(\d+\))?)", r"\1 NOT NULL", sql, count=1))
        bind.exec_driver_sql("ALTER TABLE offers DROP COLUMN automatic")
    else:
        op.alter_column("coupon_uses", "coupon_id", existing_type=sa.BigInteger(), nullable=False)
        op.drop_column("offers", "automatic")
