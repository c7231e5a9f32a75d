"""The programmes' earning rules over a batch's lines: what both forms of the set-based routine ask
the rules engine (`earning_rules.frames.earn_lines`), put the same way.

Each order earns by its store's programme and zone, and by the tier it earns with; an anonymous
order is no member's (the engine gives it nothing). The caller says where each order stands (an
index into its stores and into the tier ladder, whether a member's) and, only if a rule asks, each
order's member's birthday.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection

from loyalty.domain.channels import DEFAULT_CHANNEL
from loyalty.domain.programme.engine import Earned, Rule, Vocabulary
from loyalty.services.catalogue import StoreInfo, Tier
from loyalty.services.earning_rules.frames import SaleColumns, earn_lines, needs_birthdays
from loyalty.services.posting.import_session import BulkSession
from loyalty.services.posting.order_batch import OrderBatch

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def earned_by_rules(
    conn: Connection,
    rules: Sequence[Rule],
    batch: OrderBatch,
    stores: Sequence[StoreInfo],
    store_of_order: IntArray,
    ranked: Sequence[Tier],
    tier_of_order: IntArray,
    member: BoolArray,
    birthdays: Callable[[], Sequence[date | None]],
    amounts: IntArray,
    excluded: BoolArray,
    session: BulkSession | None = None,
) -> Earned:
    """What the batch's lines earn by `rules`, their limits taken in this transaction: order i at
    `stores[store_of_order[i]]` with the tier `ranked[tier_of_order[i]]`, a member's where `member`;
    `birthdays()` (one an order, None for an anonymous one) is asked for only where a rule needs it.
    `amounts` and `excluded` are the lines'; an import passes its `session` (`earn_lines`)."""
    n = len(batch)
    programme_id = np.array([s.programme.id for s in stores], dtype=np.int64)[store_of_order]
    points_per_unit = np.array([s.programme.points_per_unit for s in stores], dtype=np.int64)
    multiplier_pct = np.array([t.multiplier_pct for t in ranked], dtype=np.int64)
    sales = SaleColumns(
        programme_id=programme_id,
        store_id=batch.store_id,
        occurred_us=batch.occurred_us,
        zone=Vocabulary.encoded([s.timezone for s in stores], store_of_order),
        channel=Vocabulary.encoded([DEFAULT_CHANNEL], np.zeros(n, dtype=np.int64))
        if batch.channel is None
        else batch.channel,
        tier_code=Vocabulary.encoded([t.code for t in ranked], tier_of_order),
        points_per_unit=points_per_unit[store_of_order],
        multiplier_pct=multiplier_pct[tier_of_order],
        member=member,
        birthday=birthdays() if needs_birthdays(rules) else [None] * n,
        member_id=batch.member_id,
    )
    line_sale = np.repeat(np.arange(n, dtype=np.int64), batch.lines_per_order)
    return earn_lines(
        rules, sales, line_sale, amounts, batch.category, batch.sku, excluded, brand=batch.brand, limits=conn,
        session=session,
    )  # fmt: skip
