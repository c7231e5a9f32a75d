"""Jobs that concurrent requests queue, written a batch at a time in shared transactions.

One transaction is written at a time, in a worker thread, so the event loop keeps reading requests
(and queueing their jobs) meanwhile; a job that arrives while a transaction is being written waits
for the next one, which takes every job waiting by then (at most `MAX_BATCH`). No caller is
answered before its transaction has committed: an answered sale is as durable as with a transaction
of its own, and when the commit fails every job of it gets `NotWritten` (none was written, so a
till's retry posts it once). What a transaction does with its jobs is the subclass's
(`_transaction`): the SQLite group commit and the PostgreSQL set-based batches.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Generic, TypeVar

import anyio.to_thread
from sqlalchemy.exc import OperationalError

log = logging.getLogger(__name__)

J = TypeVar("J")  # what a request queues

#: the most jobs one transaction takes; the rest wait for the next (bounds one answer's delay)
MAX_BATCH = 64

#: a job's outcome: (True, its result) or (False, the exception its caller gets)
Outcome = tuple[bool, Any]


class NotWritten(Exception):
    """The shared transaction a sale was in could not commit (for a reason not the sale's own):
    nothing of it was written, and a retry posts it."""


class SharedTransactions(Generic[J]):
    """Jobs queued by concurrent requests, written `max_batch` at a time in shared transactions."""

    def __init__(self, max_batch: int = MAX_BATCH) -> None:
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

    @property
    def queued(self) -> int:
        """Jobs waiting for the next transaction."""
        return len(self._queue)

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch = self._queue[: self.max_batch]
                del self._queue[: self.max_batch]
                try:
                    outcomes = await anyio.to_thread.run_sync(self._write, [job for job, _ in batch])
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

    def _transaction(self, jobs: list[J]) -> list[Outcome]:
        """Write `jobs` in one transaction; each one's outcome, (True, result) or (False, its exception)."""
        raise NotImplementedError

    def _write(self, jobs: list[J]) -> list[Outcome]:
        try:
            outcomes = self._transaction(jobs)
        except OperationalError:
            raise  # busy or unreachable: the entry point's usual answer (HTTP: 503 with Retry-After)
        except Exception as exc:
            # Not this sale's fault (its own errors are its outcome): the transaction it shared failed.
            log.warning("a shared transaction of %d sales failed to commit: %s", len(jobs), exc)
            raise NotWritten(str(exc)) from exc
        self.transactions += 1
        return outcomes
