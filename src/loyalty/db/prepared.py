"""Statements compiled once and run straight on the driver, for the POS hot path.

A purchase runs about nine small statements. Through SQLAlchemy's execution machinery each costs
tens of microseconds of Python before the database sees it — more than SQLite itself needs — so the
posting path compiles its statements once per dialect and parameter set, applies the column types'
own bind processors (e.g. `UTCDateTime` → UTC text on SQLite) and hands SQL and values to the DBAPI
cursor of the *same* connection, inside the transaction SQLAlchemy began. Everything else in the
product uses SQLAlchemy normally.

On PostgreSQL each statement is also a round trip, about 0.2 ms of waiting on the bench machine: a sale
that waited for each of its nine spent more time waiting than executing. `pipelined` lets a block send
its statements without waiting (libpq's pipeline mode); only a statement whose rows are read waits,
for itself and what was sent before it, and the block's end waits once for the rest. A sale then
waits five times instead of ten: for the lock with the window spend, at the end of that block (an
empty answer), for the earning transfer's id, at the end of the writes, and for the commit.

Driver errors are re-raised as SQLAlchemy's exceptions (`IntegrityError`, …) so callers catch one
family of errors whichever path ran the statement.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement

if TYPE_CHECKING:
    from sqlalchemy.engine.interfaces import DBAPIModule

Processor = Callable[[Any], Any]


_MISSING = object()
_NONE: dict[str, Any] = {}
_PLANNED_EACH_RUN: dict[str, Any] = {"prepare": False}


@dataclass(frozen=True)
class _Plan:
    sql: str
    positional: bool
    returns_rows: bool  # a SELECT or RETURNING: its rows are fetched (in a pipeline, that waits for them)
    # (name, bind processor or None, the value the statement carries itself or _MISSING), in SQL order
    slots: tuple[tuple[str, Processor | None, Any], ...]

    def bind(self, params: Mapping[str, Any]) -> Sequence[Any] | Mapping[str, Any]:
        values = []
        for name, proc, default in self.slots:
            value = params[name] if default is _MISSING else params.get(name, default)
            values.append(value if proc is None or value is None else proc(value))
        if self.positional:
            return values
        return dict(zip((slot[0] for slot in self.slots), values, strict=True))


class Prepared:
    """One statement; `run`/`run_many` execute it on an open SQLAlchemy connection's driver cursor."""

    def __init__(self, statement: ClauseElement, *, planned_each_run: bool = False) -> None:
        """`planned_each_run`: PostgreSQL plans the statement at each run. Otherwise the driver
        prepares it after a few runs, and the server may keep a generic plan made while a table was
        small: a look-up in a table that grows from empty would then scan it for the life of the
        connection."""
        self.statement = statement
        self.planned_each_run = planned_each_run
        self._plans: dict[tuple[str, tuple[str, ...]], _Plan] = {}

    def _plan(self, dialect: Dialect, keys: tuple[str, ...]) -> _Plan:
        cache_key = (dialect.name, keys)
        plan = self._plans.get(cache_key)
        if plan is None:
            compiled = self.statement.compile(dialect=dialect, column_keys=list(keys))
            assert isinstance(compiled, SQLCompiler)
            carried = compiled.construct_params(_check=False)
            names = list(compiled.positiontup or ()) if compiled.positional else list(compiled.binds)
            slots = []
            for name in names:
                proc = compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
                default = _MISSING if name in keys else carried.get(name)
                slots.append((name, proc, default))
            returns_rows = not (compiled.isinsert or compiled.isupdate or compiled.isdelete) or bool(
                compiled.effective_returning
            )
            plan = _Plan(compiled.string, compiled.positional, returns_rows, tuple(slots))
            self._plans[cache_key] = plan
        return plan

    def run(self, conn: Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Execute once; return the rows it produced (RETURNING or SELECT), else an empty list."""
        plan = self._plan(conn.dialect, tuple(params))
        cursor = conn.connection.cursor()
        try:
            cursor.execute(plan.sql, plan.bind(params), **self._options(conn))
            return list(cursor.fetchall()) if plan.returns_rows else []
        except conn.dialect.loaded_dbapi.Error as exc:
            raise driver_error(plan.sql, params, exc, conn) from exc
        finally:
            cursor.close()

    def send(self, conn: Connection, params: Mapping[str, Any]) -> Pending:
        """Execute once, reading its rows only when asked (`Pending.rows`).

        Inside `pipelined` on PostgreSQL the statement goes out without waiting, so several can travel
        in one round trip, e.g. a lock and the read that must follow it. Elsewhere it runs at once.
        """
        plan = self._plan(conn.dialect, tuple(params))
        cursor = conn.connection.cursor()
        try:
            cursor.execute(plan.sql, plan.bind(params), **self._options(conn))
        except conn.dialect.loaded_dbapi.Error as exc:
            cursor.close()
            raise driver_error(plan.sql, params, exc, conn) from exc
        return Pending(conn, cursor, plan, params)

    def run_many(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Execute for each row (all rows carry the same keys; one row is executed, as `executemany`
        costs the driver more for it)."""
        if not rows:
            return
        plan = self._plan(conn.dialect, tuple(rows[0]))
        cursor = conn.connection.cursor()
        try:
            if len(rows) == 1:
                cursor.execute(plan.sql, plan.bind(rows[0]), **self._options(conn))
            else:
                cursor.executemany(plan.sql, [plan.bind(r) for r in rows])  # type: ignore[arg-type]
        except conn.dialect.loaded_dbapi.Error as exc:
            raise driver_error(plan.sql, rows, exc, conn) from exc
        finally:
            cursor.close()

    def _options(self, conn: Connection) -> dict[str, Any]:
        """The driver's options for one run: PostgreSQL's `prepare=False` where planned each run."""
        return _PLANNED_EACH_RUN if self.planned_each_run and conn.dialect.name == "postgresql" else _NONE

    def scalar(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        """The first column of the first row, or None."""
        rows = self.run(conn, params)
        return rows[0][0] if rows else None


class Pending:
    """A statement sent by `Prepared.send`, whose rows (and errors) are read when asked."""

    def __init__(self, conn: Connection, cursor: Any, plan: _Plan, params: Mapping[str, Any]) -> None:
        self._conn, self._cursor, self._plan, self._params = conn, cursor, plan, params

    def rows(self) -> list[tuple[Any, ...]]:
        """The rows it produced (RETURNING or SELECT), else an empty list; waits for them if need be."""
        conn = self._conn
        try:
            return list(self._cursor.fetchall()) if self._plan.returns_rows else []
        except conn.dialect.loaded_dbapi.Error as exc:
            raise driver_error(self._plan.sql, self._params, exc, conn) from exc
        finally:
            self._cursor.close()

    def scalar(self) -> Any:
        """The first column of the first row, or None."""
        rows = self.rows()
        return rows[0][0] if rows else None


def send_sql(conn: Connection, sql: str, params: Any = ()) -> Callable[[], list[tuple[Any, ...]]]:
    """Run SQL (the driver's paramstyle) on `conn`'s driver; return how to read its rows.

    Inside `pipelined` it is only sent: the first read waits for it and everything sent before it, in
    one round trip, so a block can send several independent reads and wait once.
    """
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql, params)
    except conn.dialect.loaded_dbapi.Error as exc:
        cursor.close()
        raise driver_error(sql, params, exc, conn) from exc

    def rows() -> list[tuple[Any, ...]]:
        try:
            return list(cursor.fetchall())
        except conn.dialect.loaded_dbapi.Error as exc:
            raise driver_error(sql, params, exc, conn) from exc
        finally:
            cursor.close()

    return rows


def driver_error(sql: str, params: Any, exc: Exception, conn: Connection) -> StatementError:
    """The driver's error as SQLAlchemy's, with its disconnect handling.

    When the server went away, the connection is invalidated (SQLAlchemy discards it instead of
    returning it to the pool) and the error says so (`connection_invalidated`), as for a statement
    SQLAlchemy ran itself; callers that may retry look at that.
    """
    dialect = conn.dialect
    driver_error = cast("DBAPIModule.Error", exc)  # what the `except` clauses above caught
    lost = conn.invalidated or dialect.is_disconnect(driver_error, conn.connection.driver_connection, None)
    if lost and not conn.invalidated:
        conn.invalidate(exc)
    return DBAPIError.instance(sql, params, exc, dialect.loaded_dbapi.Error, connection_invalidated=lost)


def pipelined(conn: Connection) -> AbstractContextManager[None]:
    """On PostgreSQL, send the block's statements without waiting for each answer (libpq pipeline mode).

    A statement whose rows are read (`Prepared.run` of a SELECT or RETURNING) still waits, for itself
    and everything queued before it; the rest go out together and are answered at the block's end. An
    error of a queued statement is raised there, or by the next statement that waits, and the block's
    later statements are not run. Elsewhere (SQLite) a plain block, at no cost to its hot path.

    A block inside another joins it: its statements are answered with the enclosing block's (a
    nested pipeline of the driver's would wait for them at its end). So a savepoint cannot guard
    statements inside a pipeline: their errors arrive after it was released.
    """
    if conn.dialect.name != "postgresql":
        return _NO_PIPELINE
    driver = conn.connection.driver_connection
    if driver.pgconn.pipeline_status:  # type: ignore[union-attr]
        return _NO_PIPELINE
    return _pipeline(conn)


_NO_PIPELINE = nullcontext()


@contextmanager
def _pipeline(conn: Connection) -> Iterator[None]:
    driver = conn.connection.driver_connection
    try:
        with driver.pipeline() as pipe:  # type: ignore[union-attr]
            try:
                yield
            except BaseException:
                # Collect the answers of what the error left unrun ("pipeline aborted") here, so
                # that leaving the pipeline raises the block's own error only, without a warning.
                with suppress(conn.dialect.loaded_dbapi.Error):
                    pipe.sync()
                raise
    except conn.dialect.loaded_dbapi.Error as exc:
        raise driver_error("(pipeline)", None, exc, conn) from exc


@contextmanager
def pipelined_transaction(conn: Connection) -> Iterator[None]:
    """A transaction on `conn` (not yet begun) that commits in the same pipeline as its statements.

    On PostgreSQL what the block sends without reading goes out with the COMMIT and is waited for
    once: a batch of writes then costs one round trip, commit included. An error of any of them is
    raised by the commit, and nothing was written. Elsewhere a plain transaction.
    """
    try:
        with pipelined(conn):
            transaction = conn.begin()
            yield
            transaction.commit()
    except BaseException:
        # A COMMIT behind a failed statement of the pipeline is skipped by the server: the
        # transaction stays open and aborted although SQLAlchemy deems it over. End it here, before
        # the connection goes back to the pool.
        if conn.dialect.name == "postgresql" and not conn.invalidated:
            with suppress(conn.dialect.loaded_dbapi.Error):
                conn.connection.driver_connection.rollback()  # type: ignore[union-attr]
        raise


_savepoint_ids = itertools.count(1)


@contextmanager
def savepoint(conn: Connection) -> Iterator[None]:
    """A savepoint inside `conn`'s transaction, set on the driver: released on success, rolled back to
    (then released) when the block raises, so only the block's own writes are undone.

    SQLAlchemy's `begin_nested` compiles its SAVEPOINT statement on every use; a group commit sets two
    per POS sale, which cost a quarter of the writer's time that way.
    """
    name = f"sp_{next(_savepoint_ids)}"
    cursor = conn.connection.cursor()

    def execute(sql: str) -> None:
        try:
            cursor.execute(sql)
        except conn.dialect.loaded_dbapi.Error as exc:
            raise driver_error(sql, None, exc, conn) from exc

    try:
        execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            execute(f"ROLLBACK TO SAVEPOINT {name}")
            execute(f"RELEASE SAVEPOINT {name}")
            raise
        execute(f"RELEASE SAVEPOINT {name}")
    finally:
        cursor.close()
