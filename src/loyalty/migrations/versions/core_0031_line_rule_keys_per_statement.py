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

import sqlalchemy as sa
from alembic import op

from loyalty.db.statement_keys import StatementKey, install_sql, uninstall_sql

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
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    native = {fk["name"] for fk in sa.inspect(bind).get_foreign_keys("purchase_line_rules")}
    for key in _KEYS:
        if key.name in native:
            op.drop_constraint(key.name, key.table, type_="foreignkey")
    for ddl in install_sql(_KEYS):
        op.execute(ddl)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for ddl in uninstall_sql(_KEYS):
        op.execute(ddl)
    for key in _KEYS:
        op.create_foreign_key(key.name, key.table, key.ref_table, [key.column], [key.ref_column])
