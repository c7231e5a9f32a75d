# ruff: noqa: S608
# SQL here is assembled from table/column names of our own schema and integers only; every value that
# comes from outside travels as a bound parameter or through COPY.
"""Many rows written or read straight through the driver: the raw-SQL layer of the set-based paths.

The bulk import and the POS batches write thousands of rows a statement. SQLAlchemy's per-row
parameter processing would cost more than the database's work, so values arrive already in the form
the columns store (instants as text, `db.stored_time`) and go to the DBAPI cursor of the caller's
connection, inside its transaction: `COPY … FROM STDIN` on PostgreSQL (or one `unnest` statement for
a few rows, `db.unnest.Writes`), multi-row `VALUES` on SQLite. Ids are handed out up front
(`next_ids`), so rows of several tables can name each other without a round trip.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import lru_cache
from itertools import chain, islice
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection

from loyalty.db import unnest
from loyalty.db.prepared import driver_error, send_sql

IntArray = npt.NDArray[np.int64]

# Ids per `IN`/`ANY` condition of a read.
_ID_CHUNK = 20_000
# Bound parameters per statement: the lowest limit any SQLite has had (999 before 3.32).
_MAX_BOUND_PARAMETERS = 999
# Ids bound per `IN` condition on SQLite: room left for the statement's other parameters.
_BOUND_IDS = _MAX_BOUND_PARAMETERS - 15


def is_postgres(conn: Connection) -> bool:
    """Whether `conn` talks to PostgreSQL (else SQLite): the one place the raw layer tells them apart."""
    return conn.dialect.name == "postgresql"


def cursor(conn: Connection) -> Any:
    """A DBAPI cursor on `conn`'s connection, inside its transaction."""
    return conn.connection.cursor()


def fetch(conn: Connection, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Any]:
    """Rows of one statement in the driver's paramstyle."""
    return send_sql(conn, sql, params)()


def placeholder(conn: Connection) -> str:
    """The driver's positional parameter marker."""
    return "%s" if is_postgres(conn) else "?"


def among(column: str, ids: IntArray, pg: bool) -> Iterator[tuple[str, list[str]]]:
    """`column` is one of `ids`, in chunks: (the SQL condition, its parameters).

    The ids are bound, never written into the text, so the statement's text depends at most on how
    many there are and the driver's cache of prepared statements finds it again (a POS batch's reads
    were otherwise compiled afresh every time). PostgreSQL binds them as one array: the driver
    converts the statement once, and the server plans it once per connection.
    """
    chunk_size = _ID_CHUNK if pg else _BOUND_IDS
    for i in range(0, len(ids), chunk_size):
        chunk = ids[i : i + chunk_size].tolist()
        if pg:
            yield f"{column} = ANY(%s::bigint[])", [unnest.array_literal(chunk)]
        else:
            yield f"{column} IN ({','.join('?' * len(chunk))})", chunk


def next_ids(conn: Connection, table: str, n: int) -> IntArray:
    """`n` fresh primary keys for `table`: from its sequence on PostgreSQL, after max(id) on SQLite.

    SQLite: the transaction holds the database's write lock (BEGIN IMMEDIATE), so nobody else can take
    the same ids before commit; they are one contiguous range.
    """
    return next_ids_for(conn, {table: n})[table]


def next_ids_for(conn: Connection, wanted: dict[str, int]) -> dict[str, IntArray]:
    """`next_ids` for several tables; on PostgreSQL in one statement (one round trip, not one a table)."""
    if is_postgres(conn):
        return send_next_ids(conn, wanted)()
    tops = _sqlite_tops(conn, wanted)
    return {
        table: np.arange(tops[table] + 1, tops[table] + 1 + n, dtype=np.int64) for table, n in wanted.items()
    }


def next_id_lists(conn: Connection, wanted: dict[str, int]) -> dict[str, list[int]]:
    """`next_ids_for` as lists (a few rows' ids, which the caller reads one by one)."""
    if is_postgres(conn):
        return {table: ids.tolist() for table, ids in send_next_ids(conn, wanted)().items()}
    tops = _sqlite_tops(conn, wanted)
    return {table: list(range(tops[table] + 1, tops[table] + 1 + n)) for table, n in wanted.items()}


def _sqlite_tops(conn: Connection, wanted: dict[str, int]) -> dict[str, int]:
    """SQLite: the highest id of each table `wanted` (0 for an empty one, or one nothing is wanted of)."""
    tables = [table for table, n in wanted.items() if n > 0]
    tops = dict.fromkeys(wanted, 0)
    if tables:  # one statement for every table (each max(id) is the end of its primary key)
        (row,) = fetch(conn, "SELECT " + ", ".join(f"(SELECT coalesce(max(id), 0) FROM {t})" for t in tables))
        tops.update(zip(tables, map(int, row), strict=True))
    return tops


def send_next_ids(conn: Connection, wanted: dict[str, int]) -> Callable[[], dict[str, IntArray]]:
    """PostgreSQL: `next_ids_for`, read later (see `db.prepared.send_sql`)."""
    tables = [table for table, n in wanted.items() if n > 0]
    out = {table: np.zeros(0, dtype=np.int64) for table in wanted}
    if not tables:
        return lambda: out
    # One row, an array of ids per table. The set is sized by an array rather than generate_series,
    # which the planner takes for a thousand rows: the statement is then planned once per
    # connection instead of at every call; the sequence is named once per statement (an InitPlan).
    sent = send_sql(
        conn,
        "SELECT "
        + ", ".join(
            "(SELECT array_agg(nextval((SELECT pg_get_serial_sequence("
            f"'{table}', 'id')))) FROM unnest(array_fill(0, ARRAY[%s::int])))"
            for table in tables
        ),
        [wanted[table] for table in tables],
    )

    def read() -> dict[str, IntArray]:
        (row,) = sent()
        for table, ids in zip(tables, row, strict=True):
            out[table] = np.sort(np.array(ids, dtype=np.int64))
        return out

    return read


def write_rows(
    conn: Connection,
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    constants: dict[str, int | str | None] | None = None,
    *,
    into: unnest.Writes | None = None,
) -> int | None:
    """Insert many rows: multi-row `VALUES` on SQLite, `COPY … FROM STDIN` on PostgreSQL; return
    SQLite's id of the last row written (its cursor's `lastrowid`), None on PostgreSQL.

    COPY waits for the server twice per table; for a few rows PostgreSQL's rows are instead gathered
    `into` one statement with the batch's other writes (`db.unnest.Writes`, sent by the caller).

    Values must already be what the driver stores (instants as UTC text, `db.stored_time`). `constants`
    are columns with one value for every row: on SQLite they are written into the statement instead of
    being bound again for each of millions of rows, but bound with each row where the rows fit in one
    statement (a POS batch), so that its text depends only on how many rows there are and the
    driver's cache of prepared statements finds it again.
    """
    consts = constants or {}
    names = (*columns, *consts)
    extra = tuple(consts.values())
    if into is not None:
        data = [list(col) for col in zip(*rows, strict=True)]
        if data:
            data += [[value] * len(data[0]) for value in extra]
            into.insert(table, dict(zip(names, data, strict=True)))
        return None
    cur = cursor(conn)
    try:
        if is_postgres(conn):
            with cur.copy(f"COPY {table} ({', '.join(names)}) FROM STDIN") as copy_in:
                for row in rows:
                    copy_in.write_row((*row, *extra))
            return None
        _insert_sqlite(cur, _insert_head(table, names), len(columns), rows, extra)
        last: int | None = cur.lastrowid  # None where there was no row
        return last
    except conn.dialect.loaded_dbapi.Error as exc:
        raise driver_error(f"bulk insert into {table}", None, exc, conn) from exc
    finally:
        cur.close()


def write_numbered(
    conn: Connection,
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    constants: dict[str, int | str | None] | None = None,
    *,
    ids: Sequence[int] | None,
    into: unnest.Writes | None = None,
) -> Sequence[int]:
    """Insert a few rows (`write_rows`) and return their ids: `ids`, written with them (PostgreSQL
    takes them up front, so that one statement can carry the rows that name them), or, without,
    the ones SQLite gives them: the transaction holds the database's write lock, so a statement's
    rows take the ids after the table's highest, in order, the last of them the cursor's
    `lastrowid` (no read of the highest id first)."""
    if ids is not None:
        numbered = [(i, *row) for i, row in zip(ids, rows, strict=True)]
        write_rows(conn, table, ("id", *columns), numbered, constants, into=into)
        return ids
    if into is not None or is_postgres(conn):
        raise ValueError("PostgreSQL's rows are written with their ids")
    if not rows:
        return []
    if len(rows) * (len(columns) + len(constants or ())) > _MAX_BOUND_PARAMETERS:
        raise ValueError("numbered rows are a few, written in one statement")
    last = write_rows(conn, table, columns, rows, constants)
    if last is None:  # not reached: rows were written
        raise RuntimeError(f"no row was written into {table}")
    return range(last - len(rows) + 1, last + 1)


def insert_few(conn: Connection, table: str, columns: Mapping[str, Sequence[Any]]) -> None:
    """A few rows, given column by column, in one statement on either database: `unnest` of arrays
    on PostgreSQL (inside a pipeline, sent without waiting), multi-row VALUES on SQLite.

    One statement rather than one per row (`executemany`): PostgreSQL runs a table's statement
    triggers once for it (`db.statement_keys`) and the driver's cost per statement is paid once."""
    if is_postgres(conn):
        unnest.insert(conn, table, dict(columns))
        return
    write_rows(conn, table, list(columns), zip(*columns.values(), strict=True))


def update_rows(
    conn: Connection,
    table: str,
    assigned: Sequence[str],
    key: str,
    rows: list[tuple[Any, ...]],
    into: unnest.Writes | None = None,
) -> None:
    """`UPDATE table SET assigned… WHERE key = …` for each row (the assigned values, then the key).

    PostgreSQL: one statement joining `unnest` of the values, or part of those gathered `into` one
    (see `write_rows`); SQLite: `executemany` (one row: `execute`).
    """
    if not rows:
        return
    if is_postgres(conn):
        *values, keys = (list(col) for col in zip(*rows, strict=True))
        writes = into or unnest.Writes()
        writes.update(table, dict(zip(assigned, values, strict=True)), key, keys)
        if into is None:
            writes.send(conn)
        return
    sql = _update_sql(table, tuple(assigned), key)
    cur = cursor(conn)
    try:
        if len(rows) == 1:  # a batch of one sale's: executemany costs the driver more for one row
            cur.execute(sql, rows[0])
        else:
            cur.executemany(sql, rows)
    except conn.dialect.loaded_dbapi.Error as exc:
        raise driver_error(sql, rows, exc, conn) from exc
    finally:
        cur.close()


def execute(conn: Connection, sql: str, params: Sequence[Any] | None = None) -> int:
    """Run one statement without rows on the driver (inside a pipeline: sent, its error raised
    later); the rows it changed."""
    cur = cursor(conn)
    try:
        cur.execute(sql) if params is None else cur.execute(sql, params)
        return int(cur.rowcount)
    except conn.dialect.loaded_dbapi.Error as exc:
        raise driver_error(sql, params, exc, conn) from exc
    finally:
        cur.close()


def _insert_sqlite(
    cur: Any, head: str, width: int, rows: Iterable[Sequence[Any]], constants: tuple[Any, ...]
) -> None:
    """SQLite: `rows` (each `width` values) and the `constants` beside each: bound with the rows when
    they fit one statement, else written into the statement's text once (see `write_rows`)."""
    bound_width = width + len(constants)
    fit = _MAX_BOUND_PARAMETERS // bound_width
    if isinstance(rows, list) and 0 < len(rows) <= fit:  # a POS batch's few rows: no copy
        bound = (
            [value for values in rows for value in (*values, *constants)] if constants else list(chain(*rows))
        )
        cur.execute(_bound_values(head, bound_width, len(rows)), bound)
        return
    source = iter(rows)
    first = list(islice(source, fit + 1))
    if len(first) <= fit:  # one statement, its text built once for its shape (a POS batch's)
        if first:
            bound = [value for values in first for value in (*values, *constants)]
            cur.execute(_bound_values(head, bound_width, len(first)), bound)
        return
    row = "(" + ", ".join(["?"] * width + [_literal(v) for v in constants]) + ")"
    _insert_many(cur, head, row, width, chain(first, source))


@lru_cache(maxsize=64)
def _update_sql(table: str, assigned: tuple[str, ...], key: str) -> str:
    """SQLite: `UPDATE table SET assigned… = ? WHERE key = ?` (built once per shape)."""
    sets = ", ".join(f"{c} = ?" for c in assigned)
    return f"UPDATE {table} SET {sets} WHERE {key} = ?"


@lru_cache(maxsize=256)
def _insert_head(table: str, names: tuple[str, ...]) -> str:
    """`INSERT INTO table (names…) VALUES ` (built once per table and columns: a POS batch writes
    the same few shapes for every sale)."""
    return f"INSERT INTO {table} ({', '.join(names)}) VALUES "


@lru_cache(maxsize=1024)
def _bound_values(head: str, width: int, rows: int) -> str:
    """`head` (`INSERT INTO … VALUES `) with `rows` rows of `width` bound values."""
    row = "(" + ", ".join("?" * width) + ")"
    return head + ", ".join([row] * rows)


def _insert_many(cur: Any, head: str, row: str, width: int, rows: Iterable[Sequence[Any]]) -> None:
    """SQLite: insert `rows` with multi-row VALUES statements of `_MAX_BOUND_PARAMETERS // width` rows.

    One statement step per row costs as much again as the row itself (statement reset, the driver's
    per-row loop); a hundred rows per step made the import's inserts about a third faster. The full
    statement is only handed to the driver when there is a full chunk for it: `executemany` looks up
    (and, the first time, compiles) its statement even for no rows, which a POS batch of a few rows
    paid on every table.
    """
    if width < 1:
        raise ValueError("at least one bound column is needed")
    per = max(1, _MAX_BOUND_PARAMETERS // width)
    source = iter(rows)

    full = per * width

    def chunk() -> list[Any]:
        return list(chain.from_iterable(islice(source, per)))

    rest = chunk()

    def chunks() -> Iterator[list[Any]]:  # the full chunks; what is left stays in `rest`
        nonlocal rest
        while len(rest) == full:
            yield rest
            rest = chunk()

    if len(rest) == full:
        cur.executemany(head + ", ".join([row] * per), chunks())
    if rest:
        cur.execute(head + ", ".join([row] * (len(rest) // width)), rest)


def _literal(value: int | str | None) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return str(int(value))
    return "'" + value.replace("'", "''") + "'"
