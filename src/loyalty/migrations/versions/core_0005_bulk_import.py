"""What large imports showed: an imported order's request hash, a phone placeholder, an unread index.

Revision ID: core_0005
Revises: core_0004
Create Date: 2026-11-23

- `purchases.request_hash` becomes nullable. An imported order never came as a request body; hashing
  a reconstructed body for every imported order cost about a tenth of a large import. A POS replay of
  an imported order is compared by content instead (`services.purchases._same_as_imported`).
- `members.phone` widens from 20 to 32 characters: a member imported without a phone gets
  "nophone:" and their card number (up to 20 characters), which did not fit on PostgreSQL.
- `ix_transfers_member` is dropped: no statement reads transfers by member (statements and exports go
  through the member's account postings), yet every sale and every imported order paid to keep it.

`core_0001` builds tables from the current definitions, so a fresh database already has both and this
revision leaves it alone (SQLite does not enforce lengths, so only PostgreSQL's phone changes type).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_0005"
down_revision = "core_0004"
branch_labels = None
depends_on = None


def _nullable(table: str, name: str) -> bool:
    columns = sa.inspect(op.get_bind()).get_columns(table)
    return bool(next(c["nullable"] for c in columns if c["name"] == name))


def upgrade() -> None:
    if not _nullable("purchases", "request_hash"):
        with op.batch_alter_table("purchases") as batch:
            batch.alter_column("request_hash", existing_type=sa.String(64), nullable=True)
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("members", "phone", type_=sa.String(32), existing_nullable=False)
    op.drop_index("ix_transfers_member", table_name="transfers", if_exists=True)


def downgrade() -> None:
    op.create_index("ix_transfers_member", "transfers", ["member_id", "id"], if_not_exists=True)
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("members", "phone", type_=sa.String(20), existing_nullable=False)
    if _nullable("purchases", "request_hash"):
        op.execute("UPDATE purchases SET request_hash = '' WHERE request_hash IS NULL")
        with op.batch_alter_table("purchases") as batch:
            batch.alter_column("request_hash", existing_type=sa.String(64), nullable=False)
