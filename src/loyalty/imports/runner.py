"""Orchestrates one import: read -> map -> validate (DuckDB) -> reject file -> batched, checkpointed load.

Each batch is loaded and its checkpoint row written in one database transaction, so a `kill -9` leaves
either a whole batch or none of it. A re-run of the same file (same bytes, kind and mapping) picks up
the unfinished run by its fingerprint; rows committed before the crash are recognised as duplicates by
their natural keys during validation, so the re-run converges to exactly the totals of an uninterrupted
run and never double-counts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import Connection, Engine, insert, select, update

from loyalty.db import deferred_indexes
from loyalty.db.imports_tables import import_batches, import_runs
from loyalty.imports.mapping import ColumnMap, Kind, MappingError, load_mapping_file, resolve_mapping
from loyalty.imports.readers import read_table
from loyalty.imports.report import Summary, default_reject_path, write_rejects
from loyalty.imports.validate import Checked, validate

PROGRESS_MIN_ROWS = 20_000
log = logging.getLogger(__name__)


@dataclass
class ImportOptions:
    """Everything a caller (CLI, demo, tests, bench) can say about one import."""

    mapping_file: Path | None = None
    columns: dict[str, str] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=dict)
    delimiter: str | None = None
    encoding: str | None = None
    sheet: str | None = None
    reject_path: Path | None = None
    batch_rows: int = 2_000_000  # large: each commit rewrites the pages of the indexes it touched
    progress: bool | None = None  # None: only for large files on a terminal
    dry_run: bool = False
    # Build the ledger's account-keyed indexes once after a large purchase import instead of keeping
    # them up row by row (see db.deferred_indexes); None: when the import is large and at least
    # doubles what the database holds, on SQLite.
    defer_indexes: bool | None = None


def file_fingerprint(path: Path, kind: Kind, mapping: ColumnMap) -> str:
    """sha256 over the file bytes, the kind and the effective mapping: same input -> same run."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            digest.update(chunk)
    digest.update(kind.value.encode())
    digest.update(json.dumps(mapping.columns, sort_keys=True).encode())
    digest.update(json.dumps(mapping.defaults, sort_keys=True).encode())
    return digest.hexdigest()


def batches(table: pa.Table, size: int, group_column: str | None = None) -> Iterator[pa.Table]:
    """Slice `table` into batches of about `size` rows, never splitting a run of equal `group_column`.

    Purchase lines of one order must land in the same transaction, otherwise a crash between two
    batches would leave half an order (and its points) behind.
    """
    n = table.num_rows
    if n == 0:
        return
    if group_column is None:
        for offset in range(0, n, size):
            yield table.slice(offset, size)
        return
    keys = table.column(group_column)
    start = 0
    while start < n:
        end = min(start + size, n)
        if end < n:
            boundary = keys[end - 1]
            # move the cut forward to the first row of the next group
            rest = keys.slice(end)
            mismatch = pc.index(pc.not_equal(rest, boundary), True).as_py()
            end = n if mismatch < 0 else end + mismatch
        yield table.slice(start, end - start)
        start = end


def _now(clock: Any) -> datetime:
    return clock() if callable(clock) else datetime.now().astimezone()


def begin_run(
    conn: Connection, kind: Kind, source: str, fingerprint: str, now: datetime
) -> tuple[int, bool, int]:
    """Find the unfinished run of this exact input, or start one. Returns (run_id, resumed, batches_done)."""
    row = conn.execute(
        select(import_runs.c.id, import_runs.c.batches_done)
        .where(import_runs.c.fingerprint == fingerprint, import_runs.c.status == "running")
        .order_by(import_runs.c.id.desc())
        .limit(1)
    ).first()
    if row is not None:
        return int(row.id), True, int(row.batches_done)
    run_id = conn.execute(
        insert(import_runs)
        .values(
            kind=kind.value,
            source_name=source[-500:],
            fingerprint=fingerprint,
            status="running",
            started_at=now,
        )
        .returning(import_runs.c.id)
    ).scalar_one()
    return int(run_id), False, 0


def record_batch(
    conn: Connection, run_id: int, batch_no: int, rows: pa.Table, imported: int, now: datetime
) -> None:
    """The checkpoint: written in the same transaction as the batch's data."""
    lines = rows.column("_line" if "_line" in rows.column_names else "first_line")
    first = int(pc.min(lines).as_py())
    last = int(pc.max(lines).as_py())
    conn.execute(
        insert(import_batches).values(
            run_id=run_id,
            batch_no=batch_no,
            first_line=first,
            last_line=last,
            rows=imported,
            committed_at=now,
        )
    )
    conn.execute(
        update(import_runs)
        .where(import_runs.c.id == run_id)
        .values(
            batches_done=import_runs.c.batches_done + 1,
            rows_imported=import_runs.c.rows_imported + imported,
            last_line=last,
        )
    )


def finish_run(conn: Connection, run_id: int, summary: Summary, now: datetime) -> None:
    conn.execute(
        update(import_runs)
        .where(import_runs.c.id == run_id)
        .values(
            status="done",
            finished_at=now,
            rows_read=summary.read,
            rows_rejected=summary.rejected,
            rows_duplicate=summary.duplicates,
            summary=summary.as_dict(),
        )
    )


@dataclass
class Step:
    """One phase of a load: a table of good rows and how to batch and count them."""

    name: str
    table: pa.Table
    group_column: str | None = None
    counts_rows: bool = True
    lines_column: str | None = None  # when one row stands for several source lines
    own_transactions: bool = False  # the loader's service calls commit themselves (e.g. post_return)
    bulk_load: bool = False  # batches only write ids they read or create (see db.engine: sqlite_bulk_load)
    defers_indexes: bool = False  # may build the ledger's account-keyed indexes after its batches

    def source_rows(self, batch: pa.Table) -> int:
        if self.lines_column is None:
            return int(batch.num_rows)
        return int(pc.sum(batch.column(self.lines_column)).as_py() or 0)


def make_progress(console: Console, total: int, enabled: bool | None) -> Progress:
    show = enabled if enabled is not None else (total >= PROGRESS_MIN_ROWS and console.is_terminal)
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        console=console,
        disable=not show,
        transient=False,
    )


def prepare(kind: Kind, path: Path, options: ImportOptions) -> tuple[pa.Table, ColumnMap, dict[str, Any]]:
    """Read the file and resolve its mapping (no database needed)."""
    config: dict[str, Any] = load_mapping_file(options.mapping_file) if options.mapping_file else {}
    if config.get("kind") and config["kind"] != kind.value:
        raise MappingError(
            "MAPPING_INVALID",
            "mapping file is for {mapping_kind}, not {kind}",
            {"mapping_kind": config["kind"], "kind": kind.value},
        )
    result = read_table(path, delimiter=options.delimiter, encoding=options.encoding, sheet=options.sheet)
    mapping = resolve_mapping(
        kind, result.columns, config=config, flags=options.columns, defaults=options.defaults
    )
    return result.table, mapping, config


def check(table: pa.Table, mapping: ColumnMap, reference: Any, **kwargs: Any) -> Checked:
    return validate(table, mapping, reference, **kwargs)


def write_reject_file(checked: Checked, path: Path, options: ImportOptions) -> str | None:
    if not checked.rejected:
        return None
    target = options.reject_path or default_reject_path(path)
    return str(write_rejects(target, checked.rejects))


def elapsed(started: float) -> float:
    return time.perf_counter() - started


__all__ = [
    "ImportOptions",
    "batches",
    "begin_run",
    "file_fingerprint",
    "finish_run",
    "make_progress",
    "prepare",
    "record_batch",
]


def _defer_indexes(engine: Engine, step: Step, opts: ImportOptions) -> bool:
    """Drop the deferrable indexes before `step` when that pays (see `db.deferred_indexes`)."""
    if not step.defers_indexes or opts.defer_indexes is False:
        return False
    with engine.begin() as conn:
        if conn.dialect.name != "sqlite":
            return False
        lines = step.source_rows(step.table)
        if opts.defer_indexes is None and not deferred_indexes.worth_deferring(conn, lines):
            return False
        deferred_indexes.drop(conn)
    return True


def _load_batch(
    ctx: Any,
    conn: Connection,
    loader: Any,
    step: Step,
    batch: pa.Table,
    run_id: int,
    batch_no: int,
    actor: Any,
) -> int:
    """Load one batch and write its checkpoint (`batch_no`) in one transaction on `conn`; the rows created.

    A step whose loader commits by itself (`own_transactions`) gets its checkpoint afterwards: each of
    its calls is idempotent on its natural key, so a crash before the checkpoint only means the re-run
    finds those rows already loaded (counted as duplicates).
    """
    rows = step.source_rows(batch)
    if step.own_transactions:
        created = int(loader.load(ctx, None, step.name, batch, run_id, actor))
        with ctx.engine.begin() as own:
            record_batch(own, run_id, batch_no, batch, rows, _now(ctx.now))
        return created
    with conn.begin():
        created = int(loader.load(ctx, conn, step.name, batch, run_id, actor))
        record_batch(conn, run_id, batch_no, batch, rows, _now(ctx.now))
    return created


def _engine_url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def import_file(
    ctx: Any,
    kind: Kind | str,
    path: str | Path,
    options: ImportOptions | None = None,
    *,
    console: Console | None = None,
    actor: Any = None,
) -> Summary:
    """Import one file end to end and return its summary (rejects are written, never dropped)."""
    from loyalty.imports import loaders

    started = time.perf_counter()
    kind = Kind(kind)
    src = Path(path)
    opts = options or ImportOptions()
    console = console or Console(stderr=True)
    table, mapping, config = prepare(kind, src, opts)
    log.info("%s: read %d rows in %.1f s", kind.value, table.num_rows, elapsed(started))
    engine: Engine = ctx.engine
    loader = loaders.for_kind(kind)
    with engine.begin() as conn:
        loader.prepare(ctx, conn, mapping, config)
        reference = loaders.load_reference(conn, kind, mapping, ctx)
    log.info("%s: reference data read at %.1f s", kind.value, elapsed(started))
    checked = check(
        table,
        mapping,
        reference,
        now_us=int(_now(ctx.now).timestamp() * 1_000_000),
        skew_us=ctx.settings.clock_skew_seconds * 1_000_000,
    )
    log.info("%s: validated at %.1f s (%d good)", kind.value, elapsed(started), checked.good.num_rows)
    summary = Summary(kind=kind.value, source=str(src), read=checked.read, duplicates=checked.duplicates)
    summary.rejected = checked.rejected
    summary.reasons = checked.reasons()
    summary.reject_file = write_reject_file(checked, src, opts)
    if opts.dry_run:
        summary.seconds = elapsed(started)
        return summary

    fingerprint = file_fingerprint(src, kind, mapping)
    with engine.begin() as conn:
        run_id, resumed, done_before = begin_run(conn, kind, str(src), fingerprint, _now(ctx.now))
    summary.run_id, summary.resumed = run_id, resumed
    log.info("%s: fingerprinted at %.1f s", kind.value, elapsed(started))

    plan = loader.plan(checked, mapping)
    total_rows = sum(step.table.num_rows for step in plan)
    progress = make_progress(console, total_rows, opts.progress)
    batch_no = done_before
    bulk_engine = engine.execution_options(sqlite_bulk_load=True)
    with progress:
        task = progress.add_task(f"import {kind.value}", total=total_rows, rate="")
        t0 = time.perf_counter()
        done_rows = 0
        for step in plan:
            deferred = _defer_indexes(engine, step, opts)
            # One connection for all the step's batches: its page cache (large for a bulk load) stays
            # warm from one batch's transaction to the next instead of being read in again.
            with (bulk_engine if step.bulk_load else engine).connect() as step_conn:
                for batch in batches(step.table, opts.batch_rows, step.group_column):
                    batch_no += 1
                    created = _load_batch(ctx, step_conn, loader, step, batch, run_id, batch_no, actor)
                    summary.created[step.name] = summary.created.get(step.name, 0) + created
                    if step.counts_rows:
                        summary.imported += step.source_rows(batch)
                    done_rows += batch.num_rows
                    rate = done_rows / max(time.perf_counter() - t0, 1e-9)
                    progress.update(task, advance=batch.num_rows, rate=f"{rate:,.0f} rows/s")
                    log.info("%s: batch %d (%s) at %.1f s", kind.value, batch_no, step.name, elapsed(started))
            if deferred:
                progress.update(task, rate="building indexes")
                deferred_indexes.restore_on(engine)
                log.info("%s: indexes built at %.1f s", kind.value, elapsed(started))
    deferred_indexes.restore_on(engine)  # also what an earlier, killed run left out
    loader.after(ctx, checked, summary)
    summary.seconds = elapsed(started)
    with engine.begin() as conn:
        finish_run(conn, run_id, summary, _now(ctx.now))
    return summary
