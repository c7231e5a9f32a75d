"""The migrations and the table definitions describe the same schema, on both backends.

Alembic's autogenerate comparison runs against a database migrated to all branch heads; any table,
column, index, constraint or type that one side has and the other lacks is a failure, so a change to
`db/*_tables.py` without its migration (or the reverse) never reaches a user.
"""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from loyalty.db.schema import load_all, metadata


def test_migrated_schema_matches_table_definitions(engine: Engine) -> None:
    load_all()
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, metadata)
    assert diff == [], "schema drift between migrations and table definitions:\n" + "\n".join(map(str, diff))


def test_every_table_module_is_migrated(engine: Engine) -> None:
    load_all()
    from sqlalchemy import inspect

    present = set(inspect(engine).get_table_names())
    missing = sorted(set(metadata.tables) - present)
    assert not missing, f"tables defined but not migrated: {missing}"
