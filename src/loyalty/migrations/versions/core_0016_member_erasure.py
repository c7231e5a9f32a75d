"""Members whose personal data was erased: `members.erased_at`.

Revision ID: core_0016
Revises: core_0015
Create Date: 2026-12-05

An erasure (`loyalty.services.privacy`) anonymises a member's record in place, so that the ledger and
the purchases naming it still add up, and marks it with the time of the erasure: one nullable column,
NULL for every existing member. `core_0001` builds tables from the current definitions, so a fresh
database already has it and this revision leaves it alone.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from loyalty.db.core_tables import UTCDateTime

revision = "core_0016"
down_revision = "core_0015"
branch_labels = None
depends_on = None

_TABLE = "members"
_COLUMN = "erased_at"


def _present() -> bool:
    return _COLUMN in {str(c["name"]) for c in sa.inspect(op.get_bind()).get_columns(_TABLE)}


def upgrade() -> None:
    if not _present():
        op.add_column(_TABLE, sa.Column(_COLUMN, UTCDateTime(), nullable=True))


def downgrade() -> None:
    if not _present():
        return
    if op.get_bind().dialect.name == "sqlite":  # in place (SQLite 3.35+), as core_0013
        op.get_bind().exec_driver_sql(f"ALTER TABLE {_TABLE} DROP COLUMN {_COLUMN}")
    else:
        op.drop_column(_TABLE, _COLUMN)
