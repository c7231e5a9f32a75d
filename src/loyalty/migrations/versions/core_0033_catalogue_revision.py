"""The catalogue's revision: every process learns that stores, programme, tiers or rules changed.

Revision ID: core_0033
Revises: core_0032
Create Date: 2026-12-06

A server process keeps the catalogue it read (stores, their programme, the tier ladder, the earning
rules) and until now read it again only when it was itself the one to change it, or when restarted:
a rule a marketer defined through one worker, or imported with the CLI, was not earned by the other
workers. `catalogue_revision` holds one number that triggers on those five tables raise in the
changing transaction (`db.catalogue_revision`); each server process looks at it every second and
reads its catalogue afresh when it moved (`services.catalogue_watch`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from loyalty.db.catalogue_revision import create_triggers, drop_triggers

revision = "core_0033"
down_revision = "core_0032"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "catalogue_revision",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
    )
    create_triggers(op.get_bind())


def downgrade() -> None:
    drop_triggers(op.get_bind())
    op.drop_table("catalogue_revision")
