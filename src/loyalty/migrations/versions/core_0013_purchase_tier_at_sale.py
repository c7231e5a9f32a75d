"""A sale keeps the tier it left its member in, and the tier it upgraded them to.

Revision ID: core_0013
Revises: core_0012
Create Date: 2026-12-03

`GET /purchases/{id}` and a member's purchase history answered with the member's tier *now* and had
lost `upgraded_to`, so a re-read differed from what the till was answered. Two nullable columns on
`purchases` keep that answer: `tier_code` (the member's tier after the sale, or after its claim) and
`upgraded_to` (the tier the sale upgraded them to; NULL when it did not). Codes rather than keys: they
are a snapshot of the answer, and PostgreSQL checks no foreign key per sale.

Existing sales are filled in from `tier_history` as well as it allows: the tier is the one the
member's last tier change at or before the sale's posting (or claim) set; `upgraded_to` where an
upgrade of that member was written at that very instant and the member has no other sale posted then
(a bulk import posts many at one instant: which of them upgraded is not recorded). A sale whose
member has no tier change before it keeps NULL, and is read with the member's current tier, as before.
This rewrites every member sale once.

`core_0001` builds tables from the current definitions, so a fresh database already has the columns
and this revision leaves it alone.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_0013"
down_revision = "core_0012"
branch_labels = None
depends_on = None

_TABLE = "purchases"
_COLUMNS = ("tier_code", "upgraded_to")
_WHEN = "coalesce(purchases.claimed_at, purchases.created_at)"
_BACKFILL = (
    f"UPDATE purchases SET tier_code = ("  # noqa: S608 (our own names only)
    "SELECT t.code FROM tier_history h JOIN tiers t ON t.id = h.to_tier_id "
    f"WHERE h.member_id = purchases.member_id AND h.at <= {_WHEN} "
    "ORDER BY h.at DESC, h.id DESC LIMIT 1"
    ") WHERE member_id IS NOT NULL AND tier_code IS NULL",
    "UPDATE purchases SET upgraded_to = tier_code "  # noqa: S608 (our own names only)
    "WHERE member_id IS NOT NULL AND upgraded_to IS NULL AND EXISTS ("
    "SELECT 1 FROM tier_history h JOIN tiers t ON t.id = h.to_tier_id "
    f"WHERE h.member_id = purchases.member_id AND h.reason = 'upgrade' AND h.at = {_WHEN} "
    "AND t.code = purchases.tier_code"
    ") AND NOT EXISTS ("
    "SELECT 1 FROM purchases other WHERE other.member_id = purchases.member_id "
    f"AND other.id <> purchases.id AND coalesce(other.claimed_at, other.created_at) = {_WHEN})",
)


def _columns() -> set[str]:
    return {str(c["name"]) for c in sa.inspect(op.get_bind()).get_columns(_TABLE)}


def upgrade() -> None:
    present = _columns()
    added = [name for name in _COLUMNS if name not in present]
    for name in added:
        op.add_column(_TABLE, sa.Column(name, sa.String(40), nullable=True))
    if added:
        bind = op.get_bind()
        for sql in _BACKFILL:
            bind.exec_driver_sql(sql)


def downgrade() -> None:
    present = _columns()
    for name in reversed(_COLUMNS):
        if name not in present:
            continue
        if op.get_bind().dialect.name == "sqlite":  # in place (SQLite 3.35+)
            op.get_bind().exec_driver_sql(f"ALTER TABLE {_TABLE} DROP COLUMN {name}")
        else:
            op.drop_column(_TABLE, name)
