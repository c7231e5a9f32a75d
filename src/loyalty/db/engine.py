"""Engine construction for SQLite (embedded default) and PostgreSQL (production).

SQLite runs in WAL mode with foreign keys on; writers use `BEGIN IMMEDIATE` so that two concurrent
spends serialise on the write lock instead of both reading a stale balance (see `db.locking`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

BULK_CACHE_KIB = 512 * 1024  # page cache of a bulk-load transaction on SQLite
# Checkpoint the WAL every ~200 MB during a bulk load rather than every 4 MB: an index page that many
# batches touch is then copied into the database once, not once per batch.
BULK_CHECKPOINT_PAGES = 50_000


def make_engine(url: str, *, echo: bool = False, **kwargs: Any) -> Engine:
    """Create an engine with the pragmas and isolation this product relies on."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"timeout": 30, "check_same_thread": False},
            **kwargs,
        )
        _configure_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed, echo=echo, pool_pre_ping=True, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin (see SQLAlchemy's pysqlite notes).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        options = conn.get_execution_options()
        mode = options.get("sqlite_begin", "IMMEDIATE")
        dbapi = conn.connection.dbapi_connection
        if options.get("sqlite_bulk_load"):
            # A bulk load writes only ids it has just read or created under the write lock, so the
            # per-row foreign-key look-ups are skipped for that transaction (restored at check-in),
            # and a larger page cache keeps the growing indexes in memory.
            dbapi.execute("PRAGMA foreign_keys=OFF")
            dbapi.execute(f"PRAGMA cache_size=-{BULK_CACHE_KIB}")
            dbapi.execute(f"PRAGMA wal_autocheckpoint={BULK_CHECKPOINT_PAGES}")
        # Straight to the driver: this runs once per transaction, i.e. once per POS sale.
        dbapi.execute(f"BEGIN {mode}")

    @event.listens_for(engine, "checkin")
    def _on_checkin(dbapi_connection: Any, _record: Any) -> None:
        if dbapi_connection is not None and not dbapi_connection.in_transaction:
            dbapi_connection.execute("PRAGMA foreign_keys=ON")
            dbapi_connection.execute("PRAGMA wal_autocheckpoint=1000")


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


__all__ = ["NullPool", "is_sqlite", "make_engine"]
