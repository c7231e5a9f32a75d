"""Returns by purchase: a member's purchase history shows each receipt's returns beside it.

Revision ID: core_0012
Revises: core_0011
Create Date: 2026-12-02

`GET /members/{id}/purchases`, `/me/purchases` and `loyalty members purchases` read the returns of a
page of receipts by purchase id; without an index that is a scan of every return ever posted, per page.

`core_0001` builds tables from the current definitions, so a fresh database already has the index and
this revision leaves it alone.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_0012"
down_revision = "core_0011"
branch_labels = None
depends_on = None

_NAME = "ix_returns_purchase"


def _exists() -> bool:
    return any(ix["name"] == _NAME for ix in sa.inspect(op.get_bind()).get_indexes("returns"))


def upgrade() -> None:
    if not _exists():
        op.create_index(_NAME, "returns", ["purchase_id"])


def downgrade() -> None:
    if _exists():
        op.drop_index(_NAME, table_name="returns")
