"""POS sales that arrive together, posted together by the set-based routine.

Posted one by one, a sale costs the server a dozen statements, each a trip through the driver and
on PostgreSQL a wait for the database. The set-based routine (`posting.set_based.post_set_based`, the
import's) posts many orders with a handful of statements under the same rules, and locks the members'
accounts in id order in one statement, so two batches never deadlock each other. On PostgreSQL its
reads can be sent ahead (`read_ahead`) and its writes go in one statement, so a batch waits for the
database twice, commit included (`set_based_batches`).

`post_sales` takes the common POS sale only (member named by id, or none for an anonymous sale; no
total of its own), with its coupons and the promotions it asks for (`batch_coupons`), and answers
what the live routine would, sale for sale; anything else, or a batch the routine does not model (a
replayed order, an inactive member, a code that cannot be used, …), is left to the live routine,
nothing written. A sale that names its member by phone or card number is given the member's id
first (`members_by_key`, the batch's looked up in one statement, and `by_member_id`).
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, replace

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from loyalty.bootstrap import Context
from loyalty.db.prepared import savepoint as prepared_savepoint
from loyalty.db.rows import is_postgres
from loyalty.db.unnest import Writes
from loyalty.domain.actors import SYSTEM, Actor
from loyalty.domain.errors import NotFound
from loyalty.domain.sale_limits import within_limit
from loyalty.domain.staff import is_staff_code
from loyalty.services.catalogue import StoreInfo, catalogue_of
from loyalty.services.members import member_ids_by_key
from loyalty.services.offers.coupons import take_uses
from loyalty.services.posting.batch_coupons import BatchCoupons, CouponReads, price_coupons, send_coupon_reads
from loyalty.services.posting.member_state import read_members
from loyalty.services.posting.order_batch import ANONYMOUS, OrderBatch
from loyalty.services.posting.read_ahead import ReadAhead
from loyalty.services.posting.read_ahead import read_ahead as send_batch_reads
from loyalty.services.posting.sale_rows import Posted
from loyalty.services.posting.set_based import post_set_based
from loyalty.services.request_hashes import model_hash
from loyalty.services.schemas import PurchaseIn, PurchaseResult


def batchable(sale: PurchaseIn, *, looked_up: bool = False) -> bool:
    """Whether a sale may go in a batch: it names its member by id (or none: an anonymous sale, which
    the routine writes without touching any account; with `looked_up`, also by phone or card number,
    which `by_member_id` turns into the id), leaves the total to its lines, and its lines add up to a
    sale the ledger takes (the routine's 64-bit sums would wrap around past it; the sale alone is
    refused with the field named). Its coupons and the promotions it asks for, if any, are taken
    with the batch."""
    by_id = sale.phone is None and sale.card_no is None
    return (
        (by_id or (looked_up and _names_by_key(sale)))
        and sale.total_minor is None
        and sale.occurred_at.tzinfo is not None
        and within_limit(sale.lines)
        and (sale.staff is None or is_staff_code(sale.staff))  # else refused alone, the field named
    )


def _names_by_key(sale: PurchaseIn) -> bool:
    """Whether the sale names its member by phone or by card number, and by nothing else."""
    return sale.member_id is None and (sale.phone is None) != (sale.card_no is None)


def members_by_key(conn: Connection, ctx: Context, sales: Sequence[PurchaseIn]) -> dict[int, int]:
    """The member each sale that names them by phone or card number names, by the sale's index, in
    one statement (none when no sale does); a sale whose key is not valid or names nobody is left
    out: it goes alone, where it is refused as it should be."""
    keyed = [i for i, sale in enumerate(sales) if _names_by_key(sale)]
    if not keyed:
        return {}
    found = member_ids_by_key(
        conn, [(sales[i].phone, sales[i].card_no) for i in keyed], ctx.settings.phone_region
    )
    return {i: member for i, member in zip(keyed, found, strict=True) if member is not None}


def by_member_id(sale: PurchaseIn, member_id: int | None) -> PurchaseIn:
    """The sale naming `member_id` (found by its phone or card number) instead; itself without one."""
    if member_id is None:
        return sale
    return sale.model_copy(update={"member_id": member_id, "phone": None, "card_no": None})


@dataclass(frozen=True)
class SalesAhead:
    """The reads of posting `sales` together, sent ahead (`read_ahead`)."""

    sales: tuple[PurchaseIn, ...]
    reads: ReadAhead
    coupons: CouponReads | None  # None: no sale brings a code


def read_ahead(conn: Connection, ctx: Context, sales: Sequence[PurchaseIn]) -> SalesAhead | None:
    """Send what posting `sales` together reads, without waiting (PostgreSQL; see
    `posting.read_ahead`): the coupons after the members' locks, so that a member's uses are counted
    under them; None where they cannot be posted together or nothing is gained (SQLite, which the
    posting reads as it goes)."""
    if not is_postgres(conn):
        return None
    batch = _batch(sales)
    reads = None if batch is None else send_batch_reads(conn, ctx, batch)
    if reads is None:
        return None
    coupons = None
    if any(_priced_with_offers(sale) for sale in sales):
        stores = _stores(conn, ctx, sales)
        coupons = None if stores is None else send_coupon_reads(conn, sales, stores)
        if coupons is None:
            return None
    return SalesAhead(tuple(sales), reads, coupons)


def post_sales(
    conn: Connection,
    ctx: Context,
    sales: Sequence[PurchaseIn],
    *,
    ahead: SalesAhead | None = None,
    savepoint: bool = True,
    actors: Sequence[Actor] | None = None,
    writes: Writes | None = None,
    sent: Sequence[PurchaseIn] | None = None,
) -> list[PurchaseResult] | None:
    """Post `sales` in `conn`'s transaction and answer each as the live routine would, or return None
    having written nothing when they must be posted one by one (`purchases.post_purchase`).

    `sent`: the sales as their tills sent them, where a member named by phone or card number was
    looked up first (`by_member_id`): what a retry of the order is compared with, as the live
    routine keeps it.

    `ahead`: reads sent before for these very sales. Without a `savepoint`, a sale whose order exists
    already raises `IntegrityError` (maybe only when the caller's pipeline or transaction ends), and
    the caller rolls back (see `posting.set_based.post_set_based`). `actors`, one per sale, are who
    posted them: each sale's audit row is written with the batch (the system's when not given).
    `writes` (PostgreSQL, no savepoint): the caller's one write statement, which the sales' rows and
    their coupons' uses join, for the caller to send (`posting.set_based.post_set_based`).
    """
    if ahead is not None and len(ahead.sales) == len(sales) and all(map(operator.is_, ahead.sales, sales)):
        reads: ReadAhead | None = ahead.reads
        batch: OrderBatch | None = ahead.reads.batch
        coupon_reads = ahead.coupons
    else:
        reads, batch, coupon_reads = None, _batch(sales), None
        if batch is not None and any(_priced_with_offers(sale) for sale in sales):
            if is_postgres(conn):
                return None  # a member's uses are counted under the lock the reads sent ahead take first
            stores = _stores(conn, ctx, sales)
            coupon_reads = None if stores is None else send_coupon_reads(conn, sales, stores)
            if coupon_reads is None:
                return None
    if batch is None:
        return None
    coupons = None
    if coupon_reads is not None:
        priced = _priced(conn, ctx, sales, batch, coupon_reads, reads)
        if priced is None:
            return None
        coupons, batch, reads = priced
    request_hashes = [model_hash(s) for s in (sales if sent is None else sent)]
    posters = actors if actors is not None else [SYSTEM] * len(sales)
    posted = _post(conn, ctx, batch, coupons, request_hashes, reads, savepoint, posters, writes)
    if posted is None:
        return None
    return [
        posted.answer(i, sale, sale.member_id, [] if coupons is None else coupons.used(i))
        for i, sale in enumerate(sales)
    ]


def _priced(
    conn: Connection,
    ctx: Context,
    sales: Sequence[PurchaseIn],
    batch: OrderBatch,
    coupon_reads: CouponReads,
    reads: ReadAhead | None,
) -> tuple[BatchCoupons, OrderBatch, ReadAhead | None] | None:
    """The sales' coupons and promotions priced (`batch_coupons.price_coupons`) and the batch with
    their share in its lines' discounts (the reads sent ahead carried over to it); None where the
    batch cannot take them."""
    stores = _stores(conn, ctx, sales)
    if stores is None:
        return None
    catalogue = catalogue_of(ctx)
    members = reads.members() if reads is not None else read_members(conn, batch.members())
    offsets = batch.offsets.tolist()
    amounts = batch.line_amounts().tolist()
    before = [amounts[offsets[i] : offsets[i + 1]] for i in range(len(sales))]
    coupons = price_coupons(sales, before, coupon_reads, stores, catalogue.tiers(conn), members)
    if coupons is None:
        return None
    off = coupons.line_discounts(batch.lines_per_order)
    batch = replace(batch, discount_minor=batch.discount_minor + off)
    if reads is not None:  # the members are read once: the posting reads them from here
        reads = replace(reads, batch=batch, members=lambda: members)
    return coupons, batch, reads


def _post(
    conn: Connection,
    ctx: Context,
    batch: OrderBatch,
    coupons: BatchCoupons | None,
    request_hashes: list[str],
    reads: ReadAhead | None,
    savepoint: bool,
    actors: Sequence[Actor],
    writes: Writes | None,
) -> Posted | None:
    """The set-based posting of the batch and its coupons' uses, if any, together: in one savepoint
    when asked (an order that exists already, or a use past a limit a racer reached first, rolls both
    back and the sales go alone), else raised to the caller, who rolls the transaction back."""
    try:
        with prepared_savepoint(conn) if savepoint else nullcontext():
            posted = post_set_based(
                conn,
                ctx,
                batch,
                request_hashes=request_hashes,
                ahead=reads,
                savepoint=False,
                actors=actors,
                writes=writes,
            )
            if posted is not None and coupons is not None:
                members = [None if m == ANONYMOUS else m for m in batch.member_id.tolist()]
                take_uses(conn, coupons.uses(posted.purchase_id_list(), members), ctx.now(), writes)
            return posted
    except IntegrityError:
        if not savepoint:
            raise
        return None


def _priced_with_offers(sale: PurchaseIn) -> bool:
    """Whether the sale brings codes or asks for promotions: offers to price before it is posted."""
    return bool(sale.coupon_codes) or sale.apply_promotions


def _stores(conn: Connection, ctx: Context, sales: Sequence[PurchaseIn]) -> dict[int, StoreInfo] | None:
    """The sales' stores, or None where one is unknown (the sale is refused alone)."""
    catalogue = catalogue_of(ctx)
    try:
        return {store_id: catalogue.store(conn, store_id) for store_id in {s.store_id for s in sales}}
    except NotFound:
        return None


def _batch(sales: Sequence[PurchaseIn]) -> OrderBatch | None:
    """The sales' columnar batch, or None when they cannot be posted together."""
    if not sales or not all(batchable(s) for s in sales):
        return None
    if len({(s.store_id, s.order_id) for s in sales}) != len(sales) or len({s.currency for s in sales}) != 1:
        return None
    return OrderBatch.from_items(sales, currency=sales[0].currency)
