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
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Connection

from loyalty.bootstrap import Context
from loyalty.db.prepared import savepoint
from loyalty.services import audit, purchases
from loyalty.services.posting.sale_request import (
    SaleAnswer,
    SaleRequest,
    answer_of,
    record_for,
    stored_answer,
)
from loyalty.services.posting.shared_transactions import MAX_BATCH, Outcome, SharedTransactions

T = TypeVar("T")


class GroupCommit(SharedTransactions[Callable[[Connection], Any]]):
    """Jobs (`job(conn) -> result`) run one after another in a shared transaction, each in a
    savepoint of its own; `post` queues a sale as such a job.

    A job must be self-contained: everything it reads or writes goes through `conn`, and it must not
    commit.
    """

    def __init__(self, ctx: Context, max_batch: int = MAX_BATCH) -> None:
        super().__init__(max_batch)
        self.ctx = ctx

    async def post(self, request: SaleRequest) -> SaleAnswer:
        """Post the sale in the next shared transaction; its answer once that has committed."""
        return await self.run(lambda conn: self._post_in(conn, request))

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
            for job in jobs:
                try:
                    with savepoint(conn), audit.undone_with(conn):
                        outcomes.append((True, job(conn)))
                except Exception as exc:  # this job's writes (and audit rows) are undone; the others go on
                    outcomes.append((False, exc))
        return outcomes
