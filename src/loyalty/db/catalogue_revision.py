"""A revision number of the catalogue, raised by the database itself whenever the catalogue changes.

Each process keeps the stores, their programme, the tier ladder and the earning rules as it read
them (`services.catalogue`), and a change made by that process clears its own copy at once. A change
made by another process (a second server worker, the console of another worker, a CLI run, an
import) must reach it too, so the database counts every change: triggers on the tables the catalogue
reads raise `catalogue_revision.revision` in the changing transaction, whoever writes, and a process
that sees the number move reads its catalogue afresh (`services.catalogue_watch`).

The one row (id 1) is written by the triggers as an upsert, so an emptied table starts counting
again. On PostgreSQL the triggers run once per statement; on SQLite, which has no statement
triggers, once per row. None of these tables is written by a sale, so posting pays nothing.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Connection, Integer, Table, select, text

from loyalty.db.base import metadata

catalogue_revision = Table(
    "catalogue_revision",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("revision", BigInteger, nullable=False),
)

#: the tables `services.catalogue` reads (a store's merchant accounts are written with the merchant)
CATALOGUE_TABLES: tuple[str, ...] = ("programmes", "merchants", "stores", "tiers", "earning_rules")

_BUMP = (
    "INSERT INTO catalogue_revision (id, revision) VALUES (1, 1) "
    "ON CONFLICT (id) DO UPDATE SET revision = catalogue_revision.revision + 1"
)
_PG_FUNCTION = "catalogue_revision_bump"
_SQLITE_EVENTS = ("insert", "update", "delete")


def _trigger(table: str, event: str | None = None) -> str:
    return f"{table}_bump_catalogue" if event is None else f"{table}_{event}_bumps_catalogue"


def create_triggers(conn: Connection) -> None:
    """Install the triggers on every table of `CATALOGUE_TABLES`."""
    if conn.dialect.name == "postgresql":
        conn.execute(
            text(
                f"CREATE FUNCTION {_PG_FUNCTION}() RETURNS trigger LANGUAGE plpgsql "
                f"SECURITY DEFINER SET search_path FROM CURRENT AS $fn$ BEGIN {_BUMP}; RETURN NULL; END $fn$"
            )
        )
        for table in CATALOGUE_TABLES:
            conn.execute(
                text(
                    f"CREATE TRIGGER {_trigger(table)} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                    f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION {_PG_FUNCTION}()"
                )
            )
        return
    for table in CATALOGUE_TABLES:
        for event in _SQLITE_EVENTS:
            conn.execute(
                text(
                    f"CREATE TRIGGER {_trigger(table, event)} AFTER {event.upper()} ON {table} "
                    f"BEGIN {_BUMP}; END"
                )
            )


def drop_triggers(conn: Connection) -> None:
    """Remove what `create_triggers` installed."""
    if conn.dialect.name == "postgresql":
        for table in CATALOGUE_TABLES:
            conn.execute(text(f"DROP TRIGGER IF EXISTS {_trigger(table)} ON {table}"))
        conn.execute(text(f"DROP FUNCTION IF EXISTS {_PG_FUNCTION}()"))
        return
    for table in CATALOGUE_TABLES:
        for event in _SQLITE_EVENTS:
            conn.execute(text(f"DROP TRIGGER IF EXISTS {_trigger(table, event)}"))


def read_revision(conn: Connection) -> int:
    """The catalogue's revision now (0 before its first change)."""
    found = conn.execute(select(catalogue_revision.c.revision).where(catalogue_revision.c.id == 1)).scalar()
    return 0 if found is None else int(found)
