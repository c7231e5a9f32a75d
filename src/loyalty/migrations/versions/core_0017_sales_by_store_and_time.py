"""Sales by store and time: the KPIs read a store's days (and the chain's, store by store) from an index.

Revision ID: core_0017
Revises: core_0016
Create Date: 2026-12-05

`services.kpis` (`/api/v1/kpis`, `loyalty kpis`, the console's dashboard) adds up a store's receipts per
business day: how many, whose (a member's or anonymous), their total and the points they earned.
Without an index on the store and the time of sale, a store's last thirty days cost a look-up of every
sale the store ever made, and the chain's a scan of all purchases. `(store_id, occurred_at)` with
`member_id, total_minor, points_earned` appended answers those sums from the index alone.

`core_0001` builds tables from the current definitions, so a fresh database already has the index and
this revision leaves it alone.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_0017"
down_revision = "core_0016"
branch_labels = None
depends_on = None

_NAME = "ix_purchases_store_occurred"
_COLUMNS = ["store_id", "occurred_at", "member_id", "total_minor", "points_earned"]


def _exists() -> bool:
    return any(ix["name"] == _NAME for ix in sa.inspect(op.get_bind()).get_indexes("purchases"))


def upgrade() -> None:
    if not _exists():
        op.create_index(_NAME, "purchases", _COLUMNS)


def downgrade() -> None:
    if _exists():
        op.drop_index(_NAME, table_name="purchases")
