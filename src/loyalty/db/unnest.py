# ruff: noqa: S608
# SQL here is assembled from table and column names of our own schema only; values travel as bound
# array parameters.
"""Many rows in one PostgreSQL statement: each column's values as one array, expanded by `unnest`.

A POS batch writes a few dozen rows to seven tables. As an `executemany` the driver sends a message
and reads a result per row, and COPY cannot run in a pipeline; `INSERT … SELECT FROM unnest(…)` is one
statement a table whatever the row count, whose text never changes (so the server plans it once per
connection), and which a pipeline sends without waiting.

Each array travels as its text literal ('{1,2,NULL}'), cast in the statement to the column's array
type: building that string costs a fraction of the driver's adaptation of a Python list (which
inspects every element to choose a type), and the server parses it straight into the typed array.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from loyalty.db.prepared import driver_error, send_sql

if TYPE_CHECKING:  # the driver is imported where a statement is sent: a SQLite process never loads it
    import psycopg


def array_literal(values: Sequence[Any]) -> str:
    """PostgreSQL's text form of a one-dimensional array of ints, strings (or other values written as
    their `str`) and None.

    A column of strings with nothing to escape (most of a POS batch's text: SKUs, times, codes) is
    joined in one step; anything else element by element."""
    if values and type(values[0]) is str and set(map(type, values)) == {str}:
        plain = ",".join(values)
        if '"' not in plain and "\\" not in plain:
            return '{"' + '","'.join(values) + '"}'
    return "{" + ",".join([_element(value) for value in values]) + "}"


def _element(value: Any) -> str:
    if value is None:
        return "NULL"
    if type(value) is int:
        return str(value)
    text = str(value)
    if "\\" in text or '"' in text:
        text = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


@cache
def array_type(table: str, column: str) -> str:
    """The array type of a column of ours on PostgreSQL (text for every kind of string)."""
    from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg

    from loyalty.db.base import metadata

    dialect = PGDialect_psycopg()  # type: ignore[no-untyped-call]
    name = metadata.tables[table].c[column].type.compile(dialect=dialect).lower()
    return "text[]" if name.startswith(("varchar", "text")) else f"{name}[]"


def _arrays(table: str, columns: Sequence[str]) -> str:
    return ", ".join(f"%s::{array_type(table, c)}" for c in columns)


@cache
def insert_sql(table: str, columns: tuple[str, ...]) -> str:
    """`INSERT` of rows given as one array per column."""
    return f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM unnest({_arrays(table, columns)})"


@cache
def update_sql(table: str, assigned: tuple[str, ...], key: str) -> str:
    """`UPDATE` of rows given as one array per assigned column, then the key's array."""
    sets = ", ".join(f"{c} = v.{c}" for c in assigned)
    names = ", ".join((*assigned, key))
    return (
        f"UPDATE {table} SET {sets} FROM unnest({_arrays(table, (*assigned, key))}) AS v({names}) "
        f"WHERE {table}.{key} = v.{key}"
    )


@cache
def add_to_sql(table: str, added: tuple[str, ...], key: str, held: bool) -> str:
    """`UPDATE` adding one array per column to the rows of the key's array. Unless the transaction
    `held` them already, the rows are locked first in key order, so that two transactions adding to
    the same rows take them in the same order (an `UPDATE` alone takes them in its plan's order)."""
    sets = ", ".join(f"{c} = {table}.{c} + v.{c}" for c in added)
    names = ", ".join((*added, key))
    rows = f"unnest({_arrays(table, (*added, key))}) AS v({names})"
    if not held:
        rows = (
            f"(SELECT v.* FROM {rows} JOIN {table} AS held ON held.{key} = v.{key} "
            f"ORDER BY v.{key} FOR UPDATE OF held) AS v"
        )
    return f"UPDATE {table} SET {sets} FROM {rows} WHERE {table}.{key} = v.{key}"


def send(conn: Connection, sql: str, columns: Sequence[Sequence[Any]]) -> Callable[[], list[tuple[Any, ...]]]:
    """Run a query taking one array per column; its rows are read later (`prepared.send_sql`)."""
    return send_sql(conn, sql, [array_literal(values) for values in columns])


class Writes:
    """Inserts and updates of several tables gathered, then sent as one statement (`send`).

    Each is a data-modifying `WITH` query of the one statement: the driver's cost per statement (about
    fifty microseconds of Python, even in a pipeline) is paid once for a whole POS batch. Foreign keys
    are checked at the end of the statement, so rows may refer to rows of another part. Each table
    and row is written by one part only (the parts run on one snapshot, in no given order).
    """

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._arrays: list[str] = []

    def insert(self, table: str, columns: dict[str, Sequence[Any]]) -> None:
        """Rows given column by column (equal lengths); nothing when there are none."""
        values = list(columns.values())
        if values and len(values[0]):
            self._add(insert_sql(table, tuple(columns)), values)

    def update(self, table: str, assigned: dict[str, Sequence[Any]], key: str, keys: Sequence[Any]) -> None:
        """`UPDATE table SET column = value … WHERE key = …` for each position of the arrays."""
        if len(keys):
            self._add(update_sql(table, tuple(assigned), key), [*assigned.values(), keys])

    def add_to(
        self,
        table: str,
        added: dict[str, Sequence[Any]],
        key: str,
        keys: Sequence[Any],
        *,
        held: bool = False,
    ) -> None:
        """`UPDATE table SET column = column + value … WHERE key = …` for each position of the arrays
        (each key once); the rows locked in key order unless the transaction `held` them already
        (`add_to_sql`)."""
        if len(keys):
            self._add(add_to_sql(table, tuple(added), key, held), [*added.values(), keys])

    def _add(self, sql: str, columns: Sequence[Sequence[Any]]) -> None:
        self._parts.append(sql)
        self._arrays += [array_literal(values) for values in columns]

    def send(self, conn: Connection) -> None:
        """Run what was gathered on `conn`'s driver (inside a pipeline: sent without waiting)."""
        if not self._parts:
            return
        sql = _statement(tuple(self._parts))
        # Its text, with numbered placeholders, goes to the server as it is: the driver would parse a
        # statement this long afresh every time to number them (it keeps only short ones parsed).
        from psycopg import RawCursor

        driver: psycopg.Connection[Any] = conn.connection.driver_connection  # type: ignore[assignment]
        cursor = RawCursor(driver)
        try:
            cursor.execute(sql, self._arrays)
        except conn.dialect.loaded_dbapi.Error as exc:
            raise driver_error(sql, None, exc, conn) from exc
        finally:
            cursor.close()
        self._parts, self._arrays = [], []


@lru_cache(maxsize=256)
def _statement(parts: tuple[str, ...]) -> str:
    """The one statement of `Writes`' parts, its placeholders numbered ($1, $2, …) as the server takes
    them: a data-modifying `WITH` query for each part but the last."""
    *first, last = parts
    head = ", ".join(f"w{i} AS ({part})" for i, part in enumerate(first))
    pieces = (f"WITH {head} {last}" if first else last).split("%s")
    numbered = [pieces[0]]
    for n, piece in enumerate(pieces[1:], start=1):
        numbered += [f"${n}", piece]
    return "".join(numbered)


def insert(conn: Connection, table: str, columns: dict[str, Sequence[Any]]) -> None:
    """Insert rows given column by column (equal lengths); nothing when there are none."""
    writes = Writes()
    writes.insert(table, columns)
    writes.send(conn)
