"""PostgreSQL checks the earning entries' keys (purchase, rule) once per statement.

Revision ID: core_0031
Revises: core_0030
Create Date: 2026-12-06

Each earning entry (`purchase_line_rules`) names its purchase and its rule. A sale under a programme
of rules writes about twenty of them, and PostgreSQL checked both keys with a trigger per row that
locks the referenced purchase and rule (FOR KEY SHARE): about 4.7 µs a check, two fifths of the
entries' cost, and every concurrent sale locked the same rule rows. The rules stay; as for the tier
keys (`core_0010`), `db.statement_keys` enforces them with a statement trigger that checks every
written entry in one anti-join per key, and triggers that refuse to delete, re-key or truncate a
referenced purchase or rule (the product deletes neither).

SQLite keeps its native keys, which the table definitions still declare.
"""

from __future__ import annotations

from alembic import op

from loyalty.db.statement_keys import StatementKey, move_back, move_to_statements

revision = "core_0031"
down_revision = "core_0030"
branch_labels = None
depends_on = None

# The keys as this revision moved them; a later change to `STATEMENT_KEYS` needs a revision of its own.
_KEYS = (
    StatementKey("purchase_line_rules", "purchase_id", "purchases"),
    StatementKey("purchase_line_rules", "rule_id", "earning_rules"),
)


def upgrade() -> None:
    move_to_statements(op, _KEYS)


def downgrade() -> None:
    move_back(op, _KEYS)
