"""One sale posted by its own statements: the live routine of a POS sale.

A purchase is idempotent on (store_id, order_id): the same body replays the first result, another
body is an `IdempotencyMismatch`. The member's account is locked with their status and tier read
(on PostgreSQL with the window spend and the purchase's id reserved, in one round trip), the points
are earned by the programme's rule for their tier, become a lot that pays any debt first (pending
for the return window, expiring after `expiry_days`), and the tier moves up at once when the window
now reaches a higher one. An anonymous sale writes its purchase and lines only. About ten
statements, compiled once and run on the driver (`db.prepared`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, case, func, select
from sqlalchemy import Sequence as DbSequence

from loyalty.bootstrap import Context
from loyalty.db.core_tables import (
    accounts,
    members,
    point_lots,
    postings,
    purchase_lines,
    purchases,
    tiers,
    transfers,
)
from loyalty.db.prepared import Prepared, pipelined
from loyalty.db.rows import is_postgres
from loyalty.domain.actors import Actor
from loyalty.domain.earning import lot_times
from loyalty.domain.errors import Conflict, IdempotencyMismatch, InvalidInput, NotFound, field_error
from loyalty.domain.sale_limits import checked_amounts, refusal
from loyalty.domain.staff import MAX_STAFF_CODE, is_staff_code
from loyalty.services import idempotency
from loyalty.services.accounts import Credit, LockedAccount, credit_points
from loyalty.services.catalogue import Catalogue, StoreInfo
from loyalty.services.intake import currency_mismatch
from loyalty.services.members import resolve_member_id
from loyalty.services.offers.checkout import (
    NO_COUPONS,
    Cart,
    CouponDiscounts,
    coupon_discounts,
    record_uses,
    used_by,
)
from loyalty.services.offers.promotions import promotions_at
from loyalty.services.posting.few_orders import FewOrders
from loyalty.services.posting.member_state import MemberState
from loyalty.services.posting.order_batch import ANONYMOUS, OrderLists
from loyalty.services.request_hashes import model_hash, request_hash
from loyalty.services.schemas import PurchaseIn, PurchaseResult, UsedCoupon
from loyalty.services.tier_window import SPEND_IN_WINDOW, send_qualifying_spend, window_bounds


def _validate(data: PurchaseIn) -> list[int]:
    errors: list[dict[str, Any]] = []
    if not data.order_id.strip():
        errors.append({"field": "order_id", "message": "order id must not be empty"})
    if data.occurred_at.tzinfo is None:
        errors.append({"field": "occurred_at", "message": "time must carry a timezone"})
    amounts = checked_amounts(data.lines, errors)  # the quote's checks (`domain.sale_limits`)
    if data.total_minor is not None and data.total_minor < 0:
        errors.append({"field": "total", "message": "total must not be negative"})
    if data.staff is not None and not is_staff_code(data.staff):
        errors.append(
            field_error(
                "staff",
                "a staff code is 1 to {max} printable characters, without spaces at either end",
                {"max": MAX_STAFF_CODE},
            )
        )
    if errors:
        raise refusal(errors)
    return amounts


def result_of_row(conn: Connection, row: Any, replayed: bool) -> PurchaseResult:
    """The posting's answer re-read: the tier is the one the sale (or its claim) left the member in,
    kept with it; only a sale posted before core_0013 with no tier history to fill it in from is
    read with the member's tier now."""
    lot = None
    tier_code = row.tier_code
    if row.member_id is not None:  # an anonymous sale has no lot and no member's tier
        lot = conn.execute(
            select(point_lots.c.available_at, point_lots.c.expires_at)
            .where(point_lots.c.purchase_id == row.id)
            .order_by(point_lots.c.id)
            .limit(1)
        ).first()
        if tier_code is None:
            tier_code = conn.execute(
                select(tiers.c.code)
                .join(members, members.c.tier_id == tiers.c.id)
                .where(members.c.id == row.member_id)
            ).scalar_one()
    return PurchaseResult(
        purchase_id=row.id,
        store_id=row.store_id,
        order_id=row.order_id,
        member_id=row.member_id,
        total_minor=row.total_minor,
        points_earned=row.points_earned,
        rule=row.rule,
        available_at=lot.available_at if lot else None,
        expires_at=lot.expires_at if lot else None,
        tier_code=tier_code,
        upgraded_to=row.upgraded_to,
        replayed=replayed,
        channel=row.channel,
        claimed_at=row.claimed_at,
        coupons=[UsedCoupon(**c) for c in used_by(conn, row.id)],
        staff=row.staff,
    )


# The posting path's statements run on the driver (see `db.prepared`): compiled once, not per sale.
_PURCHASE_BY_ORDER = Prepared(
    select(purchases.c.id, purchases.c.request_hash).where(
        purchases.c.store_id == bindparam("store_id"), purchases.c.order_id == bindparam("order_id")
    )
)
# Member status, tier, what the earning rules may ask of them and the locked account in one round trip
# (FOR UPDATE OF accounts on PostgreSQL); with the ids the posting's rows will take.
_MEMBER_COLUMNS = (
    members.c.status,
    members.c.tier_id,
    accounts.c.id.label("account_id"),
    accounts.c.balance,
    accounts.c.debt,
    members.c.birthday,
    members.c.tags,
    members.c.created_at,
)


def _sqlite_reads() -> list[Any]:
    """SQLite: the member's window spend, and the highest id of each table a member's sale writes
    new rows to (the transaction holds the database's write lock, so the ids after them are the
    sale's, as `db.rows.next_ids`, and nothing can change the spend before the sale is written)."""
    return [
        SPEND_IN_WINDOW.scalar_subquery(),
        *(
            select(func.max(table.c.id)).scalar_subquery()
            for table in (purchases, transfers, postings, point_lots)
        ),
    ]


def _new_ids_postgres() -> list[Any]:
    """PostgreSQL: the purchase's id, taken from its sequence for an active member only (a refused
    sale burns none; the posting takes its transfer's ids only if it earns, as the set-based routine)."""
    return [case((members.c.status == "active", DbSequence("purchases_id_seq").next_value()), else_=None)]


def _member_read(new_ids: list[Any]) -> Prepared:
    return Prepared(
        select(*_MEMBER_COLUMNS, *new_ids)
        .join(accounts, accounts.c.member_id == members.c.id)
        .where(members.c.id == bindparam("member_id"))
        .with_for_update(of=accounts)
    )


_MEMBER_FOR_POSTING = {
    "sqlite": _member_read(_sqlite_reads()),
    "postgresql": _member_read(_new_ids_postgres()),
}


class _Member(NamedTuple):
    """What the sale's first round trip learnt: the member, their locked account and window spend,
    and the ids of the rows the sale will write."""

    member_id: int
    state: MemberState
    held: int  # their net spend in the window before this sale
    ids: dict[str, list[int]]  # per table (PostgreSQL: the purchase's only)


def _member_for_posting(
    conn: Connection, ctx: Context, catalogue: Catalogue, data: PurchaseIn, window: int
) -> _Member:
    """Resolve the member the sale names, lock their account and read their window spend.

    On PostgreSQL the lock and the spend travel in one round trip (the spend is read after the lock is
    granted: the server runs them in order). Raises if the member is unknown or inactive.
    """
    if data.member_id is not None and data.phone is None and data.card_no is None:
        member_id = data.member_id  # the common POS case: no separate look-up round trip
    else:
        member_id = _named_member(conn, ctx, data)
    pg = is_postgres(conn)
    if pg:
        with pipelined(conn):
            locked = _MEMBER_FOR_POSTING["postgresql"].send(conn, {"member_id": member_id})
            spent = send_qualifying_spend(conn, member_id, data.occurred_at, window)
            rows = locked.rows()  # first: an error of the lock is raised as itself
            spend = spent.scalar()
    else:  # one statement
        params = {"member_id": member_id, **window_bounds(data.occurred_at, window)}
        rows = _MEMBER_FOR_POSTING["sqlite"].run(conn, params)
    if not rows:
        raise NotFound("MEMBER_NOT_FOUND", "member {member_id} does not exist", {"member_id": str(member_id)})
    width = len(_MEMBER_COLUMNS)
    state = MemberState._make(rows[0][:width])
    if state.status != "active":
        raise Conflict(
            "MEMBER_INACTIVE",
            "member {member_id} is not active ({member_status})",
            {"member_id": member_id, "member_status": state.status},
        )
    new = rows[0][width:]
    if pg:
        ids = {"purchases": [new[0]]}
    else:  # after each table's highest: the purchase, its transfer, the transfer's two postings, its lot
        spend, *tops = new
        purchase, transfer, posting, lot = (top or 0 for top in tops)  # none yet: 0
        ids = {
            "purchases": [purchase + 1],
            "transfers": [transfer + 1],
            "postings": [posting + 1, posting + 2],
            "point_lots": [lot + 1],
        }
    return _Member(member_id, state, int(spend), ids)  # the spend is unused at the top tier


def _named_member(conn: Connection, ctx: Context, data: PurchaseIn) -> int:
    """Id of the member a sale names (by id, phone or card number)."""
    region = ctx.settings.phone_region
    return resolve_member_id(
        conn, member_id=data.member_id, phone=data.phone, card_no=data.card_no, region=region
    )


def _same_as_imported(conn: Connection, ctx: Context, purchase_id: int, data: PurchaseIn) -> bool:
    """Whether `data` is the order a bulk import posted as `purchase_id` (which kept no request hash).

    An imported order never came as a request body, so a POS replaying it is compared by content:
    the same time, channel and lines, the same member (by any key the request names, or one merged
    into the order's member since; none for an anonymous sale, which a member may have claimed since),
    and the same total, currency and staff where the request states them.
    """
    row = conn.execute(
        select(
            purchases.c.member_id,
            purchases.c.occurred_at,
            purchases.c.total_minor,
            purchases.c.currency,
            purchases.c.channel,
            purchases.c.claimed_at,
            purchases.c.staff,
        ).where(purchases.c.id == purchase_id)
    ).one()
    if data.occurred_at != row.occurred_at or data.channel != row.channel:
        return False
    if data.staff not in (None, row.staff):
        return False
    if data.total_minor not in (None, row.total_minor) or data.currency not in (None, row.currency):
        return False
    stored = conn.execute(
        select(
            purchase_lines.c.sku,
            purchase_lines.c.category,
            purchase_lines.c.quantity,
            purchase_lines.c.unit_price_minor,
            purchase_lines.c.discount_minor,
            purchase_lines.c.brand,
        )
        .where(purchase_lines.c.purchase_id == purchase_id)
        .order_by(purchase_lines.c.line_no)
    ).all()
    sent = [
        (ln.sku, ln.category, ln.quantity, ln.unit_price_minor, ln.discount_minor, ln.brand)
        for ln in data.lines
    ]
    if [tuple(r) for r in stored] != sent:
        return False
    if data.anonymous or row.member_id is None:
        return data.anonymous and (row.member_id is None or row.claimed_at is not None)
    try:
        member_id = _named_member(conn, ctx, data)
    except (NotFound, InvalidInput):
        return False
    if member_id == row.member_id:
        return True
    merged_into = conn.execute(select(members.c.merged_into_id).where(members.c.id == member_id)).scalar()
    return bool(merged_into == row.member_id)


def post_sale(
    conn: Connection,
    ctx: Context,
    catalogue: Catalogue,
    data: PurchaseIn,
    *,
    look_up_order: bool = True,
    record: idempotency.Record | None = None,
    actor: Actor | None = None,
) -> PurchaseResult:
    """Post one sale in `conn`'s transaction, or replay it when its (store, order id) is already posted.

    With ``look_up_order=False`` the replay check is left to the UNIQUE (store, order id) constraint: a
    repeated order then raises IntegrityError and the caller retries with the look-up. A POS sends
    each order once in all but a few retries, so the common case saves a statement. `record`, the
    caller's Idempotency-Key, is stored with the result in the same transaction (on a retry, only if
    a concurrent request has not stored it first). A new sale is audited as `actor`'s in the same
    transaction (None: the caller audits the batch it belongs to, as an import does); a replay wrote
    nothing and is not.
    """
    amounts = _validate(data)
    rhash = model_hash(data)
    # A retry's coupons are used already (by the sale it repeats): look the order up before them.
    look_up_order = look_up_order or bool(data.coupon_codes) or data.apply_promotions
    existing = (
        _PURCHASE_BY_ORDER.run(conn, {"store_id": data.store_id, "order_id": data.order_id})
        if look_up_order
        else None
    )
    if existing:
        existing_id, existing_hash = existing[0]
        same = (
            # Sales posted before 2026-11-30 hold the hash of the sorted-key dump (`request_hash`).
            existing_hash == rhash or existing_hash == request_hash(data.model_dump(mode="json"))
            if existing_hash is not None
            else _same_as_imported(conn, ctx, existing_id, data)
        )
        if not same:
            raise IdempotencyMismatch(
                "ORDER_ID_REUSED",
                "order {order_id} at store {store_id} was already posted with different content",
                {"order_id": data.order_id, "store_id": data.store_id},
            )
        row = conn.execute(select(purchases).where(purchases.c.id == existing_id)).one()
        replayed = result_of_row(conn, row, replayed=True)
        if record is not None:
            record.save(conn, replayed, ctx.now(), if_absent=look_up_order)
        return replayed
    store = catalogue.store(conn, data.store_id)
    prog = store.programme
    if data.currency is not None and data.currency != prog.currency:  # never earn on another currency
        raise currency_mismatch("currency", data.currency, prog.currency)
    member = None
    if not data.anonymous:
        try:
            member = _member_for_posting(conn, ctx, catalogue, data, prog.tier_window_days)
        except (NotFound, Conflict):
            if look_up_order:
                raise
            # A till's retry of an order whose member has since been merged or deactivated replays
            # the order; only a new order gets the member error.
            return post_sale(conn, ctx, catalogue, data, look_up_order=True, record=record, actor=actor)
    member_id = None if member is None else member.member_id
    tier_code = None if member is None else catalogue.tiers(conn).by_id[member.state.tier_id].code
    coupons = _coupons(conn, store, data, amounts, member_id, tier_code)
    posting = FewOrders(
        conn,
        ctx,
        OrderLists.from_items(
            [data],
            data.currency,
            members=[ANONYMOUS if member_id is None else member_id],
            coupons_off=coupons.per_line if coupons.applied else None,
        ),
        coupons.net(amounts),
        [store],
        [None if member is None else member.state],
        None,
        totals=None if data.total_minor is None else [data.total_minor],
        held=None if member is None else [member.held],
        ids=None if member is None else member.ids,
    )
    used = [UsedCoupon(**c.shown()) for c in coupons.applied]
    # On PostgreSQL the writes (and the Idempotency-Key record) go out in one round trip.
    with pipelined(conn):
        posted = posting.post([rhash], None if actor is None else [actor], None)
        result = posted.answer(0, data, member_id, used)
        if not coupons.applied:
            _answered(conn, ctx, result, record, if_absent=look_up_order)
    if coupons.applied:  # conditional updates, each waited for: after the pipeline, before the answer
        record_uses(conn, coupons, member_id, ctx.now(), result.purchase_id)
        _answered(conn, ctx, result, record, if_absent=look_up_order)
    return result


def _coupons(
    conn: Connection,
    store: StoreInfo,
    data: PurchaseIn,
    amounts: Sequence[int],
    member_id: int | None,
    tier_code: str | None,
) -> CouponDiscounts:
    """What the sale's coupon codes, and the promotions in force when it asks for them, take off its
    lines (`services.offers.checkout`)."""
    if not data.coupon_codes and not data.apply_promotions:
        return NO_COUPONS
    promotions = promotions_at(conn, store.programme.id, data.occurred_at) if data.apply_promotions else []
    cart = Cart.of(store.code, data.channel, tier_code, amounts, data.lines, promotions)
    return coupon_discounts(conn, data.coupon_codes, cart, member_id=member_id, at=data.occurred_at)


def _answered(
    conn: Connection,
    ctx: Context,
    result: PurchaseResult,
    record: idempotency.Record | None,
    *,
    if_absent: bool,
) -> None:
    """The Idempotency-Key's stored answer, in the sale's transaction."""
    if record is not None:
        record.save(conn, result, ctx.now(), if_absent=if_absent)


def earn_sale_points(
    conn: Connection,
    store: StoreInfo,
    account: LockedAccount,
    *,
    points: int,
    sold_at: datetime,
    at: datetime,
    rule: str,
    purchase_id: int,
    order_id: str,
    **extra: Any,
) -> tuple[datetime | None, datetime | None]:
    """Credit what a sale at `store` earned (nothing when `points` is 0): the earning transfer and one
    lot that pays debt first; return the lot's (available_at, expires_at).

    The lot's pending period and expiry run from the sale's own time by the programme's rule (the
    bulk import's too), so a sale posted live and one claimed later earn alike. `extra` goes on the
    transfer (a claim's reason and operator).
    """
    if points <= 0:
        return None, None
    prog = store.programme
    available_us, expires_us = lot_times(0, prog.return_window_days, prog.expiry_days)
    available_at = sold_at + timedelta(microseconds=available_us)
    expires_at = sold_at + timedelta(microseconds=expires_us)
    credit = Credit(
        "earn", rule, points, store.liability_account_id, store.merchant_id, available_at, expires_at
    )
    credit_points(
        conn, account, credit, at, purchase_id=purchase_id, store_id=store.id, order_id=order_id, **extra
    )
    return available_at, expires_at
