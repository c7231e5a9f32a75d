"""Tier benefits: a tier's services, rewards only some tiers may order, an offer's coupons by offer.

Revision ID: core_0027
Revises: core_0026
Create Date: 2026-12-08

`tiers` gains `services` (a JSON list of service codes from `domain.tier_services`: the benefits that
are not points, such as the VIP lane; `[]` for every tier already defined), `rewards` gains `tiers`
(a JSON list of tier codes: only members of those tiers may order the reward; NULL for every reward
already defined: anyone may), and `coupons` gains the index `ix_coupons_offer` (an offer's coupons
were read by a scan: the only index led with the member). `core_0001` builds tables from the current
definitions, so a fresh database already has all three and this revision leaves it alone.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_0027"
down_revision = "core_0026"
branch_labels = None
depends_on = None

_INDEX = "ix_coupons_offer"


def _columns(table: str) -> set[str]:
    return {str(c["name"]) for c in sa.inspect(op.get_bind()).get_columns(table)}


def _indexes(table: str) -> set[str]:
    return {str(i["name"]) for i in sa.inspect(op.get_bind()).get_indexes(table)}


def upgrade() -> None:
    if "services" not in _columns("tiers"):
        op.add_column(
            "tiers", sa.Column("services", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )
    if "tiers" not in _columns("rewards"):
        op.add_column("rewards", sa.Column("tiers", sa.JSON(), nullable=True))
    if _INDEX not in _indexes("coupons"):
        op.create_index(_INDEX, "coupons", ["offer_id"])


def downgrade() -> None:
    if _INDEX in _indexes("coupons"):
        op.drop_index(_INDEX, table_name="coupons")
    if "tiers" in _columns("rewards"):
        op.drop_column("rewards", "tiers")
    if "services" in _columns("tiers"):
        op.drop_column("tiers", "services")
