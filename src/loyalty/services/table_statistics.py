"""Fresh planner statistics for the tables sales grow, while those tables are young (PostgreSQL).

PostgreSQL keeps the plan of a statement a session runs often (the driver prepares it) until the
statistics of a table it reads change, and autovacuum refreshes those only once a table's changes
pass a tenth of its rows, looking once a minute. A chain's database in its first minutes, or in the
minute after an import, therefore runs plans made while the tables sales grow were nearly empty:
a scan of the purchases or of the Idempotency-Keys in every batch of sales, dearer with each batch.

A `StatisticsWatch` looks every few seconds at how much those tables changed since they were last
analyzed, and analyzes one whose changes reached the rows it held then (it doubled, or more) and at
least `MIN_CHANGES`: a few times while the tables are young, seldom or never once they hold a chain's
history. Every session then plans those statements again, for the tables as they are. Otherwise it
costs one small read every few seconds; of several server processes, one analyzes at a time.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection, bindparam, text

from loyalty.bootstrap import Context
from loyalty.services.repeated_check import RepeatedCheck

log = logging.getLogger(__name__)

#: the tables each sale (or registration) adds rows to
GROWING_TABLES = (
    "purchases",
    "purchase_lines",
    "purchase_line_rules",
    "transfers",
    "postings",
    "point_lots",
    "idempotency_keys",
    "audit_log",
    "members",
    "accounts",
)
#: the fewest changed rows worth an analysis (a smaller table's plans cost little either way)
MIN_CHANGES = 1_000
#: how often a server process looks
EVERY_S = 5.0
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


class StatisticsWatch(RepeatedCheck):
    """Runs `analyze_grown` every `every_s` seconds in a daemon thread; see the module."""

    name = "loyalty-statistics-watch"
    failure = "could not refresh the tables' statistics"

    def __init__(self, ctx: Context, every_s: float = EVERY_S) -> None:
        super().__init__(every_s)
        self.ctx = ctx

    def check(self) -> list[str]:
        """Look once (and analyze what grew): the tables analyzed."""
        with self.ctx.engine.begin() as conn:
            grown = analyze_grown(conn)
        if grown:
            log.info("analyzed %s: they doubled since their statistics were taken", ", ".join(grown))
        return grown

    def start(self) -> None:
        """Look every `every_s` seconds from now on (PostgreSQL only)."""
        if self.ctx.engine.dialect.name == "postgresql":
            self.repeat()
