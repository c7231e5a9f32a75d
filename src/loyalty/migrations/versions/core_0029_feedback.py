"""Members' feedback on their purchases: the `feedback` table (satisfaction KPI, issue #26).

Revision ID: core_0029
Revises: core_0028
Create Date: 2026-12-09

One new table (`loyalty.db.feedback_tables`): a member's rating (1 to 5) of one of their purchases,
with an optional comment, the sale's store, staff code and time (`sold_at`) copied beside it, and the
follow-up staff record on it (`handled_at`, `handled_by`, `handled_note`). `purchase_id` is unique
(one rating a purchase); `ix_feedback_store_created` lists a store's feedback newest first,
`ix_feedback_store_sold` counts its ratings by the day of the sales rated. Nothing existing is
rewritten. `core_0001` builds tables from the current definitions, so a fresh database already has
the table and this revision leaves it alone.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_0029"
down_revision = "core_0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from loyalty.db.feedback_tables import FEEDBACK_TABLES

    bind = op.get_bind()
    for table in FEEDBACK_TABLES:
        table.create(bind, checkfirst=True)


def downgrade() -> None:
    if "feedback" in set(sa.inspect(op.get_bind()).get_table_names()):
        op.drop_table("feedback")
