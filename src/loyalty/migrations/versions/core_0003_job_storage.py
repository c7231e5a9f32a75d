"""Storage for the set-based jobs: a partial index of unspent lots by expiry, and room for HOT updates.

Revision ID: core_0003
Revises: core_0002
Create Date: 2026-12-01

- `ix_point_lots_due (expires_at) WHERE remaining > 0` replaces `ix_point_lots_expires_remaining
  (expires_at, remaining)`: the expiry job's predicate, holding only live lots, and a lot emptied by a
  spend or an expiry no longer adds an index entry.
- PostgreSQL only: `fillfactor = 50` on `accounts` and `members`. Every sale, spend and expiry
  rewrites a member's account row, and the tier job a member's row; with room left on the page the
  new version stays there (a HOT update) and none of the table's indexes is touched. The price is
  about twice the space for these two tables. It applies to pages written from now on; an existing
  database gets it for old pages after a `VACUUM FULL` (or pg_repack) at a quiet time.

core_0001 creates tables from the current Core definitions, so on a fresh database the index is
already in place and only the storage parameters change.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_0003"
down_revision = "core_0002"
branch_labels = None
depends_on = None

HOT_TABLES = ("accounts", "members")


def _indexes(bind: sa.Connection) -> set[str]:
    return {str(i["name"]) for i in sa.inspect(bind).get_indexes("point_lots")}


def upgrade() -> None:
    bind = op.get_bind()
    names = _indexes(bind)
    if "ix_point_lots_expires_remaining" in names:
        op.drop_index("ix_point_lots_expires_remaining", table_name="point_lots")
    if "ix_point_lots_due" not in names:
        op.create_index(
            "ix_point_lots_due",
            "point_lots",
            ["expires_at"],
            sqlite_where=sa.text("remaining > 0"),
            postgresql_where=sa.text("remaining > 0"),
        )
    if bind.dialect.name == "postgresql":
        for table in HOT_TABLES:
            op.execute(f"ALTER TABLE {table} SET (fillfactor = 50)")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for table in HOT_TABLES:
            op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
    op.drop_index("ix_point_lots_due", table_name="point_lots")
    op.create_index("ix_point_lots_expires_remaining", "point_lots", ["expires_at", "remaining"])
