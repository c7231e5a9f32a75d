"""Rebuilding a SQLite table under a new definition, for the changes SQLite cannot make in place.

SQLite cannot drop NOT NULL, add a CHECK or switch a table to `WITHOUT ROWID` with ALTER TABLE. The
table is rebuilt instead: create it under a scratch name from the edited `CREATE TABLE` text, copy
the rows, drop the old one, rename, and re-create its indexes. Migrations run with foreign keys off
(see `migrations/env.py`, which checks them again afterwards), so the drop does not cascade.
"""

from __future__ import annotations

import re

import sqlalchemy as sa


def table_sql(bind: sa.Connection, table: str) -> str:
    """The table's current `CREATE TABLE` text."""
    return str(
        bind.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).scalar_one()
    )


def rebuild(bind: sa.Connection, table: str, create_sql: str, *, order_by: str | None = None) -> None:
    """Re-create `table` as `create_sql` defines it, keeping its rows and its indexes."""
    indexes = [
        r[0]
        for r in bind.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
            (table,),
        )
    ]
    scratch = f"_{table}_new"
    renamed = re.sub(rf'^CREATE TABLE "?{table}"?', f"CREATE TABLE {scratch}", create_sql, count=1)
    bind.exec_driver_sql(renamed)
    order = f" ORDER BY {order_by}" if order_by else ""
    bind.exec_driver_sql(f"INSERT INTO {scratch} SELECT * FROM {table}{order}")  # noqa: S608 (names, not input)
    bind.exec_driver_sql(f"DROP TABLE {table}")
    bind.exec_driver_sql(f"ALTER TABLE {scratch} RENAME TO {table}")
    for sql in indexes:
        bind.exec_driver_sql(sql)
