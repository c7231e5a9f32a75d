"""The planner's statistics of the tables sales grow, taken again once such a table doubled.

PostgreSQL keeps a session's plan of a prepared statement until the statistics of a table it reads
change; `analyze_grown` analyzes each of `GROWING_TABLES` whose changes since its last analysis
reached the rows it held then, and at least `MIN_CHANGES` (`services.table_statistics` runs it in
each server process). An advisory lock held to the end of the transaction lets one process analyze
at a time.
"""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, text

from loyalty.db.core_tables import (
    accounts,
    audit_log,
    idempotency_keys,
    members,
    point_lots,
    postings,
    purchase_lines,
    purchases,
    transfers,
)
from loyalty.db.programme_tables import purchase_line_rules

#: the tables each sale (or registration) adds rows to
GROWING_TABLES: tuple[str, ...] = tuple(
    t.name
    for t in (
        purchases,
        purchase_lines,
        purchase_line_rules,
        transfers,
        postings,
        point_lots,
        idempotency_keys,
        audit_log,
        members,
        accounts,
    )
)
#: the fewest changed rows worth an analysis (a smaller table's plans cost little either way)
MIN_CHANGES = 1_000
#: the advisory lock that lets one process analyze at a time (others skip their look)
_LOCK = 0x6C6F79_5354  # "loy" "ST"

_GROWN = text(
    "SELECT relname FROM pg_stat_user_tables WHERE schemaname = current_schema() "
    "AND relname IN :tables AND n_mod_since_analyze >= greatest(:least, n_live_tup - n_mod_since_analyze) "
    "ORDER BY relname"
).bindparams(bindparam("tables", expanding=True))


def analyze_grown(conn: Connection) -> list[str]:
    """Analyze each of `GROWING_TABLES` that doubled since it was last analyzed (see the module) in
    `conn`'s transaction, unless another process is at it; the tables analyzed."""
    if conn.dialect.name != "postgresql":
        return []  # SQLite plans every statement when it is prepared, from the tables as they are
    if not conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _LOCK}).scalar_one():
        return []
    grown = list(conn.execute(_GROWN, {"tables": list(GROWING_TABLES), "least": MIN_CHANGES}).scalars())
    for table in grown:  # a name of `GROWING_TABLES`, as the statistics view returned it
        conn.execute(text(f'ANALYZE "{table}"'))
    return grown
