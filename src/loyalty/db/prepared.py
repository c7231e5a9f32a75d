"""Statements compiled once and run straight on the driver, for the POS hot path.

A purchase runs about nine small statements. Through SQLAlchemy's execution machinery each costs
tens of microseconds of Python before the database sees it — more than SQLite itself needs — so the
posting path compiles its statements once per dialect and parameter set, applies the column types'
own bind processors (e.g. `UTCDateTime` → UTC text on SQLite) and hands SQL and values to the DBAPI
cursor of the *same* connection, inside the transaction SQLAlchemy began. Everything else in the
product uses SQLAlchemy normally.

Driver errors are re-raised as SQLAlchemy's exceptions (`IntegrityError`, …) so callers catch one
family of errors whichever path ran the statement.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement

Processor = Callable[[Any], Any]


@dataclass(frozen=True)
class _Plan:
    sql: str
    order: tuple[str, ...] | None  # parameter names in order for positional paramstyles, else None
    processors: tuple[tuple[str, Processor], ...]
    defaults: Mapping[str, Any]  # values of binds the statement carries itself (literals like coalesce's 0)

    def bind(self, params: Mapping[str, Any]) -> Sequence[Any] | Mapping[str, Any]:
        if self.defaults:
            params = {**self.defaults, **params}
        if self.processors:
            params = dict(params)
            for name, proc in self.processors:
                if name in params:
                    params[name] = proc(params[name])
        if self.order is not None:
            return tuple(params[name] for name in self.order)
        return params


class Prepared:
    """One statement; `run`/`run_many` execute it on an open SQLAlchemy connection's driver cursor."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._plans: dict[tuple[str, tuple[str, ...]], _Plan] = {}

    def _plan(self, dialect: Dialect, keys: tuple[str, ...]) -> _Plan:
        cache_key = (dialect.name, keys)
        plan = self._plans.get(cache_key)
        if plan is None:
            compiled = self.statement.compile(dialect=dialect, column_keys=list(keys))
            assert isinstance(compiled, SQLCompiler)
            procs = []
            for name, bind in compiled.binds.items():
                proc = bind.type.dialect_impl(dialect).bind_processor(dialect)
                if proc is not None:
                    procs.append((name, proc))
            order = tuple(compiled.positiontup) if compiled.positional and compiled.positiontup else None
            defaults = {
                k: v for k, v in compiled.construct_params(_check=False).items() if k not in keys
            }
            plan = _Plan(compiled.string, order, tuple(procs), defaults)
            self._plans[cache_key] = plan
        return plan

    def run(self, conn: Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Execute once; return the rows it produced (RETURNING or SELECT), else an empty list."""
        plan = self._plan(conn.dialect, tuple(params))
        cursor = conn.connection.cursor()
        try:
            cursor.execute(plan.sql, plan.bind(params))
            return list(cursor.fetchall()) if cursor.description else []
        except conn.dialect.loaded_dbapi.Error as exc:
            raise _wrapped(plan.sql, params, exc, conn.dialect) from exc
        finally:
            cursor.close()

    def run_many(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Execute for each row (all rows carry the same keys)."""
        if not rows:
            return
        plan = self._plan(conn.dialect, tuple(rows[0]))
        cursor = conn.connection.cursor()
        try:
            cursor.executemany(plan.sql, [plan.bind(r) for r in rows])  # type: ignore[arg-type]
        except conn.dialect.loaded_dbapi.Error as exc:
            raise _wrapped(plan.sql, rows, exc, conn.dialect) from exc
        finally:
            cursor.close()

    def scalar(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        """The first column of the first row, or None."""
        rows = self.run(conn, params)
        return rows[0][0] if rows else None


def _wrapped(sql: str, params: Any, exc: Exception, dialect: Dialect) -> StatementError:
    return DBAPIError.instance(sql, params, exc, dialect.loaded_dbapi.Error)
