"""What the stored analytics runs share (member clusters, churn, recommendations): reading the latest run
back, and storing a new one in one transaction that replaces the previous run's member rows.

Each refresh writes a row in its runs table (kept: the history of runs) and replaces the rows its
readers serve (each member's cluster, churn scores, recommendations) with the new run's, in the same
transaction at the end of the refresh: a refresh that fails writes nothing, and a reader never sees
the rows of one run beside the figures of another.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection, Row, Table, delete, insert, select

from loyalty.services.common import read

if TYPE_CHECKING:
    from loyalty.bootstrap import Context

T = TypeVar("T")

#: rows one INSERT of member rows sends (a large chain has millions of members)
BATCH = 50_000

#: told `(stages done, stages in all, the stage starting)`; after the last, the stage is "done"
StageProgress = Callable[[int, int, str], None]


def aware(value: datetime) -> datetime:
    """A stored instant as an aware UTC one (SQLite hands them back without their zone)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def latest(conn: Connection, runs: Table, stored: Callable[[Any], T]) -> T | None:
    """The latest run of `runs` (the highest id) as `stored` makes it, or None before the first."""
    row = conn.execute(select(runs).order_by(runs.c.id.desc()).limit(1)).first()
    return None if row is None else stored(row)


def last(ctx: Context, runs: Table, stored: Callable[[Any], T]) -> T | None:
    """`latest` on a connection of its own."""
    with read(ctx) as conn:
        return latest(conn, runs, stored)


def numbered_stages(progress: StageProgress | None, stages: Sequence[str]) -> Callable[[int], None]:
    """A run's `stage(number)`: tells `progress` (if any) that stage `number` of `stages` starts, and
    `len(stages)` that the run is done."""

    def stage(number: int) -> None:
        if progress is not None:
            total = len(stages)
            progress(number, total, stages[number] if number < total else "done")

    return stage


def insert_batches(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """`rows` into `table`, `BATCH` rows a statement."""
    for start in range(0, len(rows), BATCH):
        conn.execute(insert(table), rows[start : start + BATCH])


def store_run(
    ctx: Context,
    runs: Table,
    values: dict[str, Any],
    replaced: Iterable[Table],
    write: Callable[[Connection, int], None],
) -> Row[Any]:
    """In one transaction: the run's row in `runs`, the `replaced` tables emptied, `write(conn, run_id)`
    filling them with the run's rows; the run's row as stored."""
    with ctx.engine.begin() as conn:
        run_id = int(conn.execute(insert(runs).returning(runs.c.id), values).scalar_one())
        for table in replaced:
            conn.execute(delete(table))
        write(conn, run_id)
        return conn.execute(select(runs).where(runs.c.id == run_id)).one()
