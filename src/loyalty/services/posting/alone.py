"""The posting strategy of a sale on its own: a transaction of its own, side by side with others."""

from __future__ import annotations

import anyio.to_thread
from sqlalchemy import Connection

from loyalty.bootstrap import Context
from loyalty.services import purchases
from loyalty.services.posting.sale_request import (
    SaleAnswer,
    SaleRequest,
    answer_of,
    record_for,
    stored_answer,
)


def post_alone(ctx: Context, request: SaleRequest) -> SaleAnswer:
    """Post the sale in a transaction of its own (retried once, `purchases.in_sale_transaction`),
    its key looked up and recorded in that transaction: no second connection, BEGIN and ROLLBACK
    per sale for it."""

    def attempt(conn: Connection, first_try: bool) -> SaleAnswer:
        stored = stored_answer(conn, request.key)
        if stored is not None:
            return stored
        record = record_for(request)
        result = purchases.post_purchase_once(
            conn, ctx, request.sale, record=record, first_try=first_try, actor=request.actor
        )
        return answer_of(request, result, record)

    return purchases.in_sale_transaction(ctx, attempt)


class PostAlone:
    """Every sale in a transaction of its own, in a worker thread."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def post(self, request: SaleRequest) -> SaleAnswer:
        return await anyio.to_thread.run_sync(post_alone, self.ctx, request)
