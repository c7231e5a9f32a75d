"""Fresh planner statistics for the tables sales grow, while those tables are young (PostgreSQL).

PostgreSQL keeps the plan of a statement a session runs often (the driver prepares it) until the
statistics of a table it reads change, and autovacuum refreshes those only once a table's changes
pass a tenth of its rows, looking once a minute. A chain's database in its first minutes, or in the
minute after an import, therefore runs plans made while the tables sales grow were nearly empty:
a scan of the purchases or of the Idempotency-Keys in every batch of sales, dearer with each batch.

A `StatisticsWatch` runs `db.table_statistics.analyze_grown` every few seconds: it analyzes a table
whose changes since its last analysis reached the rows it held then (it doubled, or more), a few
times while the tables are young, seldom or never once they hold a chain's history. Every session
then plans those statements again, for the tables as they are. Otherwise it costs one small read
every few seconds; of several server processes, one analyzes at a time.
"""

from __future__ import annotations

import logging

from loyalty.bootstrap import Context
from loyalty.db.table_statistics import analyze_grown
from loyalty.services.repeated_check import RepeatedCheck

log = logging.getLogger(__name__)

#: how often a server process looks
EVERY_S = 5.0


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
