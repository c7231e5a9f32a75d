"""One sale posted alone: its checks, its replay, its member's lock, and then a batch of one.

A purchase is idempotent on (store_id, order_id): the same body replays the first result, another
body is an `IdempotencyMismatch`. The sale is checked naming the field, replayed when its order is
posted already, its member's account locked with their status and tier read (on PostgreSQL with the
window spend and the purchase's id reserved, in one round trip; on SQLite in one statement), its
coupons priced with the member's tier; then it is posted as a batch of one by the set-based routine
(`few_orders.post_orders`), the one routine every sale goes through: points earned by the rule for
the member's tier (or the programme's earning rules), a lot that pays any debt first, and the tier
moved up at once when the window now reaches a higher one. An anonymous sale writes its purchase
and lines only. Its audit row and Idempotency-Key go in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Connection, and_, any_, bindparam, case, select
from sqlalchemy import Sequence as DbSequence
from sqlalchemy.dialects.postgresql import ARRAY

from loyalty.bootstrap import Context
from loyalty.db.core_tables import accounts, members, point_lots, purchase_lines, purchases, tiers
from loyalty.db.prepared import Prepared, pipelined
from loyalty.db.rows import is_postgres, next_id_lists
from loyalty.db.stored_time import epoch_us
from loyalty.domain.actors import Actor
from loyalty.domain.errors import Conflict, IdempotencyMismatch, InvalidInput, NotFound, field_error
from loyalty.domain.sale_limits import checked_amounts, refusal
from loyalty.domain.staff import MAX_STAFF_CODE, is_staff_code
from loyalty.services import audit, idempotency
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
from loyalty.services.posting.few_orders import Line, NewIds, Order, base_points, catalogue_reads, post_orders
from loyalty.services.posting.member_state import MemberState
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
# The posting path's statements run on the driver (see `db.prepared`): compiled once, not per sale.
# Planned at each run: it runs on a retry, or for a sale with coupons or promotions, in a process
# that may have started on an empty table (`Prepared`).
_PURCHASE_BY_ORDER = Prepared(
    select(purchases.c.id, purchases.c.request_hash).where(
        purchases.c.store_id == bindparam("store_id"), purchases.c.order_id == bindparam("order_id")
    ),
    planned_each_run=True,
)
# The member as a posting reads them (`member_state.MemberState`'s columns) with their account locked
# (FOR UPDATE OF accounts on PostgreSQL), and one more column by database:
_MEMBER_SELECT = (
    select(
        members.c.status,
        members.c.tier_id,
        accounts.c.id.label("account_id"),
        accounts.c.balance,
        accounts.c.debt,
        members.c.birthday,
        members.c.tags,
        members.c.created_at,
    )
    .join(accounts, accounts.c.member_id == members.c.id)
    .where(members.c.id == bindparam("member_id"))
    .with_for_update(of=accounts)
)
# SQLite: the window spend, in the same statement (the transaction holds the database's write lock:
# nothing can change the spend before the sale is written).
_MEMBER_FOR_POSTING_WITH_SPEND = Prepared(_MEMBER_SELECT.add_columns(SPEND_IN_WINDOW.scalar_subquery()))
# PostgreSQL: the purchase's id, reserved (for an active member only, so that a refused sale burns
# none), and the ids of its earning rows (transfer, its two postings, lot) where the member's tier is
# one the sale earns at (`earning_tiers`), so that its writes go out without waiting for ids
# (`post_sale`).
_ACTIVE = members.c.status == "active"
_EARNS = and_(_ACTIVE, members.c.tier_id == any_(bindparam("earning_tiers", type_=ARRAY(BigInteger))))
_MEMBER_FOR_POSTING_RESERVING = Prepared(
    _MEMBER_SELECT.add_columns(
        case((_ACTIVE, DbSequence("purchases_id_seq").next_value()), else_=None),
        case((_EARNS, DbSequence("transfers_id_seq").next_value()), else_=None),
        case((_EARNS, DbSequence("postings_id_seq").next_value()), else_=None),
        case((_EARNS, DbSequence("postings_id_seq").next_value()), else_=None),
        case((_EARNS, DbSequence("point_lots_id_seq").next_value()), else_=None),
    )
)
#: the reserved ids' columns at the end of `_MEMBER_FOR_POSTING_RESERVING`'s row
_RESERVED = 5


@dataclass(frozen=True)
class _Posting:
    """What the sale's first round trip learnt: the member, their locked account and window spend."""

    member_id: int
    state: MemberState
    spend_before: int | None  # net spend in the window before this sale; None: already at the top tier
    purchase_id: int | None  # reserved on PostgreSQL
    earning_ids: dict[str, list[int]] | None  # reserved on PostgreSQL where the sale earns: by table


def _member_for_posting(
    conn: Connection,
    ctx: Context,
    catalogue: Catalogue,
    data: PurchaseIn,
    window: int,
    earning_tiers: list[int],
) -> _Posting:
    """Resolve the member the sale names, lock their account and read their window spend.

    On PostgreSQL the lock and the spend travel in one round trip (the spend is read after the lock is
    granted: the server runs them in order), with the purchase's id reserved, and its earning rows'
    where the member's tier is among `earning_tiers`; on SQLite they are one statement. Raises if the
    member is unknown or inactive.
    """
    if data.member_id is not None and data.phone is None and data.card_no is None:
        member_id = data.member_id  # the common POS case: no separate look-up round trip
    else:
        member_id = _named_member(conn, ctx, data)
    pg = conn.dialect.name == "postgresql"
    if pg:
        with pipelined(conn):
            locked = _MEMBER_FOR_POSTING_RESERVING.send(
                conn, {"member_id": member_id, "earning_tiers": earning_tiers}
            )
            spent = send_qualifying_spend(conn, member_id, data.occurred_at, window)
            rows = locked.rows()  # first: an error of the lock is raised as itself
            spend = spent.scalar()
    else:
        params = {"member_id": member_id, **window_bounds(data.occurred_at, window)}
        rows = _MEMBER_FOR_POSTING_WITH_SPEND.run(conn, params)
    if not rows:
        raise NotFound("MEMBER_NOT_FOUND", "member {member_id} does not exist", {"member_id": str(member_id)})
    # The member's columns, then PostgreSQL's reserved ids or SQLite's window spend.
    purchase_id = earning_ids = None
    if pg:
        state = MemberState._make(rows[0][:-_RESERVED])
        purchase_id, transfer, debit, credit, lot = rows[0][-_RESERVED:]
        if transfer is not None:
            postings = sorted((debit, credit))  # the debit leg takes the lower, as `db.rows.next_ids`
            earning_ids = {"transfers": [transfer], "postings": postings, "point_lots": [lot]}
    else:
        *columns, spend = rows[0]
        state = MemberState._make(columns)
    if state.status != "active":
        raise Conflict(
            "MEMBER_INACTIVE",
            "member {member_id} is not active ({member_status})",
            {"member_id": member_id, "member_status": state.status},
        )
    if catalogue.tiers(conn).is_top(state.tier_id):
        spend = None  # nowhere higher to go
    return _Posting(member_id, state, None if spend is None else int(spend), purchase_id, earning_ids)


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
    posting = None
    if not data.anonymous:  # an anonymous sale locks no account and has no member's tier
        earning = _earning_tiers(conn, catalogue, store, data, amounts) if is_postgres(conn) else []
        try:
            posting = _member_for_posting(conn, ctx, catalogue, data, prog.tier_window_days, earning)
        except (NotFound, Conflict):
            if look_up_order:
                raise
            # A till's retry of an order whose member has since been merged or deactivated replays the
            # order; only a new order gets the member error.
            return post_sale(conn, ctx, catalogue, data, look_up_order=True, record=record, actor=actor)
    member_id = None if posting is None else posting.member_id
    coupons = _coupons(conn, catalogue, store, data, amounts, posting)
    order = _order(data, store, coupons, amounts, posting)
    reads = catalogue_reads(conn, ctx, [store])
    now = ctx.now()
    # On PostgreSQL, with the rows' ids reserved, the writes (and the Idempotency-Key record) go out
    # in one round trip (two where the earning rows' ids are taken now); an error in any of them is
    # raised at the end of the block.
    with pipelined(conn):
        new_ids = None if posting is None else _reserved_ids(conn, posting)
        posted = post_orders(conn, ctx, [order], now, reads, request_hashes=[rhash], new_ids=new_ids)
        used = [UsedCoupon(**c.shown()) for c in coupons.applied]
        result = posted.answer(0, data, member_id, used)
        if not coupons.applied:
            _answered(conn, ctx, result, actor, record, now, if_absent=look_up_order)
    if coupons.applied:  # conditional updates, each waited for: after the pipeline, before the answer
        record_uses(conn, coupons, member_id, now, result.purchase_id)
        _answered(conn, ctx, result, actor, record, now, if_absent=look_up_order)
    return result


def _order(
    data: PurchaseIn, store: StoreInfo, coupons: CouponDiscounts, amounts: list[int], posting: _Posting | None
) -> Order:
    """The sale as the set-based routine posts it: each line's discount the till's and what the
    coupons took off it, its amount after both, its total the till's or its lines'."""
    if coupons.per_line:
        net = coupons.net(amounts)
        lines = [
            Line(ln.sku, ln.category, ln.brand, ln.quantity, ln.unit_price_minor, ln.discount_minor + c, a)
            for ln, a, c in zip(data.lines, net, coupons.per_line, strict=True)
        ]
    else:
        net = amounts
        lines = [
            Line(ln.sku, ln.category, ln.brand, ln.quantity, ln.unit_price_minor, ln.discount_minor, a)
            for ln, a in zip(data.lines, amounts, strict=True)
        ]
    return Order(
        store,
        data.order_id,
        epoch_us(data.occurred_at),
        data.channel,
        data.staff,
        data.currency or store.programme.currency,
        lines,
        data.total_minor if data.total_minor is not None else sum(net),
        None if posting is None else posting.member_id,
        None if posting is None else posting.state,
        None if posting is None else posting.spend_before,
    )


def _reserved_ids(conn: Connection, posting: _Posting) -> NewIds | None:
    """The ids of a sale's rows, those the member's read reserved (PostgreSQL; None: all taken as the
    routine asks, SQLite's); any other the routine wants taken now."""
    if posting.purchase_id is None:
        return None
    reserved = {"purchases": [posting.purchase_id], **(posting.earning_ids or {})}

    def new_ids(wanted: dict[str, int]) -> dict[str, list[int]]:
        taken = {table: reserved.get(table, [])[:n] for table, n in wanted.items()}
        missing = {table: n for table, n in wanted.items() if len(taken[table]) != n}
        return taken | next_id_lists(conn, missing)

    return new_ids


def _earning_tiers(
    conn: Connection, catalogue: Catalogue, store: StoreInfo, data: PurchaseIn, amounts: list[int]
) -> list[int]:
    """The tiers whose members earn by this sale (PostgreSQL reserves its earning rows' ids with the
    member's lock where theirs is one), by the programme's base rule (`few_orders.base_points`); none
    where the sale's coupons or promotions (priced after the lock) or the programme's earning rules
    decide what it earns: its ids are then taken once that is known."""
    prog = store.programme
    if data.coupon_codes or data.apply_promotions or catalogue.rule_book(conn).for_programmes({prog.id}):
        return []
    categories = [line.category for line in data.lines]
    return [
        tier.id
        for tier in catalogue.tiers(conn).ranked
        if base_points(prog, amounts, categories, tier.multiplier_pct) > 0
    ]


def _coupons(
    conn: Connection,
    catalogue: Catalogue,
    store: StoreInfo,
    data: PurchaseIn,
    amounts: Sequence[int],
    posting: _Posting | None,
) -> CouponDiscounts:
    """What the sale's coupon codes, and the promotions in force when it asks for them, take off its
    lines (`services.offers.checkout`), for its member at their tier (none: an anonymous sale)."""
    if not data.coupon_codes and not data.apply_promotions:
        return NO_COUPONS
    member_id = tier_code = None
    if posting is not None:
        member_id, tier_code = posting.member_id, catalogue.tiers(conn).by_id[posting.state.tier_id].code
    promotions = promotions_at(conn, store.programme.id, data.occurred_at) if data.apply_promotions else []
    cart = Cart.of(store.code, data.channel, tier_code, amounts, data.lines, promotions)
    return coupon_discounts(conn, data.coupon_codes, cart, member_id=member_id, at=data.occurred_at)


def _answered(
    conn: Connection,
    ctx: Context,
    result: PurchaseResult,
    actor: Actor | None,
    record: idempotency.Record | None,
    now: datetime,
    *,
    if_absent: bool,
) -> None:
    """What every posted sale leaves beside its rows, in its transaction: the audit entry and the
    Idempotency-Key's stored answer."""
    if actor is not None:
        audit.record(conn, actor, *audit.sale(result), at=now)
    if record is not None:
        record.save(conn, result, ctx.now(), if_absent=if_absent)
