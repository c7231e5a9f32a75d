"""Who rang a sale and who signed a member up: the KPIs by staff.

Revision ID: core_0028
Revises: core_0027
Create Date: 2026-12-06

`purchases` gains `staff` and `members` gains `registered_by`: nullable staff codes (a cashier's code
as the till, the console or an import file named it, or the username of the staff account that made
the sale or the registration, `domain.staff`). Existing sales and members name nobody (NULL), which
the KPIs by staff show as one row of their own. No index: the KPIs by staff read a store's days by
`ix_purchases_store_occurred` and the staff code from the rows it finds; neither planner picks a
(store, staff, time) index for that read, which took the same time with one as without (measured on
the demo chain, docs/api.md "KPIs by staff"). Adding a nullable column rewrites no row on either
backend.

`core_0001` builds tables from the current definitions, so a fresh database already has both columns
and this revision leaves it alone.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_0028"
down_revision = "core_0027"
branch_labels = None
depends_on = None

#: (table, column) added, in order
_COLUMNS = (("purchases", "staff"), ("members", "registered_by"))


def _has(table: str, column: str) -> bool:
    return column in {str(c["name"]) for c in sa.inspect(op.get_bind()).get_columns(table)}


def upgrade() -> None:
    for table, column in _COLUMNS:
        if not _has(table, column):
            op.add_column(table, sa.Column(column, sa.String(100), nullable=True))


def downgrade() -> None:
    bind = op.get_bind()
    for table, column in reversed(_COLUMNS):
        if not _has(table, column):
            continue
        if bind.dialect.name == "sqlite":  # in place (SQLite 3.35+)
            bind.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN {column}")
        else:
            op.drop_column(table, column)
