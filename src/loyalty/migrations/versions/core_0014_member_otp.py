"""One-time sign-in codes for the member portal, and the local outbox that delivers them.

Revision ID: core_0014
Revises: core_0013
Create Date: 2026-12-04

`member_otps` keeps an HMAC of each code with its expiry and attempt count; `outbox` holds the
messages of the default sender (no SMS gateway configured). `core_0001` builds tables from the
current definitions, so a fresh database already has both and this revision leaves it alone.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from loyalty.db.auth_tables import member_otps, outbox

revision = "core_0014"
down_revision = "core_0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    for table in (member_otps, outbox):
        table.create(bind, checkfirst=True)


def downgrade() -> None:
    bind = op.get_bind()
    existing = set(sa.inspect(bind).get_table_names())
    for name in ("outbox", "member_otps"):
        if name in existing:
            op.drop_table(name)
