"""Secondary indexes a large SQLite import builds once at the end instead of keeping up row by row.

Three ledger indexes are keyed by account or member, so every purchase an import posts lands on a
random page of each of them. Over millions of rows, keeping them up costs more than almost anything
else the import does, because every batch dirties most of their pages and the commit writes them all
again. Building an index once from sorted keys (`CREATE INDEX`) costs a fraction of that. The KPIs'
sales by store and time is deferred too: it carries six columns of every purchase, which an import
otherwise writes twice, and the import never reads it. Unique constraints and the indexes the import
itself reads (lots by purchase, due lots) are never deferred. Purchases by member is deferrable
because the import does not read back what it posted: its `posting.import_session.BulkSession` keeps
those orders' spend in memory, and reads only the purchases the database held before it began, by id
range.

While they are missing, statements and balance look-ups still answer correctly, only slower; that is
why the import defers them only when it is at least as large as what the database already holds (a
chain moving its history in), and why any import, and `loyalty db upgrade`, puts back whatever a killed
run left out.
"""

from __future__ import annotations

import logging
import os
import time

from sqlalchemy import Connection, Engine, Index, inspect

from loyalty.db import core_tables

log = logging.getLogger(__name__)

DEFERRABLE: tuple[Index, ...] = tuple(
    next(ix for ix in table.indexes if ix.name == name)
    for table, name in (
        (core_tables.postings, "ix_postings_account"),
        (core_tables.point_lots, "ix_point_lots_account_expiry"),
        (core_tables.purchases, "ix_purchases_member_occurred"),
        (core_tables.purchases, "ix_purchases_store_occurred"),
    )
)
# Below this many lines, keeping the indexes up costs less than building them again.
DEFER_MIN_LINES = 1_000_000


def worth_deferring(conn: Connection, lines: int, min_lines: int = DEFER_MIN_LINES) -> bool:
    """Whether an import of `lines` purchase lines should defer the indexes.

    Only on SQLite, only for a large import, and only when it at least doubles the purchase lines
    already held (rebuilding sorts every row, old and new; upkeep only touches the new ones).
    """
    if conn.dialect.name != "sqlite" or lines < min_lines:
        return False
    # Counting stops one past `lines`: at most a scan of the size of the import, never of the ledger.
    held = conn.exec_driver_sql(
        "SELECT count(*) FROM (SELECT 1 FROM purchase_lines LIMIT ?)", (lines + 1,)
    ).scalar_one()
    return int(held) <= lines


def drop(conn: Connection) -> None:
    """Drop the deferrable indexes (those already missing are skipped)."""
    for index in DEFERRABLE:
        index.drop(conn, checkfirst=True)


def restore(conn: Connection) -> list[str]:
    """Create whichever deferrable index is missing; returns the names built (none: nothing to do)."""
    todo = [ix for ix in DEFERRABLE if not _exists(conn, ix)]
    if not todo:
        return []
    sqlite = conn.dialect.name == "sqlite"
    if sqlite:  # let the sorter merge its runs on every core
        conn.exec_driver_sql(f"PRAGMA threads={min(os.cpu_count() or 1, 8)}")
    try:
        for index in todo:
            started = time.perf_counter()
            index.create(conn)
            log.info("index %s built in %.1f s", index.name, time.perf_counter() - started)
    finally:
        if sqlite:
            conn.exec_driver_sql("PRAGMA threads=0")
    return [str(ix.name) for ix in todo]


def restore_on(engine: Engine) -> list[str]:
    """`restore` in a transaction of its own, on SQLite (the only database an import defers them on).

    SQLite's default page cache, not a bulk load's: with a small cache, CREATE INDEX sorts in runs
    merged by worker threads (on a 10M-line ledger 2 s per index instead of 6 s with 2 GB).
    """
    if engine.dialect.name != "sqlite":
        return []
    with engine.execution_options(sqlite_temp_files=True).begin() as conn:  # the sorts' runs on disk
        return restore(conn)


def missing(conn: Connection) -> list[str]:
    return [str(ix.name) for ix in DEFERRABLE if not _exists(conn, ix)]


def _exists(conn: Connection, index: Index) -> bool:
    table = index.table
    assert table is not None
    return any(ix["name"] == index.name for ix in inspect(conn).get_indexes(table.name))
