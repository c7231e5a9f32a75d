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
from loyalty.db.statement_keys import STATEMENT_KEY_NAMES, STATEMENT_KEYS


def test_migrated_schema_matches_table_definitions(engine: Engine) -> None:
    load_all()
    pg = engine.dialect.name == "postgresql"

    def compared(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
        # On PostgreSQL these keys are statement triggers (db.statement_keys), tested in test_statement_keys.
        return not (pg and type_ == "foreign_key_constraint" and name in STATEMENT_KEY_NAMES)

    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "include_object": compared})
        diff = compare_metadata(context, metadata)
    assert diff == [], "schema drift between migrations and table definitions:\n" + "\n".join(map(str, diff))


def test_every_table_module_is_migrated(engine: Engine) -> None:
    load_all()
    from sqlalchemy import inspect

    present = set(inspect(engine).get_table_names())
    missing = sorted(set(metadata.tables) - present)
    assert not missing, f"tables defined but not migrated: {missing}"


def test_keys_checked_per_statement_are_triggers_on_postgresql(engine: Engine) -> None:
    """Every key `db.statement_keys` lists was moved by a migration: no native constraint, its triggers."""
    if engine.dialect.name != "postgresql":
        return
    from sqlalchemy import inspect, text

    for key in STATEMENT_KEYS:
        native = {fk["name"] for fk in inspect(engine).get_foreign_keys(key.table)}
        assert key.name not in native, f"{key.name} is still a native constraint"
    with engine.connect() as conn:
        triggers = set(conn.execute(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")).scalars())
    for table in {k.table for k in STATEMENT_KEYS}:
        assert {f"{table}_keys_on_insert", f"{table}_keys_on_update"} <= triggers
    for key in STATEMENT_KEYS:
        assert {f"{key.table}_keeps_{key.ref_table}", f"{key.table}_keeps_{key.ref_table}_whole"} <= triggers
