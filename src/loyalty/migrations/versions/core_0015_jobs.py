"""Jobs started by hand and followed with progress: points expiry, tier evaluation, analytics refresh.

Revision ID: core_0015
Revises: core_0014
Create Date: 2026-12-05

One new table, `jobs` (`loyalty.db.jobs_tables`): a row per run with who started it, its status,
progress, result or error, and a heartbeat. A UNIQUE `active_kind` (the kind while the job is
unfinished, NULL after) lets the database refuse a second run of a kind already under way.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from loyalty.db.jobs_tables import jobs

revision = "core_0015"
down_revision = "core_0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    jobs.create(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    if "jobs" in set(sa.inspect(op.get_bind()).get_table_names()):
        op.drop_table("jobs")
