"""Group commit: the POS sales one server process receives at once, written in one SQLite transaction.

SQLite takes one writer at a time, and each commit appends every page the transaction touched to the
write-ahead log (about fifteen pages for a sale: the purchase, its lines, the transfer, its postings,
the lot and their indexes). Given a transaction each, concurrent sales queue for the write lock one by
one, each paying a hop to a worker thread, the lock hand-over and a commit; under a burst of tills
most of a sale's time goes there. Here a sale that arrives while a transaction is being written waits
for the next one, which takes every sale waiting by then:

* each sale runs in a savepoint of its own, so a sale that fails (unknown member, reused order id)
  undoes only its own writes and gets its own error, while the others commit;
* one commit for all of them, and no caller is answered before that commit has succeeded: a sale
  answered 201 is as durable as with a transaction of its own, and if the commit fails every sale of
  the transaction gets the error (none is written, so a till's retry posts it once);
* the sales' audit rows are gathered and written in one statement before that commit
  (`services.audit.deferred`); a sale whose savepoint is undone takes its row back.

PostgreSQL batches its sales too, differently (`api.sale_batches`): there they are posted set-based,
their members' accounts locked in id order in one statement, so that two processes' batches cannot
deadlock (each process writes one transaction at a time, as here).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool

from loyalty.api.errors import ApiError
from loyalty.db.prepared import savepoint
from loyalty.services import audit

log = logging.getLogger(__name__)

T = TypeVar("T")
J = TypeVar("J")  # what a request queues: a callable here, a sale for `SaleBatcher`

#: the most sales one transaction takes; the rest wait for the next (bounds one answer's delay)
MAX_BATCH = 64

_Outcome = tuple[bool, Any]  # (succeeded, result or exception)


class Batching(Generic[J]):
    """Jobs queued by concurrent requests, written `max_batch` at a time in shared transactions.

    One transaction is written at a time, in a worker thread, so the event loop keeps reading requests
    (and queueing their jobs) meanwhile. `_transaction` says what a transaction does with its jobs.
    """

    def __init__(self, engine: Engine, max_batch: int = MAX_BATCH) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self._queue: list[tuple[J, asyncio.Future[Any]]] = []
        self._writer: asyncio.Task[None] | None = None
        #: transactions committed, for diagnostics and the tests
        self.transactions = 0

    async def run(self, job: J) -> Any:
        """Queue `job` for the next transaction; its result (or its exception) once that has committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.append((job, future))
        if self._writer is None:
            self._writer = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch = self._queue[: self.max_batch]
                del self._queue[: self.max_batch]
                try:
                    outcomes = await run_in_threadpool(self._write, [job for job, _ in batch])
                except BaseException as exc:  # the transaction as a whole failed: nothing was written
                    for _, future in batch:
                        if future.done():
                            continue
                        if isinstance(exc, asyncio.CancelledError):  # the server is stopping
                            future.cancel()
                        else:
                            future.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for (_, future), (succeeded, value) in zip(batch, outcomes, strict=True):
                    if future.done():  # the caller went away; its sale stands, a retry replays it
                        continue
                    if succeeded:
                        future.set_result(value)
                    else:
                        future.set_exception(value)
        finally:
            self._writer = None
            for _, future in self._queue:  # only when stopping: nothing left to write them
                future.cancel()
            self._queue.clear()

    @property
    def queued(self) -> int:
        """Jobs waiting for the next transaction."""
        return len(self._queue)

    def _transaction(self, jobs: list[J]) -> list[_Outcome]:
        """Write `jobs` in one transaction; each one's outcome, (True, result) or (False, its exception)."""
        raise NotImplementedError

    def _write(self, jobs: list[J]) -> list[_Outcome]:
        try:
            outcomes = self._transaction(jobs)
        except OperationalError:
            raise  # busy or unreachable: the usual 503 with Retry-After
        except Exception as exc:
            # Not this sale's fault (its own errors are its outcome): the transaction it shared failed.
            log.warning("a shared transaction of %d sales failed to commit: %s", len(jobs), exc)
            raise ApiError(
                503,
                "NOT_WRITTEN",
                "The sale was not written (the transaction it shared could not commit); retry it.",
                headers={"Retry-After": "1"},
            ) from exc
        self.transactions += 1
        return outcomes


class GroupCommit(Batching[Callable[[Connection], Any]]):
    """Write jobs (`job(conn) -> result`) run one after another in a shared transaction.

    A job must be self-contained: everything it reads or writes goes through `conn`, and it must not
    commit. Each runs in a savepoint of its own.
    """

    async def run(self, job: Callable[[Connection], T]) -> T:
        """Queue `job` for the next transaction; its result (or its exception) once that has committed."""
        return await super().run(job)  # type: ignore[no-any-return]

    def _transaction(self, jobs: list[Callable[[Connection], Any]]) -> list[_Outcome]:
        outcomes: list[_Outcome] = []
        # The jobs' audit rows are gathered and written in one statement before the commit.
        with self.engine.begin() as conn, audit.deferred(conn):
            for job in jobs:
                try:
                    with savepoint(conn), audit.undone_with(conn):
                        outcomes.append((True, job(conn)))
                except Exception as exc:  # this job's writes (and audit rows) are undone; the others go on
                    outcomes.append((False, exc))
        return outcomes
