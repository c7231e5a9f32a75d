# ruff: noqa: S608
# SQL here is assembled from our own column names and placeholders only; values are bound.
"""What limited earning rules have given (`programme_tables.rule_usage`): read under a lock, added to.

A posting that gives points under a limited rule reads the keys it counts against, locked, and adds
what it gave before it commits. On PostgreSQL the keys' rows are first created if missing (a second
transaction waits on the first's new row instead of reading nothing) and then locked in key order, so
racing tills never both spend the same room and never deadlock. SQLite's writer already holds the
database. The statements go through the driver (`db.prepared.send_sql`), so they also run inside a
pipelined transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from sqlalchemy import Connection

from loyalty.db.prepared import send_sql
from loyalty.db.rows import execute, is_postgres
from loyalty.db.unnest import array_literal

#: (programme id, rule code, subject kind, subject id, period)
Key = tuple[int, str, str, int, str]
_COLUMNS = "programme_id, rule_code, subject_kind, subject_id, period"
_CHUNK = 400


def _pg_arrays(keys: Sequence[Key]) -> list[str]:
    return [array_literal([k[i] for k in keys]) for i in range(5)]


_PG_UNNEST = "unnest(%s::bigint[], %s::varchar[], %s::varchar[], %s::bigint[], %s::varchar[])"


def send_usage(conn: Connection, keys: Sequence[Key], *, lock: bool = True) -> Callable[[], dict[Key, int]]:
    """Send the reads of `keys`' usage (locked, unless `lock` is false: a quote's look);
    the returned function waits for them."""
    ordered = sorted(set(keys))
    sent = []
    if is_postgres(conn) and lock:
        for i in range(0, len(ordered), _CHUNK):
            chunk = ordered[i : i + _CHUNK]
            arrays = _pg_arrays(chunk)
            execute(
                conn,
                f"INSERT INTO rule_usage ({_COLUMNS}, points) SELECT *, 0 FROM {_PG_UNNEST} "
                "ON CONFLICT DO NOTHING",
                arrays,
            )
            sent.append(
                send_sql(
                    conn,
                    f"SELECT {_COLUMNS}, points FROM rule_usage WHERE ({_COLUMNS}) IN "
                    f"(SELECT * FROM {_PG_UNNEST}) ORDER BY {_COLUMNS} FOR UPDATE",
                    arrays,
                )
            )
    else:
        mark = "%s" if is_postgres(conn) else "?"
        for i in range(0, len(ordered), _CHUNK):
            chunk = ordered[i : i + _CHUNK]
            values = ",".join(f"({mark}, {mark}, {mark}, {mark}, {mark})" for _ in chunk)
            sent.append(
                send_sql(
                    conn,
                    f"SELECT {_COLUMNS}, points FROM rule_usage WHERE ({_COLUMNS}) IN (VALUES {values})",
                    [v for key in chunk for v in key],
                )
            )

    def read() -> dict[Key, int]:
        found: dict[Key, int] = {}
        for rows in sent:
            for programme, code, kind, subject, period, points in rows():
                found[(int(programme), str(code), str(kind), int(subject), str(period))] = int(points)
        return found

    return read


def add_usage(conn: Connection, added: Mapping[Key, int]) -> None:
    """Add `added` points to each key's usage (rows created where missing)."""
    items = sorted(added.items())
    pg = is_postgres(conn)
    mark = "%s" if pg else "?"
    for i in range(0, len(items), _CHUNK):
        chunk = items[i : i + _CHUNK]
        values = ",".join(f"({mark}, {mark}, {mark}, {mark}, {mark}, {mark})" for _ in chunk)
        execute(
            conn,
            f"INSERT INTO rule_usage ({_COLUMNS}, points) VALUES {values} "
            f"ON CONFLICT ({_COLUMNS}) DO UPDATE SET points = rule_usage.points + excluded.points",
            [v for key, points in chunk for v in (*key, points)],
        )
