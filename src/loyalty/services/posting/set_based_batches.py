"""The PostgreSQL posting strategy: the sales one process receives at once, posted set-based together.

The queue and its one-transaction-at-a-time writer are shared with the SQLite group commit
(`shared_transactions`); what a transaction does differs. Here the sales are posted by the set-based
routine (`pos_batch.post_sales`), which cuts the server's Python per sale by about two thirds, and
the members' accounts are locked in id order in one statement, so two server processes' batches
never deadlock each other. One transaction at a time per process: a batch costs about the same CPU
whatever its size, so two side by side would only halve each batch.

Per transaction, in one pipeline and two round trips: the reads (the batch's Idempotency-Keys, its
members' accounts, locked, their spend in the tier windows, the rows' ids, then the coupons their
codes name, locked and looked up, and the promotions in force: `batch_coupons`) go out together
and are waited for once; then the writes (every table's rows in one statement: the sales' audit
rows, their coupons' uses and their keys included) go out with the COMMIT and are waited for once.
A replay is answered with the stored response, a reused key with another body gets its error;
nobody is answered before the commit. The members that sales name by phone or card number are
looked up before, in one statement (`pos_batch.members_by_key`). A sale the set-based routine does
not take (a total of its own, a phone no member has, a replayed order, an inactive member, a key
repeated within the batch, …) goes alone
(`alone.post_alone`) after the batch committed, exactly as without batching (a sale of its own
must not wait on locks while holding the batch's). There are no savepoints: an order or a key
another request wrote meanwhile fails the commit, nothing of the batch is written, and each of its
sales goes alone, which answers it as it should.
"""

from __future__ import annotations

from collections.abc import Mapping

import anyio.to_thread
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError

from loyalty.bootstrap import Context
from loyalty.db.prepared import pipelined_transaction
from loyalty.db.rows import is_postgres
from loyalty.db.unnest import Writes
from loyalty.services import idempotency
from loyalty.services.catalogue import catalogue_of
from loyalty.services.posting.alone import post_alone
from loyalty.services.posting.pos_batch import batchable, by_member_id, members_by_key, post_sales, read_ahead
from loyalty.services.posting.read_ahead import FEW_ORDERS
from loyalty.services.posting.sale_request import SaleAnswer, SaleRequest, replayed
from loyalty.services.posting.shared_transactions import MAX_BATCH, Outcome, SharedTransactions

#: a batch's answer to a sale it leaves to go alone
ALONE = None


class SetBasedBatches(SharedTransactions[SaleRequest]):
    """Posts queued POS sales in shared transactions, set-based; see the module docstring."""

    def __init__(self, ctx: Context, max_batch: int = MAX_BATCH) -> None:
        super().__init__(max_batch)
        self.ctx = ctx

    async def post(self, request: SaleRequest) -> SaleAnswer:
        """Post the sale with those arriving meanwhile, or alone where the batch leaves it."""
        if batchable(request.sale, looked_up=True):
            answer: SaleAnswer | None = await self.run(request)
            if answer is not ALONE:
                return answer
        return await anyio.to_thread.run_sync(post_alone, self.ctx, request)

    def _write(self, jobs: list[SaleRequest]) -> list[Outcome]:
        try:
            return super()._write(jobs)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
        # The database went away (a restart, a failover): as a sale posted alone does
        # (`purchases.in_sale_transaction`), replace the pool and write the batch once more. Had the
        # lost transaction committed, its sales and keys are found and each is replayed.
        self.ctx.engine.dispose()
        return super()._write(jobs)

    def _transaction(self, jobs: list[SaleRequest]) -> list[Outcome]:
        answered: list[Outcome] = [(True, ALONE)] * len(jobs)
        try:
            with self.ctx.engine.connect() as conn:
                # Read before the pipeline, where SQLAlchemy's own statements cannot read their rows.
                catalogue = catalogue_of(self.ctx)
                catalogue.stores(conn, {job.sale.store_id for job in jobs})
                catalogue.tiers(conn)
                catalogue.rule_book(conn)
                named = members_by_key(conn, self.ctx, [job.sale for job in jobs])
                if conn.in_transaction():  # the catalogue (a store's first batch) or members were read
                    conn.commit()
                with pipelined_transaction(conn):
                    return post_together(conn, self.ctx, jobs, answered, named)
        except IntegrityError:
            # An order posted or a key recorded meanwhile by another request (its replay, a reused
            # key): nothing of the batch was written. Replays found by the look-up are answered; the
            # rest go alone, and the per-sale path answers each one as it should.
            return answered


def post_together(
    conn: Connection,
    ctx: Context,
    jobs: list[SaleRequest],
    answered: list[Outcome],
    named: Mapping[int, int] | None = None,
) -> list[Outcome]:
    """Post the sales of `jobs` set-based in `conn`'s transaction (inside a pipeline on PostgreSQL:
    see the module); each one's outcome, `ALONE` where the batch leaves it to be posted on its own.
    `answered` starts as `ALONE` for every job; `named`, by job, the member a sale names by phone or
    card number (`pos_batch.members_by_key`, read before). Replays are answered with their stored
    response and a reused key with its error; nothing is written for a sale left alone."""
    named = named or {}
    sales = [by_member_id(job.sale, named.get(i)) for i, job in enumerate(jobs)]
    takes = [batchable(sale) for sale in sales]
    # sent, not waited for: the members locked, then the coupons their codes name looked up
    ahead = read_ahead(conn, ctx, [sale for sale, ok in zip(sales, takes, strict=True) if ok])
    keyed = [(i, job.key) for i, job in enumerate(jobs) if job.key is not None]
    asked = [(key.scope, key.key, key.request_hash) for _, key in keyed]
    found = idempotency.find_many(conn, asked)  # waits, for the reads sent ahead too
    for (i, _), stored in zip(keyed, found, strict=True):
        try:
            if isinstance(stored, Exception):
                raise stored
            answer = replayed(stored)
        except (idempotency.KeyReused, idempotency.KeyInProgress) as exc:
            answered[i] = (False, exc)
            continue
        if answer is not None:
            answered[i] = (True, answer)
    keys_seen: set[tuple[str, str]] = set()
    todo = []
    for i, job in enumerate(jobs):
        if answered[i][1] is not ALONE:
            continue
        if not takes[i]:
            continue  # alone
        if job.key is not None:
            if (job.key.scope, job.key.key) in keys_seen:
                continue  # the same key twice in one batch: the second goes alone, after the first
            keys_seen.add((job.key.scope, job.key.key))
        todo.append(i)
    outcomes = list(answered)
    if not todo:
        return outcomes
    together = [sales[i] for i in todo]
    actors = [jobs[i].actor for i in todo]
    # PostgreSQL: the sales' rows, their coupons' uses and their keys' records in one statement.
    writes = Writes() if is_postgres(conn) and len(together) <= FEW_ORDERS else None
    sent = [jobs[i].sale for i in todo]
    results = post_sales(
        conn, ctx, together, ahead=ahead, savepoint=False, actors=actors, writes=writes, sent=sent
    )
    if results is None:
        return outcomes
    bodies = [jobs[i].render(result) for i, result in zip(todo, results, strict=True)]
    records = [
        (key.scope, key.key, key.request_hash, body, 201)
        for key, body in zip((jobs[i].key for i in todo), bodies, strict=True)
        if key is not None
    ]
    idempotency.store_many(conn, records, ctx.now(), writes)
    if writes is not None:
        writes.send(conn)
    for i, body in zip(todo, bodies, strict=True):
        outcomes[i] = (True, SaleAnswer(201, body))
    return outcomes
