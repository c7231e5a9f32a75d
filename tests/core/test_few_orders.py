"""The set-based routine's two forms write the same rows: a few orders, no member's two, posted on
Python's values (`posting.few_orders`, a till's batch) and the same orders over NumPy columns
(`posting.set_based`, an import's form).

The two databases of `test_bulk_equivalence` get the same members (some in debt), the same history,
then the same sales in groups of up to eight, each member at most once a group: in the few-orders
form on the first, forced into the array form on the second. Every answer and every row must match:
purchases and lines, transfers and postings, lots, accounts, tiers and audit rows; with staff,
channels, brands and anonymous sales among them, and sales that cross tier thresholds, pay debt and
earn nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import text

from loyalty.bootstrap import Context
from loyalty.domain.actors import SYSTEM
from loyalty.services.posting import few_orders
from loyalty.services.posting.order_batch import ANONYMOUS, OrderBatch
from loyalty.services.posting.sale_rows import Posted
from loyalty.services.posting.set_based import post_set_based
from loyalty.services.request_hashes import model_hash
from loyalty.services.schemas import PurchaseIn
from tests.core.test_sale_batches import members_with_history
from tests.imports.test_bulk_equivalence import _batch, _scenario, assert_same_ledger, pair

__all__ = ["pair"]  # the fixture: two identical fresh databases (SQLite, PostgreSQL)


def _groups(sales: list[PurchaseIn], most: int) -> Iterator[list[PurchaseIn]]:
    """`sales` in order, cut into groups of up to `most` where no member comes twice."""
    group: list[PurchaseIn] = []
    for sale in sales:
        named = {s.member_id for s in group if s.member_id is not None}
        if len(group) == most or (sale.member_id is not None and sale.member_id in named):
            yield group
            group = []
        group.append(sale)
    if group:
        yield group


def _post(ctx: Context, group: list[PurchaseIn]) -> Posted:
    batch = OrderBatch.from_items(group)
    with ctx.engine.begin() as conn:
        posted = post_set_based(
            conn, ctx, batch, request_hashes=[model_hash(s) for s in group], actors=[SYSTEM] * len(group)
        )
    assert posted is not None
    return posted


def _audit(ctx: Context) -> list[tuple[object, ...]]:
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT actor_kind, action, entity, entity_id, after FROM audit_log ORDER BY id")
        )
        return [tuple(r) for r in rows]


@pytest.mark.parametrize("seed", [3, 11])
def test_a_few_orders_on_values_write_what_the_array_form_writes(
    pair: tuple[Context, Context], seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    values, columns = pair
    rng = np.random.default_rng(seed)
    store_ids, ids = members_with_history(pair, rng, 12, "FO", 40)
    orders = _scenario(store_ids, ids, rng, 90, anonymous=0.2, channels=True, staff=True, brands=True)
    for order in orders:
        order.at += timedelta(days=420)  # after the history, some of it still in the window
    sales = _batch(orders, "FO").items()
    posted: list[Posted] = []
    sizes = []
    for group in _groups(sales, few_orders.FEW_ORDERS_AS_VALUES):
        batch = OrderBatch.from_items(group)
        assert few_orders.takes(batch)  # the first database posts it on values ...
        posted.append(_post(values, group))
        with monkeypatch.context() as forced:
            forced.setattr(few_orders, "FEW_ORDERS_AS_VALUES", 0)  # ... the second over columns
            assert not few_orders.takes(batch)
            assert _post(columns, group) == posted[-1]
        sizes.append(len(group))

    assert_same_ledger(values, columns)
    assert _audit(values) == _audit(columns)
    assert max(sizes) > 1  # groups of several sales ...
    assert min(sizes) == 1  # ... and sales alone
    assert any(b != a for p in posted for b, a in zip(p.tiers_before, p.tiers_after, strict=True))
    assert any(points == 0 for p in posted for points in p.points)
    assert any(s.member_id is None for s in sales)


def test_a_members_second_order_takes_the_array_form() -> None:
    def batch(members: list[int]) -> OrderBatch:
        return OrderBatch(
            store_id=np.ones(len(members), dtype=np.int64),
            order_id=[f"o{i}" for i in range(len(members))],
            occurred_us=np.zeros(len(members), dtype=np.int64),
            member_id=np.array(members, dtype=np.int64),
            offsets=np.arange(len(members) + 1, dtype=np.int64),
            sku=["s"] * len(members),
            category=[None] * len(members),
            quantity=np.ones(len(members), dtype=np.int64),
            unit_price_minor=np.ones(len(members), dtype=np.int64),
            discount_minor=np.zeros(len(members), dtype=np.int64),
        )

    assert few_orders.takes(batch([5]))
    assert few_orders.takes(batch([5, 6, ANONYMOUS, ANONYMOUS]))  # anonymous sales name nobody
    assert not few_orders.takes(batch([5, 6, 5]))
    assert not few_orders.takes(batch(list(range(1, few_orders.FEW_ORDERS_AS_VALUES + 2))))
