"""Purchases by member carry their total and refunds: the tier window's spend is read from the index.

Revision ID: core_0008
Revises: core_0007
Create Date: 2026-11-30

Every sale sums its member's net spend over the tier window (`services.common.qualifying_spend`), as do
the tier evaluation and the bulk import. With `(member_id, occurred_at)` alone each purchase in the window
costs a look-up in the table; with `total_minor, refunded_minor` appended the sum is answered from the
index (SQLite: 23 µs → 9 µs for a member with 90 purchases in the window).

`core_0001` builds tables from the current definitions, so a fresh database already has the wider index
and this revision leaves it alone; an older one gets the index rebuilt under the same name.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import inspect

revision = "core_0008"
down_revision = "core_0007"
branch_labels = None
depends_on = None

_NAME = "ix_purchases_member_occurred"
_WIDE = ["member_id", "occurred_at", "total_minor", "refunded_minor"]
_NARROW = ["member_id", "occurred_at"]


def _columns() -> list[str] | None:
    """The index's columns, or None when it is missing (a large import deferred it)."""
    for index in inspect(op.get_bind()).get_indexes("purchases"):
        if index["name"] == _NAME:
            return [str(c) for c in index["column_names"]]
    return None


def _make(columns: list[str]) -> None:
    current = _columns()
    if current == columns:
        return
    if current is not None:
        op.drop_index(_NAME, table_name="purchases")
    op.create_index(_NAME, "purchases", columns)


def upgrade() -> None:
    _make(_WIDE)


def downgrade() -> None:
    _make(_NARROW)
