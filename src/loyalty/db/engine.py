"""Engine construction for SQLite (embedded default) and PostgreSQL (production).

SQLite runs in WAL mode with foreign keys on; writers use `BEGIN IMMEDIATE` so that two concurrent
spends serialise on the write lock instead of both reading a stale balance (see `db.locking`).

Writers also queue on a gate before `BEGIN IMMEDIATE`: a lock shared by the threads of one process,
then an advisory file lock (`<database>.writer-lock`) shared by processes (uvicorn workers, the CLI).
Without it, writers that find the database locked fall into SQLite's busy handler, which polls with
sleeps growing to 100 ms: under a burst of POS traffic most of a request's latency would be sleeping
while the lock sits free. Between processes the gate polls every half millisecond instead.

Checkpoints (copying the WAL back into the database) run in a background thread per engine rather
than inside the COMMIT of whichever writer crossed the threshold (see `_Checkpointer`).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.pool import NullPool

# Page cache of a bulk-load transaction on SQLite: room for the pages a batch touches at random
# (accounts, the unique order index). The import keeps one connection per step, so the cache stays warm
# between batches. Measured on 10M lines: 128 MB 109 s, 256 MB 111 s, 1 GB 116 s (larger is not faster).
BULK_CACHE_KIB = 256 * 1024
# Checkpoint the WAL every ~1 GB during a bulk load rather than every 4 MB: an index page that many
# batches touch is then copied into the database once, not once per batch. (4 GB, leaving it all to the
# background checkpointer, was no faster: 120 s and 135 s against 124 s, and the WAL grew to 3.8 GB.)
BULK_CHECKPOINT_PAGES = 250_000
DEFAULT_CACHE_SIZE = -2000  # SQLite's default page cache (2 MB), restored after a bulk load
# Rows written (by this engine's connections) between two background checkpoints: ~1,000 WAL pages.
CHECKPOINT_AFTER_CHANGES = 1_000
# SQLite's own checkpoint inside COMMIT stays only as a backstop, should the background one fall behind.
BACKSTOP_AUTOCHECKPOINT_PAGES = 10_000
_CHECKPOINTER_IDLE_S = 30.0
# Prepared statements each connection keeps (the driver's default is 128). A POS batch's statements
# differ with the number of its sales and members (up to 64 of each), and compiling one again costs
# about as much as running it.
PREPARED_STATEMENTS = 1024
# Where SQLite keeps its temporary files (statement journals, temporary tables, sorts): in memory, and
# in files during a bulk load.
TEMP_STORE = "MEMORY"
BULK_TEMP_STORE = "FILE"


def make_engine(url: str, *, echo: bool = False, **kwargs: Any) -> Engine:
    """Create an engine with the pragmas and isolation this product relies on."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        lock_path = None
        checkpointer = None
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
            lock_path = str(Path(database).resolve()) + ".writer-lock"
            checkpointer = _Checkpointer(str(Path(database).resolve()))
        engine = create_engine(
            url,
            echo=echo,
            connect_args={
                "timeout": _LOCK_TIMEOUT_S,
                "check_same_thread": False,
                "factory": _gated_connection_class(threading.Lock(), lock_path, checkpointer),
                "cached_statements": PREPARED_STATEMENTS,
            },
            **kwargs,
        )
        _configure_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    engine = create_engine(parsed, echo=echo, **kwargs)
    _ping_after_idle(engine)
    return engine


#: A pooled PostgreSQL connection that sat unused this long is pinged before it is handed out.
PING_AFTER_IDLE_S = 2.0


def _ping_after_idle(engine: Engine) -> None:
    """Ping a pooled connection on check-out only if it sat idle for `PING_AFTER_IDLE_S` or more.

    SQLAlchemy's `pool_pre_ping` pings on every check-out: a round trip per request, about a tenth of
    a POS sale's time on PostgreSQL. A connection in steady use is pinged by its own traffic instead:
    should the server restart under load, the first statement on a dead connection fails, SQLAlchemy
    then recycles every connection of the pool that is older, and a sale retries once in a fresh
    transaction (`services.purchases.in_sale_transaction`; safe, since a repeated order replays). A
    connection that sat idle (the quiet night a database is restarted in) is pinged as before, and
    a dead one is replaced before anyone uses it.
    """

    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        since = record.info.pop("idle_since", None)
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_S:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:  # the pool replaces it and checks out again
            raise DisconnectionError("connection was closed while idle in the pool") from exc


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
        # Temporary files in memory: a savepoint's statement journal (the group commit sets one per
        # sale, or per group posted set-based) otherwise spills to a temporary file once the pages a
        # POS transaction changes outgrow SQLite's in-memory part of it (ADR 0006). A bulk load, and a
        # transaction run with the `sqlite_temp_files` option, go back to files (below): their sorts,
        # such as an index built over every purchase, can be far larger than memory should hold.
        cursor.execute(f"PRAGMA temp_store={TEMP_STORE}")
        if getattr(dbapi_connection, "checkpointer", None) is not None:
            cursor.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_AUTOCHECKPOINT_PAGES}")
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
            conn.connection.info["sqlite_bulk_load"] = True
            dbapi.execute("PRAGMA foreign_keys=OFF")
            dbapi.execute(f"PRAGMA cache_size=-{BULK_CACHE_KIB}")
            dbapi.execute(f"PRAGMA wal_autocheckpoint={BULK_CHECKPOINT_PAGES}")
        if options.get("sqlite_bulk_load") or options.get("sqlite_temp_files"):
            # Sorts as large as an import's (its batches, an index built over every purchase) keep
            # their temporary files on disk (restored at check-in).
            conn.connection.info["sqlite_temp_files"] = True
            dbapi.execute(f"PRAGMA temp_store={BULK_TEMP_STORE}")
        # Straight to the driver: this runs once per transaction, i.e. once per POS sale.
        try:
            if mode == "DEFERRED" or not isinstance(dbapi, _GatedConnection):
                dbapi.execute(f"BEGIN {mode}")
            else:
                dbapi.begin_write(mode)
        except sqlite3.Error as exc:
            # Raised from an event, so SQLAlchemy would not wrap it: callers catch one family of errors.
            raise DBAPIError.instance(f"BEGIN {mode}", None, exc, sqlite3.Error) from exc

    @event.listens_for(engine, "checkin")
    def _on_checkin(dbapi_connection: Any, record: Any) -> None:
        # Only a connection that ran a bulk load (or large sorts) gets its defaults back (most
        # check-ins are POS sales).
        if dbapi_connection is None or dbapi_connection.in_transaction:
            return
        if record.info.pop("sqlite_temp_files", False):
            dbapi_connection.execute(f"PRAGMA temp_store={TEMP_STORE}")
        if record.info.get("sqlite_bulk_load"):
            dbapi_connection.execute("PRAGMA foreign_keys=ON")
            dbapi_connection.execute(f"PRAGMA cache_size={DEFAULT_CACHE_SIZE}")
            pages = BACKSTOP_AUTOCHECKPOINT_PAGES if dbapi_connection.checkpointer else 1000
            dbapi_connection.execute(f"PRAGMA wal_autocheckpoint={pages}")
            del record.info["sqlite_bulk_load"]


_LOCK_TIMEOUT_S = 30.0


class _GatedConnection(sqlite3.Connection):
    """A pysqlite connection that holds its engine's write gate from BEGIN IMMEDIATE to the end.

    The gate is released after COMMIT or ROLLBACK has completed (or when the connection closes), so
    the next writer never finds the database still locked by this one.
    """

    gate: threading.Lock
    lock_path: str | None
    checkpointer: _Checkpointer | None
    holds_gate = False
    _lock_fd: int | None = None
    _changes_noted = 0

    def begin_write(self, mode: str) -> None:
        if not self.holds_gate:
            deadline = time.monotonic() + _LOCK_TIMEOUT_S
            if not self.gate.acquire(timeout=_LOCK_TIMEOUT_S):
                raise sqlite3.OperationalError("database is locked")
            self.holds_gate = True
            try:
                self._lock_file(deadline)
            except BaseException:
                self._release()
                raise
        try:
            self.execute(f"BEGIN {mode}")
        except BaseException:
            self._release()
            raise

    def _lock_file(self, deadline: float) -> None:
        if self.lock_path is None or _flock is None:
            return
        if self._lock_fd is None:
            self._lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        while True:
            try:
                _flock(self._lock_fd, _LOCK_EX_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise sqlite3.OperationalError("database is locked") from None
                time.sleep(0.0005)

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._release()
        changes, self._changes_noted = self.total_changes - self._changes_noted, self.total_changes
        if self.checkpointer is not None and changes:
            self.checkpointer.note(changes)

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._release()
            self._changes_noted = self.total_changes

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._release()
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None

    def _release(self) -> None:
        if self.holds_gate:
            self.holds_gate = False
            try:
                if self._lock_fd is not None and _flock is not None:
                    _flock(self._lock_fd, _LOCK_UN)
            finally:
                self.gate.release()


try:  # advisory file locks are POSIX; elsewhere only the in-process gate applies
    import fcntl

    _flock: Any = fcntl.flock
    _LOCK_EX_NB = fcntl.LOCK_EX | fcntl.LOCK_NB
    _LOCK_UN = fcntl.LOCK_UN
except ImportError:  # pragma: no cover - Windows
    _flock, _LOCK_EX_NB, _LOCK_UN = None, 0, 0


def _gated_connection_class(
    gate: threading.Lock, lock_path: str | None, checkpointer: _Checkpointer | None = None
) -> type[_GatedConnection]:
    """A connection class bound to one engine's gates (one per engine, i.e. per database file)."""
    return type(
        "GatedConnection",
        (_GatedConnection,),
        {"gate": gate, "lock_path": lock_path, "checkpointer": checkpointer},
    )


class _Checkpointer:
    """Copies the write-ahead log back into the database from a background thread, off the writers' path.

    SQLite's automatic checkpoint runs inside the COMMIT that crosses its threshold, while that writer
    still holds the write gate, so every other writer (threads and processes) waits for the copy: with
    two API workers, checkpoints cost a third of the POS throughput. Here a commit only counts the rows
    it wrote; past `CHECKPOINT_AFTER_CHANGES` a daemon thread runs a PASSIVE checkpoint on a connection
    of its own, which waits for no reader or writer (another process's checkpoint running at the same
    moment makes it skip a turn). The thread ends after `_CHECKPOINTER_IDLE_S` without work and starts
    again on demand. SQLite's own checkpoint stays as a backstop (`BACKSTOP_AUTOCHECKPOINT_PAGES`).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.pending = 0
        self.runs = 0  # checkpoints run, for tests and diagnostics
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def note(self, changes: int) -> None:
        """Count rows a commit wrote; wake the checkpoint thread past the threshold."""
        self.pending += changes
        if self.pending < CHECKPOINT_AFTER_CHANGES:
            return
        self.pending = 0
        with self._lock:
            self._wake.set()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        db = sqlite3.connect(self.path, timeout=0, isolation_level=None, check_same_thread=False)
        try:
            while True:
                if not self._wake.wait(_CHECKPOINTER_IDLE_S):
                    with self._lock:  # no wake-up can slip in between this check and the exit
                        if not self._wake.is_set():
                            self._thread = None
                            return
                self._wake.clear()
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.runs += 1
                except sqlite3.Error:
                    pass  # another process is checkpointing; the next turn catches up
        finally:
            db.close()


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


__all__ = ["NullPool", "is_sqlite", "make_engine"]
