"""The SQLite posting strategy: the sales one process receives at once, written in one transaction.

SQLite takes one writer at a time, and each commit appends every page the transaction touched to the
write-ahead log (about fifteen pages for a sale: the purchase, its lines, the transfer, its postings,
the lot and their indexes). Given a transaction each, concurrent sales queue for the write lock one by
one, each paying a hop to a worker thread, the lock hand-over and a commit. Here the sales waiting
together share a transaction (`shared_transactions`):

* each sale runs in a savepoint of its own, so a sale that fails (unknown member, reused order id)
  undoes only its own writes and gets its own error, while the others commit;
* one commit for all of them, and no caller is answered before it has succeeded;
* the sales' audit rows are gathered and written in one statement before that commit
  (`services.audit.deferred`); a sale whose savepoint is undone takes its row back.

A group that the set-based routine takes is posted by it instead (`set_based_batches.post_together`,
as PostgreSQL's batches, in one savepoint) from the size where it costs less per sale, three sales
with or without earning rules (ADR 0006); below it the batch's fixed cost outweighs what it saves.
Where the batch leaves its sales (a code it cannot take, an inactive member, …) they are posted one
by one as above, in the same transaction; a sale it leaves beside others it took (a key repeated in
the group) comes after them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection

from loyalty.bootstrap import Context
from loyalty.db.prepared import savepoint
from loyalty.services import audit, purchases
from loyalty.services.posting.pos_batch import batchable, members_by_key
from loyalty.services.posting.sale_request import (
    SaleAnswer,
    SaleRequest,
    answer_of,
    record_for,
    stored_answer,
)
from loyalty.services.posting.set_based_batches import ALONE, post_together
from loyalty.services.posting.shared_transactions import MAX_BATCH, Outcome, SharedTransactions

T = TypeVar("T")
log = logging.getLogger(__name__)

#: the fewest sales of a group posted set-based (below it a group costs less sale by sale)
SET_BASED_FROM = 3


@dataclass(frozen=True)
class _Sale:
    """A queued sale: a job that posts it in its savepoint, carrying the request for the set-based
    routine."""

    committer: GroupCommit
    request: SaleRequest

    def __call__(self, conn: Connection) -> SaleAnswer:
        return self.committer._post_in(conn, self.request)


class GroupCommit(SharedTransactions[Callable[[Connection], Any]]):
    """Jobs (`job(conn) -> result`) run one after another in a shared transaction, each in a
    savepoint of its own; `post` queues a sale as such a job.

    A job must be self-contained: everything it reads or writes goes through `conn`, and it must not
    commit.
    """

    def __init__(self, ctx: Context, max_batch: int = MAX_BATCH) -> None:
        super().__init__(max_batch)
        self.ctx = ctx
        #: groups the set-based routine took, for diagnostics and the tests
        self.set_based = 0
        #: the fewest sales of a group posted set-based; None: `SET_BASED_FROM`. A
        #: benchmark sets it to measure either routine at any size.
        self.set_based_from: int | None = None

    def job(self, request: SaleRequest) -> Callable[[Connection], SaleAnswer]:
        """The job `post` queues for a sale (what a shared transaction runs, or posts set-based)."""
        return _Sale(self, request)

    async def post(self, request: SaleRequest) -> SaleAnswer:
        """Post the sale in the next shared transaction; its answer once that has committed."""
        return await self.run(self.job(request))

    async def run(self, job: Callable[[Connection], T]) -> T:
        """Queue `job` for the next transaction; its result (or its exception) once that has committed."""
        return await super().run(job)  # type: ignore[no-any-return]

    def _post_in(self, conn: Connection, request: SaleRequest) -> SaleAnswer:
        stored = stored_answer(conn, request.key)
        if stored is not None:
            return stored
        record = record_for(request)
        result = purchases.post_purchase_in(conn, self.ctx, request.sale, record=record, actor=request.actor)
        return answer_of(request, result, record)

    def _transaction(self, jobs: list[Callable[[Connection], Any]]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        # The jobs' audit rows are gathered and written in one statement before the commit.
        with self.ctx.engine.begin() as conn, audit.deferred(conn):
            together = self._together(conn, jobs)
            for job, taken in zip(jobs, together, strict=True):
                if taken is not None:
                    outcomes.append(taken)
                    continue
                try:
                    with savepoint(conn), audit.undone_with(conn):
                        outcomes.append((True, job(conn)))
                except Exception as exc:  # this job's writes (and audit rows) are undone; the others go on
                    outcomes.append((False, exc))
        return outcomes

    def _together(self, conn: Connection, jobs: list[Callable[[Connection], Any]]) -> list[Outcome | None]:
        """The outcomes of the group's sales posted set-based (see the module), None for each job to
        run on its own; all None for a group too small or holding anything else."""
        alone: list[Outcome | None] = [None] * len(jobs)
        requests = [job.request for job in jobs if isinstance(job, _Sale)]
        if len(jobs) < self._fewest() or len(requests) < len(jobs):
            return alone
        if not all(batchable(request.sale, looked_up=True) for request in requests):
            return alone
        try:
            with savepoint(conn):
                named = members_by_key(conn, self.ctx, [request.sale for request in requests])
                outcomes = post_together(conn, self.ctx, requests, [(True, ALONE)] * len(requests), named)
        except Exception as exc:  # an order posted meanwhile, or anything unforeseen: one by one
            log.info("a group of %d sales goes one by one: %s", len(jobs), exc)
            return alone
        if any(ok and value is not ALONE for ok, value in outcomes):
            self.set_based += 1
        return [None if ok and value is ALONE else (ok, value) for ok, value in outcomes]

    def _fewest(self) -> int:
        """The fewest sales of a group posted set-based."""
        return SET_BASED_FROM if self.set_based_from is None else self.set_based_from
