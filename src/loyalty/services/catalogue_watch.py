"""Keeps a long-running process's catalogue in step with changes other processes make.

A process clears its own catalogue when it changes a store, the programme, a tier or a rule
(`Context.invalidate`), but a server runs several worker processes, and the console, the CLI and
imports change the catalogue from processes of their own. The database counts every such change
(`db.catalogue_revision`); a `CatalogueWatch` reads that count every `catalogue_check_seconds` on a
connection of its own, in a thread of its own, and when it moved replaces the process's catalogue
with one it read afresh, so a sale is earned by a new rule at most about that long after it was
saved, in whichever process it arrives. The POS path reads nothing more: the watch costs one small
statement a second, and the reading after a change.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError

from loyalty.bootstrap import Context
from loyalty.db.catalogue_revision import read_revision
from loyalty.services.catalogue import read_afresh
from loyalty.services.common import read
from loyalty.services.repeated_check import RepeatedCheck

log = logging.getLogger(__name__)

#: what the watch has seen before its first answer: no revision equals it
_UNKNOWN = -1


class CatalogueWatch(RepeatedCheck):
    """Reads `ctx`'s catalogue afresh whenever the database's catalogue revision moves; see the module."""

    name = "loyalty-catalogue-watch"
    failure = "could not read the catalogue's revision"

    def __init__(self, ctx: Context, every_s: float | None = None) -> None:
        super().__init__(ctx.settings.catalogue_check_seconds if every_s is None else every_s)
        self.ctx = ctx
        self._seen: int | None = None

    def check(self) -> bool:
        """Read the revision once; when it moved since the last look, replace the process's catalogue
        with one read afresh in the same snapshot (`catalogue.read_afresh`) and return True. The first
        look only notes it: what the process read before is at least that fresh."""
        with read(self.ctx) as conn:
            revision = read_revision(conn)
            moved = self._seen is not None and revision != self._seen
            if moved:
                read_afresh(self.ctx, conn)
        self._seen = revision
        return moved

    def start(self) -> None:
        """Note the revision now, then look again every `every_s` seconds in a daemon thread (none
        when `every_s` is 0: the process then reads a change made elsewhere only when restarted).

        A database not yet migrated (or away) is looked at again by the thread, and its first answer
        then counts as a change: what the process read meanwhile is not known to be fresh."""
        try:
            self.check()
        except SQLAlchemyError as exc:
            log.warning("%s: %s", self.failure, exc)
            self._seen = _UNKNOWN
        self.repeat()
