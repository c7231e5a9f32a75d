"""Point lots are rewritten in place: no index names `remaining`, and PostgreSQL leaves room on the page.

Revision ID: core_0009
Revises: core_0008
Create Date: 2026-11-30

A lot is rewritten when a spend draws on it and when it expires. `ix_point_lots_due (expires_at)
WHERE remaining > 0` (core_0003) put `remaining` in an index predicate, so on PostgreSQL no such
rewrite could be a HOT update: each wrote a new row version elsewhere and an entry in every index of
the table. Since the jobs run in account ranges (`services.id_ranges`) the due lots of a range are
found through `ix_point_lots_account_expiry` on both databases, and nothing reads the partial index
any more: it is dropped, and every sale's lot no longer adds an entry to it.

PostgreSQL only: `fillfactor = 50` on `point_lots`, as core_0003 set for `accounts` and `members`, so
that every lot of a page can be rewritten once on its own page, e.g. when a year's points expire at
once. On the ledger benchmark's 500,000 due lots every expiry rewrite became a HOT update and the run
took 14 s instead of 19–20 s (a slow phase of the bench machine; 85: 35% HOT, 19 s; 70: 79%, 16–19
s). The price is about twice the table's space. It applies to pages written from now on; an existing
database gets it for old pages after a `VACUUM FULL` (or pg_repack) at a quiet time.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_0009"
down_revision = "core_0008"
branch_labels = None
depends_on = None

_DUE = "ix_point_lots_due"


def _has_due_index() -> bool:
    return _DUE in {str(i["name"]) for i in sa.inspect(op.get_bind()).get_indexes("point_lots")}


def upgrade() -> None:
    if _has_due_index():
        op.drop_index(_DUE, table_name="point_lots")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE point_lots SET (fillfactor = 50)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE point_lots RESET (fillfactor)")
    if not _has_due_index():
        op.create_index(
            _DUE,
            "point_lots",
            ["expires_at"],
            sqlite_where=sa.text("remaining > 0"),
            postgresql_where=sa.text("remaining > 0"),
        )
