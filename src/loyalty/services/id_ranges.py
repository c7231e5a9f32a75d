"""Set-based jobs over every member, cut into id ranges that each commit on their own.

The expiry and tier jobs decide each member (or member account) independently of every other, so a
range of ids is a complete unit of work: its transaction can commit without waiting for the rest.
Cutting a run into ranges gives two things a single transaction cannot:

* the rows a range locks are held for the length of that range only, so a till selling to a member
  waits at most for one range, not for a run over a million members;
* on PostgreSQL, ranges run side by side on several connections, so a run uses every core the
  database has. A job over 10^6 members spends most of its time in per-row work inside the server
  (foreign-key checks, index and heap writes), which no single statement spreads over cores.

SQLite takes one writer at a time, so there the ranges run one after another.

Ranges are fixed multiples of their size (range k covers ids k·size … (k+1)·size − 1), so two runs
with the same size cut the ids identically and a range's number can name a lock. A run that fails
half-way has committed the ranges it finished; each job skips what is already done (an expired lot,
a member already at their tier), so running it again completes the work.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.sql.elements import ColumnElement

from loyalty.bootstrap import Context
from loyalty.services.common import read

R = TypeVar("R")

#: told `(ranges done, ranges in all)` once before the first range and after each one commits; a job
#: runner shows it as the job's progress (`services.jobs`). It is called in the thread that runs the
#: job, never in a worker of the pool, so it may write to the database on its own connection.
RangeProgress = Callable[[int, int], None]


@dataclass(frozen=True)
class IdRange:
    """Ids `lo` … `hi` inclusive; `number` is `lo // size`, the same for every run of that size."""

    number: int
    lo: int
    hi: int

    def holds(self, column: ColumnElement[Any]) -> ColumnElement[bool]:
        return column.between(self.lo, self.hi)


def id_ranges(conn: Connection, column: ColumnElement[Any], size: int) -> list[IdRange]:
    """The ranges of `size` ids that cover every value of `column` (an indexed id), in order."""
    if size < 1:
        raise ValueError("a range needs at least one id")
    lo, hi = conn.execute(select(func.min(column), func.max(column))).one()
    if lo is None:
        return []
    return [IdRange(k, k * size, (k + 1) * size - 1) for k in range(int(lo) // size, int(hi) // size + 1)]


def run_ranges(
    engine: Engine,
    ranges: list[IdRange],
    work: Callable[[IdRange], R],
    workers: int,
    progress: RangeProgress | None = None,
) -> list[R]:
    """`work(range)` for every range, in order of the ranges; up to `workers` at once on PostgreSQL.

    Each call must open and commit its own transaction. The first error is raised once the ranges
    already under way have finished; the ranges that committed stay committed (see the module note).
    `progress`, when given, hears of each range as it commits (in the order they finish).
    """
    total = len(ranges)
    if progress is not None:
        progress(0, total)
    if workers <= 1 or total <= 1 or engine.dialect.name != "postgresql":
        out = []
        for number, r in enumerate(ranges, start=1):
            out.append(work(r))
            if progress is not None:
                progress(number, total)
        return out
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="loyalty-job") as pool:
        futures = [pool.submit(work, r) for r in ranges]
        if progress is not None:
            for finished, future in enumerate(as_completed(futures), start=1):
                if future.exception() is None:
                    progress(finished, total)
        return [f.result() for f in futures]


def run_job(
    ctx: Context,
    column: ColumnElement[Any],
    work: Callable[[IdRange], R],
    *,
    range_size: int | None,
    workers: int | None,
    progress: RangeProgress | None = None,
) -> list[R]:
    """`work(range)` over the ranges of `column`'s ids: the shared frame of the set-based jobs.

    Sizes come from the arguments, else from the `job_range_size` and `job_workers` settings; a zero
    is refused, not taken for "the default". `progress` hears of each committed range (see
    `RangeProgress`); it changes nothing of what the job does.
    """
    size = ctx.settings.job_range_size if range_size is None else range_size
    count = ctx.settings.job_workers if workers is None else workers
    if count < 1:
        raise ValueError("a job needs at least one worker")
    with read(ctx) as conn:
        ranges = id_ranges(conn, column, size)
    return run_ranges(ctx.engine, ranges, work, count, progress)
