"""POS sales that arrive together, posted together by the set-based routine.

Posted one by one, a sale costs the server a dozen statements, each a trip through the driver and
on PostgreSQL a wait for the database. The set-based routine (`posting.set_based.post_set_based`, the
import's) posts many orders with a handful of statements under the same rules, and locks the members'
accounts in id order in one statement, so two batches never deadlock each other. On PostgreSQL its
reads can be sent ahead (`read_ahead`) and its writes go in one statement, so a batch waits for the
database twice, commit included (`set_based_batches`).

`post_sales` takes the common POS sale only (member named by id, or none for an anonymous sale; no
total of its own) and answers what the live routine would, sale for sale; anything else, or a batch
the routine does not model (a replayed order, an inactive member, …), is left to the live routine,
nothing written.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection

from loyalty.bootstrap import Context
from loyalty.domain.actors import SYSTEM, Actor
from loyalty.domain.sale_limits import within_limit
from loyalty.domain.staff import is_staff_code
from loyalty.services.posting.order_batch import OrderBatch
from loyalty.services.posting.read_ahead import ReadAhead
from loyalty.services.posting.read_ahead import read_ahead as send_batch_reads
from loyalty.services.posting.set_based import post_set_based
from loyalty.services.request_hashes import model_hash
from loyalty.services.schemas import PurchaseIn, PurchaseResult


def batchable(sale: PurchaseIn) -> bool:
    """Whether a sale may go in a batch: it names its member by id (or none: an anonymous sale, which
    the routine writes without touching any account), brings no coupon nor asks for promotions,
    leaves the total to its lines, and its lines add up to a sale the ledger takes (the routine's
    64-bit sums would wrap around past it; the sale alone is refused with the field named)."""
    return (
        sale.phone is None
        and sale.card_no is None
        and sale.total_minor is None
        and sale.occurred_at.tzinfo is not None
        and within_limit(sale.lines)
        and batchable_offers(sale)
        and (sale.staff is None or is_staff_code(sale.staff))  # else refused alone, the field named
    )


def batchable_offers(sale: PurchaseIn) -> bool:
    """Whether a sale leaves offers out of it: its coupons are taken by conditional updates, each
    waited for, and its promotions priced per sale (`offers.checkout`), so such a sale goes alone."""
    return not sale.coupon_codes and not sale.apply_promotions


@dataclass(frozen=True)
class SalesAhead:
    """The reads of posting `sales` together, sent ahead (`read_ahead`)."""

    sales: tuple[PurchaseIn, ...]
    reads: ReadAhead


def read_ahead(conn: Connection, ctx: Context, sales: Sequence[PurchaseIn]) -> SalesAhead | None:
    """Send what posting `sales` together reads, without waiting (PostgreSQL; see
    `posting.read_ahead`); None where they cannot be posted together or nothing is gained."""
    batch = _batch(sales)
    reads = None if batch is None else send_batch_reads(conn, ctx, batch)
    return None if reads is None else SalesAhead(tuple(sales), reads)


def post_sales(
    conn: Connection,
    ctx: Context,
    sales: Sequence[PurchaseIn],
    *,
    ahead: SalesAhead | None = None,
    savepoint: bool = True,
    actors: Sequence[Actor] | None = None,
) -> list[PurchaseResult] | None:
    """Post `sales` in `conn`'s transaction and answer each as the live routine would, or return None
    having written nothing when they must be posted one by one (`purchases.post_purchase`).

    `ahead`: reads sent before for these very sales. Without a `savepoint`, a sale whose order exists
    already raises `IntegrityError` (maybe only when the caller's pipeline or transaction ends), and
    the caller rolls back (see `posting.set_based.post_set_based`). `actors`, one per sale, are who
    posted them: each sale's audit row is written with the batch (the system's when not given).
    """
    if ahead is not None and len(ahead.sales) == len(sales) and all(map(operator.is_, ahead.sales, sales)):
        reads: ReadAhead | None = ahead.reads
        batch: OrderBatch | None = ahead.reads.batch
    else:
        reads, batch = None, _batch(sales)
    if batch is None:
        return None
    posted = post_set_based(
        conn,
        ctx,
        batch,
        request_hashes=[model_hash(s) for s in sales],
        ahead=reads,
        savepoint=savepoint,
        actors=actors if actors is not None else [SYSTEM] * len(sales),
    )
    if posted is None:
        return None
    results = []
    for i, sale in enumerate(sales):
        points = int(posted.points[i])
        member = sale.member_id
        before, after = (posted.tiers_before[i], posted.tiers_after[i]) if member else (None, None)
        occurred = int(batch.occurred_us[i])
        results.append(
            PurchaseResult(
                purchase_id=int(posted.purchase_ids[i]),
                store_id=sale.store_id,
                order_id=sale.order_id,
                member_id=member,
                total_minor=int(posted.totals[i]),
                points_earned=points,
                rule=posted.rules[i],
                # as the live routine gives them: offsets from the sale's own time, in its zone
                available_at=_after(sale, int(posted.available_us[i]) - occurred) if points > 0 else None,
                expires_at=_after(sale, int(posted.expires_us[i]) - occurred) if points > 0 else None,
                tier_code=after,
                upgraded_to=after if after != before else None,
                channel=sale.channel,
                staff=sale.staff,
            )
        )
    return results


def _batch(sales: Sequence[PurchaseIn]) -> OrderBatch | None:
    """The sales' columnar batch, or None when they cannot be posted together."""
    if not sales or not all(batchable(s) for s in sales):
        return None
    if len({(s.store_id, s.order_id) for s in sales}) != len(sales) or len({s.currency for s in sales}) != 1:
        return None
    return OrderBatch.from_items(sales, currency=sales[0].currency)


def _after(sale: PurchaseIn, microseconds: int) -> datetime:
    return sale.occurred_at + timedelta(microseconds=microseconds)
