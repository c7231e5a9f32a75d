"""How POS sales reach the database: the posting strategy, chosen once when the process starts.

* `alone.PostAlone`: each sale in a transaction of its own, side by side with others (PostgreSQL
  without batching, and any process that is not a server);
* `group_commit.GroupCommit`: SQLite, one writer at a time: the sales that arrive together share one
  transaction, each in a savepoint of its own;
* `set_based_batches.SetBasedBatches`: PostgreSQL: the sales that arrive together are posted set-based
  in one transaction, their accounts locked in id order; what the batch does not take goes alone.

`strategy_for` picks one from the settings and the database; an entry point keeps it for the life of
the process and hands every sale to `post`. Each strategy owns the sale's transaction, its retry and
its Idempotency-Key (`sale_request`), and answers what the sale's caller is to be told.
"""

from __future__ import annotations

from typing import Protocol

from loyalty.bootstrap import Context
from loyalty.services.posting.alone import PostAlone
from loyalty.services.posting.group_commit import GroupCommit
from loyalty.services.posting.sale_request import SaleAnswer, SaleRequest
from loyalty.services.posting.set_based_batches import SetBasedBatches


class PostingStrategy(Protocol):
    """Posts one sale, in whatever transaction the strategy gives it; raises the sale's own error
    (a domain error, `idempotency.KeyReused`, `idempotency.KeyInProgress`) or, when a transaction it
    shared could not commit, `shared_transactions.NotWritten`."""

    async def post(self, request: SaleRequest) -> SaleAnswer: ...


def strategy_for(ctx: Context) -> PostingStrategy:
    """The strategy for this process: batching on (`api_group_commit`) picks the group commit on
    SQLite and set-based batches on PostgreSQL; off, every sale goes alone."""
    if not ctx.settings.api_group_commit:
        return PostAlone(ctx)
    if ctx.engine.dialect.name == "sqlite":
        return GroupCommit(ctx)
    return SetBasedBatches(ctx)
