"""A receipt line's brand: earning rules by brand.

Revision ID: core_0032
Revises: core_0031
Create Date: 2026-12-06

`purchase_lines` gains `brand`, a nullable name as the till or the import file gave it beside the
line's category (a rule's `when.brands` selects lines by it, as `when.categories` by category).
Existing lines name no brand (NULL), which no brand rule selects. Adding a nullable column rewrites
no row on either backend.

`core_0001` builds tables from the current definitions, so a fresh database already has the column
and this revision leaves it alone.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_0032"
down_revision = "core_0031"
branch_labels = None
depends_on = None


def _has(table: str, column: str) -> bool:
    return column in {str(c["name"]) for c in sa.inspect(op.get_bind()).get_columns(table)}


def upgrade() -> None:
    if not _has("purchase_lines", "brand"):
        op.add_column("purchase_lines", sa.Column("brand", sa.String(100), nullable=True))


def downgrade() -> None:
    if not _has("purchase_lines", "brand"):
        return
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":  # in place (SQLite 3.35+)
        bind.exec_driver_sql("ALTER TABLE purchase_lines DROP COLUMN brand")
    else:
        op.drop_column("purchase_lines", "brand")
