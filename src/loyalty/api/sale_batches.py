"""POS sales that one server process receives at once, posted together on PostgreSQL.

The queue and its one-transaction-at-a-time writer are the group commit's (`api.group_commit`); what a
transaction does differs. SQLite runs each sale's own statements in a savepoint; here the sales are
posted set-based (`services.sale_batches`), which cuts the server's Python per sale by about two
thirds, and the members' accounts are locked in id order in one statement, so two server processes'
batches never deadlock each other.

Per transaction, in one pipeline and two round trips: the reads (the batch's Idempotency-Keys, its
members' accounts, locked, their spend in the tier windows, the rows' ids) go out together and are
waited for once; then the writes (every table's rows in one statement, the sales' audit rows
included, the keys in another) go out with the COMMIT and are waited for once. A replay is answered
with the stored response, a reused key with another body gets its 422; nobody is answered before
the commit. A sale the set-based routine does not take (named by phone, a replayed order, an inactive
member, a key repeated within the batch, …) is answered `None`: the request then posts it alone,
exactly as without batching, after the batch committed (a sale of its own must not wait on locks
while holding the batch's). There are no savepoints: an order or a key another request wrote
meanwhile fails the commit, nothing of the batch is written, and each of its sales is posted alone,
which answers it as it should.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi.responses import JSONResponse
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError

from loyalty.api.group_commit import MAX_BATCH, Batching, _Outcome
from loyalty.api.idempotency import replayed_or_mismatch
from loyalty.bootstrap import Context
from loyalty.db.prepared import pipelined_transaction
from loyalty.domain.actors import SYSTEM, Actor
from loyalty.services import idempotency
from loyalty.services.purchases import cache_settings
from loyalty.services.sale_batches import post_sales, read_ahead
from loyalty.services.schemas import PurchaseIn, PurchaseResult

#: a batch's answer to a sale it leaves to the request to post alone
ALONE = None


@dataclass(frozen=True)
class BatchedSale:
    """A sale queued for the next batch, with the caller's Idempotency-Key (scope, key, request digest)."""

    sale: PurchaseIn
    render: Callable[[PurchaseResult], dict[str, Any]]  # the 201 body
    scope: str
    key: str | None = None
    digest: str = ""
    actor: Actor = SYSTEM  # who posts it, for its audit row


class SaleBatcher(Batching[BatchedSale]):
    """Posts queued POS sales in shared transactions, set-based; see the module docstring."""

    def __init__(self, engine: Engine, ctx: Context, max_batch: int = MAX_BATCH) -> None:
        # One transaction at a time per process, as the group commit: a batch costs ~2 ms of CPU
        # whatever its size, and with two side by side batches were half as big. On the bench (two
        # processes), one gave 990-1,275/s at p99 47-53 ms against 993-1,064/s at 56-72 ms with two
        # (2026-11-30).
        super().__init__(engine, max_batch)
        self.ctx = ctx

    def _write(self, jobs: list[BatchedSale]) -> list[_Outcome]:
        try:
            return super()._write(jobs)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
        # The database went away (a restart, a failover): as a sale posted alone does
        # (`purchases.in_sale_transaction`), replace the pool and write the batch once more. Had the
        # lost transaction committed, its sales and keys are found and each is replayed.
        self.engine.dispose()
        return super()._write(jobs)

    def _transaction(self, jobs: list[BatchedSale]) -> list[_Outcome]:
        # One pipeline for the whole transaction: the reads go out together and are waited for once,
        # the writes go out with the COMMIT and are waited for once: two round trips in all.
        answered: list[_Outcome] = [(True, ALONE)] * len(jobs)
        try:
            with self.engine.connect() as conn:
                cache_settings(conn, self.ctx, list({job.sale.store_id for job in jobs}))
                if conn.in_transaction():  # the settings were read: a store's first batch
                    conn.commit()
                with pipelined_transaction(conn):
                    outcomes = self._post(conn, jobs, answered)
                return outcomes
        except IntegrityError:
            # An order posted or a key recorded meanwhile by another request (its replay, a reused
            # key): nothing of the batch was written. Replays found by the look-up are answered; the
            # rest go alone, and the per-sale path answers each one as it should.
            return answered

    def _post(self, conn: Connection, jobs: list[BatchedSale], answered: list[_Outcome]) -> list[_Outcome]:
        ahead = read_ahead(conn, self.ctx, [job.sale for job in jobs])  # sent, not waited for
        keyed = [i for i, job in enumerate(jobs) if job.key is not None]
        asked = [(jobs[i].scope, jobs[i].key or "", jobs[i].digest) for i in keyed]
        found = idempotency.find_many(conn, asked)  # waits, for the reads sent ahead too
        keys_seen: set[tuple[str, str]] = set()
        todo = []
        for i, stored in zip(keyed, found, strict=True):
            answer = replayed_or_mismatch(stored)
            if isinstance(answer, JSONResponse):
                answered[i] = (True, answer)
            elif answer is not None:
                answered[i] = (False, answer)
        for i, job in enumerate(jobs):
            if answered[i][1] is not ALONE:
                continue
            if job.key is not None:
                if (job.scope, job.key) in keys_seen:
                    continue  # the same key twice in one batch: the second goes alone, after the first
                keys_seen.add((job.scope, job.key))
            todo.append(i)
        outcomes = list(answered)
        if not todo:
            return outcomes
        sales = [jobs[i].sale for i in todo]
        actors = [jobs[i].actor for i in todo]
        results = post_sales(conn, self.ctx, sales, ahead=ahead, savepoint=False, actors=actors)
        if results is None:
            return outcomes
        bodies = [jobs[i].render(r) for i, r in zip(todo, results, strict=True)]
        records = [
            (job.scope, job.key, job.digest, body, 201)
            for job, body in zip((jobs[i] for i in todo), bodies, strict=True)
            if job.key is not None
        ]
        idempotency.store_many(conn, records, self.ctx.now())
        for i, body in zip(todo, bodies, strict=True):
            outcomes[i] = (True, JSONResponse(body, status_code=201))
        return outcomes
