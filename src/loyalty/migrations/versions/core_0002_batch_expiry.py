"""Batch expiry transfers: `transfers.debit_account_id` may be NULL for an expiry run.

Revision ID: core_0002
Revises: core_0001
Create Date: 2026-12-01

An expiry run is one transfer per merchant with one posting per member account (−points) and one on
the merchant's 'expired' account (+total); its debit side is many accounts, so the header names no
single debit account (see docs/adr/0001-points-ledger.md). A CHECK keeps every other kind two-legged.

core_0001 creates tables from the current Core definitions, so a fresh database already has this
shape; the revision only changes databases created before it. SQLite cannot drop NOT NULL or add a
CHECK in place: the table is rebuilt (create, copy, drop, rename, re-create its indexes), with foreign
keys off for the migration (see `migrations/sqlite_rebuild.py`).
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

from loyalty.migrations.sqlite_rebuild import rebuild, table_sql

revision = "core_0002"
down_revision = "core_0001"
branch_labels = None
depends_on = None

CHECK_NAME = "ck_transfers_single_debit"
CHECK_SQL = "debit_account_id IS NOT NULL OR kind = 'expire'"
OLD_COLUMN = "debit_account_id INTEGER NOT NULL,"
NEW_COLUMN = "debit_account_id INTEGER,"


def _debit_nullable(bind: sa.Connection) -> bool:
    cols = {c["name"]: c for c in sa.inspect(bind).get_columns("transfers")}
    return bool(cols["debit_account_id"]["nullable"])


def upgrade() -> None:
    bind = op.get_bind()
    if _debit_nullable(bind):
        return
    if bind.dialect.name == "sqlite":
        create_sql = table_sql(bind, "transfers")
        if OLD_COLUMN not in create_sql:
            raise RuntimeError("unexpected transfers definition; cannot rebuild it")
        create_sql = create_sql.replace(OLD_COLUMN, NEW_COLUMN, 1)
        create_sql = (
            create_sql.rstrip().removesuffix(")") + f",\n\tCONSTRAINT {CHECK_NAME} CHECK ({CHECK_SQL})\n)"
        )
        rebuild(bind, "transfers", create_sql)
        return
    op.alter_column("transfers", "debit_account_id", existing_type=sa.BigInteger(), nullable=True)
    op.create_check_constraint(op.f(CHECK_NAME), "transfers", CHECK_SQL)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        create_sql = table_sql(bind, "transfers")
        create_sql = create_sql.replace(NEW_COLUMN, OLD_COLUMN, 1)
        create_sql = re.sub(rf",\s*CONSTRAINT {CHECK_NAME} CHECK \([^)]*\)", "", create_sql, count=1)
        rebuild(bind, "transfers", create_sql)
        return
    op.drop_constraint(op.f(CHECK_NAME), "transfers", type_="check")
    op.alter_column("transfers", "debit_account_id", existing_type=sa.BigInteger(), nullable=False)
