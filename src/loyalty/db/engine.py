"""Engine construction for SQLite (embedded default) and PostgreSQL (production).

SQLite runs in WAL mode with foreign keys on; writers use `BEGIN IMMEDIATE` so that two concurrent
spends serialise on the write lock instead of both reading a stale balance (see `db.locking`).

Writers of one process also queue on an in-process gate before `BEGIN IMMEDIATE`. Without it, threads
that find the file locked fall into SQLite's busy handler, which polls with sleeps growing to 100 ms:
under a burst of POS traffic most of a request's latency would be sleeping while the lock sits free.
Other processes (uvicorn workers, the CLI) still meet the busy handler, as before.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool


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
            connect_args={
                "timeout": _LOCK_TIMEOUT_S,
                "check_same_thread": False,
                "factory": _gated_connection_class(threading.Lock()),
            },
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
        mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        # Straight to the driver: this runs once per transaction, i.e. once per POS sale.
        dbapi = conn.connection.dbapi_connection
        if mode == "DEFERRED" or not isinstance(dbapi, _GatedConnection):
            dbapi.execute(f"BEGIN {mode}")
        else:
            dbapi.begin_write(mode)


_LOCK_TIMEOUT_S = 30.0


class _GatedConnection(sqlite3.Connection):
    """A pysqlite connection that holds its engine's write gate from BEGIN IMMEDIATE to the end.

    The gate is released after COMMIT or ROLLBACK has completed (or when the connection closes), so
    the next writer never finds the file still locked by this one.
    """

    gate: threading.Lock
    holds_gate = False

    def begin_write(self, mode: str) -> None:
        if not self.holds_gate:
            if not self.gate.acquire(timeout=_LOCK_TIMEOUT_S):
                raise sqlite3.OperationalError("database is locked")
            self.holds_gate = True
        try:
            self.execute(f"BEGIN {mode}")
        except BaseException:
            self._release()
            raise

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._release()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._release()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._release()

    def _release(self) -> None:
        if self.holds_gate:
            self.holds_gate = False
            self.gate.release()


def _gated_connection_class(gate: threading.Lock) -> type[_GatedConnection]:
    """A connection class bound to one engine's gate (one gate per engine, i.e. per database)."""
    return type("GatedConnection", (_GatedConnection,), {"gate": gate})


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


__all__ = ["NullPool", "is_sqlite", "make_engine"]
