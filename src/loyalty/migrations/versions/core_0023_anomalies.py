"""Anomaly detection: the chain's threshold rules, the review queue's flags, suspended redemptions.

Revision ID: core_0023
Revises: core_0022
Create Date: 2026-12-06

Three new tables (`loyalty.db.anomaly_tables`): `anomaly_rules` (the rules a chain changed from their
defaults), `anomaly_flags` (what a scan found, one open flag per subject and kind, and its review) and
`redemption_suspensions` (members whose points may not be redeemed until a reviewer lifts it).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_0023"
down_revision = "core_0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from loyalty.db.anomaly_tables import ANOMALY_TABLES

    bind = op.get_bind()
    for table in ANOMALY_TABLES:
        table.create(bind, checkfirst=True)


def downgrade() -> None:
    present = set(sa.inspect(op.get_bind()).get_table_names())
    for name in ("redemption_suspensions", "anomaly_flags", "anomaly_rules"):
        if name in present:
            op.drop_table(name)
