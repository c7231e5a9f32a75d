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
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Connection, bindparam, case, insert, select, update
from sqlalchemy import Sequence as DbSequence

from loyalty.bootstrap import Context
from loyalty.db.core_tables import (
    accounts,
    members,
    point_lots,
    purchase_lines,
    purchases,
    tier_history,
    tiers,
)
from loyalty.db.prepared import Prepared, pipelined
from loyalty.db.rows import insert_few
from loyalty.domain.actors import Actor
from loyalty.domain.earning import ANONYMOUS_RULE, EarningRule, LineIn, line_eligible, lot_times
from loyalty.domain.errors import Conflict, IdempotencyMismatch, InvalidInput, NotFound, field_error
from loyalty.domain.programme.engine import Earned, Rule
from loyalty.domain.sale_limits import checked_amounts, refusal
from loyalty.domain.staff import MAX_STAFF_CODE, is_staff_code
from loyalty.domain.tiers import tier_for_spend
from loyalty.services import audit, idempotency
from loyalty.services.accounts import Credit, LockedAccount, credit_points
from loyalty.services.catalogue import Catalogue, StoreInfo, Tier
from loyalty.services.earning_rules.frames import PricedLine, earn_at_store, rule_entries
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
# Member status, tier and the locked account (FOR UPDATE OF accounts on PostgreSQL), with one more
# column by database:
_MEMBER_SELECT = (
    select(
        members.c.status,
        members.c.tier_id,
        accounts.c.id.label("account_id"),
        accounts.c.balance,
        accounts.c.debt,
        members.c.birthday,
    )
    .join(accounts, accounts.c.member_id == members.c.id)
    .where(members.c.id == bindparam("member_id"))
    .with_for_update(of=accounts)
)
# SQLite: the window spend, in the same statement (the transaction holds the database's write lock:
# nothing can change the spend before the sale is written).
_MEMBER_FOR_POSTING_WITH_SPEND = Prepared(_MEMBER_SELECT.add_columns(SPEND_IN_WINDOW.scalar_subquery()))
# PostgreSQL: the purchase's id, reserved (for an active member only, so that a refused sale burns
# none), so that its writes can be sent without waiting for the id to come back (`post_sale`).
_MEMBER_FOR_POSTING_RESERVING = Prepared(
    _MEMBER_SELECT.add_columns(
        case((members.c.status == "active", DbSequence("purchases_id_seq").next_value()), else_=None)
    )
)
_INSERT_PURCHASE = Prepared(insert(purchases).returning(purchases.c.id))
_INSERT_PURCHASE_WITH_ID = Prepared(insert(purchases))
_INSERT_LINES = Prepared(insert(purchase_lines))
_UPGRADE_MEMBER = Prepared(
    update(members)
    .where(members.c.id == bindparam("upgraded_member"))
    .values(tier_id=bindparam("to_tier"), tier_grace_until=None)
)
_INSERT_HISTORY = Prepared(insert(tier_history))


@dataclass(frozen=True)
class _Posting:
    """What the sale's first round trip learnt: the member, their locked account and window spend."""

    member_id: int
    tier_id: int
    account: LockedAccount
    spend_before: int | None  # net spend in the window before this sale; None: already at the top tier
    purchase_id: int | None  # reserved on PostgreSQL
    birthday: Any = None  # as the driver reads it (the earning rules may ask)


def _member_for_posting(
    conn: Connection, ctx: Context, catalogue: Catalogue, data: PurchaseIn, window: int
) -> _Posting:
    """Resolve the member the sale names, lock their account and read their window spend.

    On PostgreSQL the lock and the spend travel in one round trip (the spend is read after the lock is
    granted: the server runs them in order), with the purchase's id reserved; on SQLite they are one
    statement. Raises if the member is unknown or inactive.
    """
    if data.member_id is not None and data.phone is None and data.card_no is None:
        member_id = data.member_id  # the common POS case: no separate look-up round trip
    else:
        member_id = _named_member(conn, ctx, data)
    pg = conn.dialect.name == "postgresql"
    if pg:
        with pipelined(conn):
            locked = _MEMBER_FOR_POSTING_RESERVING.send(conn, {"member_id": member_id})
            spent = send_qualifying_spend(conn, member_id, data.occurred_at, window)
            rows = locked.rows()  # first: an error of the lock is raised as itself
            spend = spent.scalar()
    else:
        params = {"member_id": member_id, **window_bounds(data.occurred_at, window)}
        rows = _MEMBER_FOR_POSTING_WITH_SPEND.run(conn, params)
    if not rows:
        raise NotFound("MEMBER_NOT_FOUND", "member {member_id} does not exist", {"member_id": str(member_id)})
    # The member's columns, then PostgreSQL's reserved purchase id or SQLite's window spend.
    status, tier_id, account_id, balance, debt, birthday, extra = rows[0]
    purchase_id = extra if pg else None
    if not pg:
        spend = extra
    if status != "active":
        raise Conflict(
            "MEMBER_INACTIVE",
            "member {member_id} is not active ({member_status})",
            {"member_id": member_id, "member_status": status},
        )
    if catalogue.tiers(conn).is_top(tier_id):
        spend = None  # nowhere higher to go
    account = LockedAccount(account_id, member_id, balance, debt)
    return _Posting(member_id, tier_id, account, None if spend is None else int(spend), purchase_id, birthday)


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
    if data.anonymous:
        return _post_anonymous(
            conn, ctx, store, data, amounts, rhash, record, if_absent=look_up_order, actor=actor
        )
    try:
        posting = _member_for_posting(conn, ctx, catalogue, data, prog.tier_window_days)
    except (NotFound, Conflict):
        if look_up_order:
            raise
        # A till's retry of an order whose member has since been merged or deactivated replays the
        # order; only a new order gets the member error.
        return post_sale(conn, ctx, catalogue, data, look_up_order=True, record=record, actor=actor)
    member_id, account = posting.member_id, posting.account
    ladder = catalogue.tiers(conn)
    tier = ladder.by_id[posting.tier_id]
    rule = EarningRule(prog.points_per_unit, tier.multiplier_pct, prog.excluded_categories, tier.code)
    coupons = _coupons(conn, store, data, amounts, member_id, tier.code)
    amounts = coupons.net(amounts)
    line_in = [LineIn(a, ln.category) for a, ln in zip(amounts, data.lines, strict=True)]
    rules = catalogue.rule_book(conn).for_programmes({prog.id})
    earned = _earned_by_rules(conn, rules, store, data, amounts, tier, posting)
    line_points = [rule.line_points(li) for li in line_in] if earned is None else earned.line_points.tolist()
    eligible = sum(rule.eligible(li) for li in line_in)
    points = sum(line_points)
    total = data.total_minor if data.total_minor is not None else sum(amounts)
    # Upgrade at once when the window's spend with this sale reaches a higher tier (never downgrade here).
    spend = None if posting.spend_before is None else posting.spend_before + total
    target = None if spend is None else tier_for_spend(ladder.defs, spend)
    upgrade = target if target is not None and target.rank > tier.rank else None
    now = ctx.now()
    # On PostgreSQL, with the purchase's id reserved, the writes (and the Idempotency-Key record) go out
    # in two round trips, the first ending when the earning transfer's id comes back; an error in any of
    # them is raised there or at the end of the block.
    with pipelined(conn):
        tier_code = upgrade.code if upgrade else tier.code
        upgraded_to = upgrade.code if upgrade else None
        purchase = _purchase_row(
            data, prog.currency, member_id, total, eligible, points, rule.label, rhash, now
        ) | {"tier_code": tier_code, "upgraded_to": upgraded_to}
        if posting.purchase_id is None:
            pid = _INSERT_PURCHASE.scalar(conn, purchase)
        else:
            pid = posting.purchase_id
            _INSERT_PURCHASE_WITH_ID.send(conn, {"id": pid, **purchase})
        _INSERT_LINES.run_many(conn, _line_rows(pid, data, amounts, line_points, coupons.per_line))
        if earned is not None and len(earned.entry_line):
            n = len(amounts)
            line_nos = np.arange(1, n + 1, dtype=np.int64)
            insert_few(
                conn, "purchase_line_rules", rule_entries(earned, np.full(n, pid, dtype=np.int64), line_nos)
            )
        available_at, expires_at = earn_sale_points(
            conn,
            store,
            account,
            points=points,
            sold_at=data.occurred_at,
            at=now,
            rule=rule.label,
            purchase_id=pid,
            order_id=data.order_id,
        )
        if upgrade is not None:
            _UPGRADE_MEMBER.run(conn, {"upgraded_member": member_id, "to_tier": upgrade.id})
            _INSERT_HISTORY.run(
                conn,
                {
                    "member_id": member_id,
                    "from_tier_id": tier.id,
                    "to_tier_id": upgrade.id,
                    "reason": "upgrade",
                    "qualifying_minor": spend,
                    "at": now,
                },
            )
        lot = (available_at, expires_at)
        result = _sale_result(
            data, pid, total, member_id, points, rule.label, lot, tier_code, upgraded_to, coupons
        )
        if not coupons.applied:
            _answered(conn, ctx, result, actor, record, now, if_absent=look_up_order)
    if coupons.applied:  # conditional updates, each waited for: after the pipeline, before the answer
        record_uses(conn, coupons, member_id, now, pid)
        _answered(conn, ctx, result, actor, record, now, if_absent=look_up_order)
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


def _earned_by_rules(
    conn: Connection,
    rules: Sequence[Rule],
    store: StoreInfo,
    data: PurchaseIn,
    amounts: Sequence[int],
    tier: Tier,
    posting: _Posting,
) -> Earned | None:
    """The sale's points by the programme's earning rules, their limits taken in this transaction
    (None: the programme has no rule at any time, so the base rule alone earns, as `EarningRule`)."""
    if not rules:
        return None
    lines = [PricedLine(a, ln.category, ln.sku, ln.brand) for a, ln in zip(amounts, data.lines, strict=True)]
    return earn_at_store(
        rules,
        store,
        tier,
        data.occurred_at,
        data.channel,
        lines,
        birthday=posting.birthday,
        member_id=posting.member_id,
        limits=conn,
    )


def _sale_result(
    data: PurchaseIn,
    purchase_id: int,
    total: int,
    member_id: int | None = None,
    points: int = 0,
    rule: str = ANONYMOUS_RULE,
    lot: tuple[datetime | None, datetime | None] = (None, None),
    tier_code: str | None = None,
    upgraded_to: str | None = None,
    coupons: CouponDiscounts = NO_COUPONS,
) -> PurchaseResult:
    """What posting a sale answers (the defaults: an anonymous sale's, which earned nothing)."""
    return PurchaseResult(
        purchase_id=purchase_id,
        store_id=data.store_id,
        order_id=data.order_id,
        member_id=member_id,
        total_minor=total,
        points_earned=points,
        rule=rule,
        available_at=lot[0],
        expires_at=lot[1],
        tier_code=tier_code,
        upgraded_to=upgraded_to,
        channel=data.channel,
        coupons=[UsedCoupon(**c.shown()) for c in coupons.applied],
        staff=data.staff,
    )


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


def _purchase_row(
    data: PurchaseIn,
    currency: str,
    member_id: int | None,
    total: int,
    eligible: int,
    points: int,
    rule: str,
    rhash: str,
    now: datetime,
) -> dict[str, Any]:
    """The purchase row of a sale posted live (a member's or an anonymous one), less the member's
    tier (`tier_code`, `upgraded_to`), which the caller adds."""
    return {
        "store_id": data.store_id,
        "member_id": member_id,
        "order_id": data.order_id,
        "occurred_at": data.occurred_at,
        "total_minor": total,
        "eligible_minor": eligible,
        "refunded_minor": 0,
        "currency": data.currency or currency,
        "points_earned": points,
        "points_reversed": 0,
        "redeemed_points": 0,
        "rule": rule,
        "request_hash": rhash,
        "created_at": now,
        "channel": data.channel,
        "staff": data.staff,
    }


def _line_rows(
    pid: int,
    data: PurchaseIn,
    amounts: Sequence[int],
    points: Sequence[int],
    coupon_off: Sequence[int] = (),
) -> list[dict[str, Any]]:
    """The sale's lines as rows of purchase `pid`, numbered from 1, with what each earned; a line's
    discount is the till's plus what the sale's coupons took off it (`coupon_off`)."""
    off = list(coupon_off) or [0] * len(amounts)
    return [
        {
            "purchase_id": pid,
            "line_no": i + 1,
            "sku": ln.sku,
            "category": ln.category,
            "brand": ln.brand,
            "quantity": ln.quantity,
            "unit_price_minor": ln.unit_price_minor,
            "discount_minor": ln.discount_minor + c,
            "amount_minor": a,
            "points": p,
            "returned_quantity": 0,
        }
        for i, (ln, a, p, c) in enumerate(zip(data.lines, amounts, points, off, strict=True))
    ]


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


def _post_anonymous(
    conn: Connection,
    ctx: Context,
    store: StoreInfo,
    data: PurchaseIn,
    amounts: list[int],
    rhash: str,
    record: idempotency.Record | None,
    *,
    if_absent: bool,
    actor: Actor | None,
) -> PurchaseResult:
    """An anonymous sale: its purchase and lines only (and its audit row). No member, no account lock,
    no window spend, no ledger transfer and no tier effect; its lines earn 0 points until a member
    claims it.

    Its eligible spend is kept by the programme's exclusions, as for any sale. On PostgreSQL it waits
    twice (for the purchase's id, then for the lines and the key) before the commit.
    """
    prog = store.programme
    coupons = _coupons(conn, store, data, amounts, None, None)
    amounts = coupons.net(amounts)
    excluded = prog.excluded_categories
    eligible = sum(
        line_eligible(a, ln.category is not None and ln.category in excluded)
        for a, ln in zip(amounts, data.lines, strict=True)
    )
    total = data.total_minor if data.total_minor is not None else sum(amounts)
    now = ctx.now()
    with pipelined(conn):
        row = _purchase_row(data, prog.currency, None, total, eligible, 0, ANONYMOUS_RULE, rhash, now)
        row |= {"tier_code": None, "upgraded_to": None}
        pid = _INSERT_PURCHASE.scalar(conn, row)
        _INSERT_LINES.run_many(conn, _line_rows(pid, data, amounts, [0] * len(amounts), coupons.per_line))
        result = _sale_result(data, pid, total, coupons=coupons)
        if not coupons.applied:
            _answered(conn, ctx, result, actor, record, now, if_absent=if_absent)
    if coupons.applied:
        record_uses(conn, coupons, None, now, pid)
        _answered(conn, ctx, result, actor, record, now, if_absent=if_absent)
    return result
