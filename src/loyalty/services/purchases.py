"""Purchases and returns posted from a POS.

A purchase is idempotent on (store_id, order_id): the same body replays the first result, another
body is an `IdempotencyMismatch`. Earned points become a lot (pending for the return window, expiring
after `expiry_days`) after paying any debt first; the earning transfer records the rule that produced
it. A return reverses per line or in proportion, consuming the original lot first, then other lots
soonest-expiring first, and turns any shortfall into debt — never a silently skipped reversal.

A sale that names no member is an anonymous sale: only its purchase and lines are written (no account
lock, no ledger, no tier), at about half a member sale's cost; a member may claim it later with the
receipt (`purchase_claims`). Every sale records its channel (`domain.channels`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import Connection, bindparam, case, insert, select, update
from sqlalchemy import Sequence as DbSequence
from sqlalchemy.exc import DBAPIError, IntegrityError

from loyalty.bootstrap import Context
from loyalty.db.core_tables import (
    accounts,
    lot_allocations,
    members,
    point_lots,
    purchase_lines,
    purchases,
    returns,
    tier_history,
    tiers,
)
from loyalty.db.prepared import Prepared, pipelined, savepoint
from loyalty.domain import cursors
from loyalty.domain.actors import SYSTEM, Actor
from loyalty.domain.channels import CHANNELS
from loyalty.domain.earning import EarningRule, LineIn, cumulative_share, line_eligible, lot_times
from loyalty.domain.errors import Conflict, IdempotencyMismatch, InvalidInput, NotFound, field_error
from loyalty.domain.ledger import Lot, allocate_fefo
from loyalty.domain.sale_limits import MAX_SALE_MINOR
from loyalty.domain.tiers import TierDef, tier_for_spend
from loyalty.services import audit, idempotency
from loyalty.services.common import (
    ANONYMOUS_RULE,
    LockedAccount,
    StoreInfo,
    credit_lot,
    lock_member_account,
    model_hash,
    post_transfer,
    qualifying_spend,
    read,
    request_hash,
    send_qualifying_spend,
    set_account,
    store_info,
)
from loyalty.services.intake import currency_mismatch
from loyalty.services.members import resolve_member_id
from loyalty.services.schemas import (
    PurchaseIn,
    PurchaseListing,
    PurchaseResult,
    PurchaseSummary,
    ReturnIn,
    ReturnResult,
)

T = TypeVar("T")


def _validate(data: PurchaseIn) -> list[int]:
    errors: list[dict[str, str]] = []
    amounts: list[int] = []
    if not data.order_id.strip():
        errors.append({"field": "order_id", "message": "order id must not be empty"})
    if data.occurred_at.tzinfo is None:
        errors.append({"field": "occurred_at", "message": "time must carry a timezone"})
    if not data.lines:
        errors.append({"field": "lines", "message": "a purchase needs at least one line"})
    # Fields as the API and the docs name them (`lines.0.discount`), not as the columns are (`*_minor`).
    for i, line in enumerate(data.lines):
        if line.quantity <= 0:
            errors.append({"field": f"lines.{i}.quantity", "message": "quantity must be positive"})
        if line.unit_price_minor < 0:
            errors.append({"field": f"lines.{i}.unit_price", "message": "price must not be negative"})
        if line.discount_minor < 0:
            errors.append({"field": f"lines.{i}.discount", "message": "discount must not be negative"})
        amount = line.quantity * line.unit_price_minor - line.discount_minor
        if amount < 0:
            errors.append({"field": f"lines.{i}.discount", "message": "discount exceeds line amount"})
        amounts.append(amount)
    if data.total_minor is not None and data.total_minor < 0:
        errors.append({"field": "total", "message": "total must not be negative"})
    if sum(amounts) > MAX_SALE_MINOR:  # `domain.sale_limits`: it would not fit the ledger's columns
        errors.append({"field": "lines", "message": "the lines add up to more than a sale may be"})
    if errors:
        code = "QUANTITY_INVALID" if any("quantity" in e["field"] for e in errors) else "PURCHASE_INVALID"
        raise InvalidInput(code, errors[0]["message"], {"errors": errors})
    return amounts


def _result_from_row(conn: Connection, row: Any, replayed: bool) -> PurchaseResult:
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
    )


class _Cache:
    """Store and tier lookups shared through `ctx.cache`, so the hot path does not re-read them."""

    def __init__(self, conn: Connection, ctx: Context | None = None) -> None:
        self.conn = conn
        shared: dict[str, Any] = ctx.cache if ctx is not None else {}
        self.stores: dict[int, StoreInfo] = shared.setdefault("stores", {})
        if "tiers" not in shared:
            rows = conn.execute(select(tiers).order_by(tiers.c.rank)).all()
            shared["tiers"] = (
                {r.id: r for r in rows},
                [TierDef(r.id, r.code, r.rank, r.threshold_minor) for r in rows],
            )
        self.tiers, self.tier_defs = shared["tiers"]

    def store(self, store_id: int) -> StoreInfo:
        if store_id not in self.stores:
            self.stores[store_id] = store_info(self.conn, store_id)
        return self.stores[store_id]


def cache_settings(conn: Connection, ctx: Context, store_ids: Sequence[int]) -> None:
    """Load the tiers' and these stores' settings into `ctx.cache` where they are not yet (unknown
    stores are left out: posting to one gets its proper error).

    A posting that runs in a pipeline (`api.sale_batches`) calls this first: SQLAlchemy's own
    statements cannot read their rows there.
    """
    cache = _Cache(conn, ctx)
    for store_id in store_ids:
        with suppress(NotFound):
            cache.store(store_id)


# The posting path's statements run on the driver (see `db.prepared`): compiled once, not per sale.
_PURCHASE_BY_ORDER = Prepared(
    select(purchases.c.id, purchases.c.request_hash).where(
        purchases.c.store_id == bindparam("store_id"), purchases.c.order_id == bindparam("order_id")
    )
)
# Member status, tier and the locked account in one round trip (FOR UPDATE OF accounts on PostgreSQL).
_MEMBER_FOR_POSTING = Prepared(
    select(
        members.c.status,
        members.c.tier_id,
        accounts.c.id.label("account_id"),
        accounts.c.balance,
        accounts.c.debt,
    )
    .join(accounts, accounts.c.member_id == members.c.id)
    .where(members.c.id == bindparam("member_id"))
    .with_for_update(of=accounts)
)
# PostgreSQL: the same, reserving the purchase's id (for an active member only, so that a refused sale
# burns none), so that its writes can be sent without waiting for the id to come back (`_post_one`).
_MEMBER_FOR_POSTING_RESERVING = Prepared(
    _MEMBER_FOR_POSTING.statement.add_columns(  # type: ignore[attr-defined]
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


def _member_for_posting(
    conn: Connection, ctx: Context, cache: _Cache, data: PurchaseIn, window: int
) -> _Posting:
    """Resolve the member the sale names, lock their account and read their window spend.

    On PostgreSQL the lock and the spend travel in one round trip (the spend is read after the lock is
    granted: the server runs them in order), with the purchase's id reserved. Raises if the member is
    unknown or inactive.
    """
    if data.member_id is not None and data.phone is None and data.card_no is None:
        member_id = data.member_id  # the common POS case: no separate look-up round trip
    else:
        member_id = _named_member(conn, ctx, data)
    spend = None
    if conn.dialect.name == "postgresql":
        with pipelined(conn):
            locked = _MEMBER_FOR_POSTING_RESERVING.send(conn, {"member_id": member_id})
            spent = send_qualifying_spend(conn, member_id, data.occurred_at, window)
            rows = locked.rows()  # first: an error of the lock is raised as itself
            spend = spent.scalar()
    else:  # SQLite has no round trips to save: the spend is read only if the member can go higher
        rows = _MEMBER_FOR_POSTING.run(conn, {"member_id": member_id})
    if not rows:
        raise NotFound("MEMBER_NOT_FOUND", "member {member_id} does not exist", {"member_id": str(member_id)})
    status, tier_id, account_id, balance, debt, *reserved = rows[0]
    if status != "active":
        raise Conflict(
            "MEMBER_INACTIVE",
            "member {member_id} is not active ({member_status})",
            {"member_id": member_id, "member_status": status},
        )
    if cache.tiers[tier_id].rank >= cache.tier_defs[-1].rank:
        spend = None  # nowhere higher to go
    elif spend is None:
        spend = qualifying_spend(conn, member_id, data.occurred_at, window)
    purchase_id = reserved[0] if reserved else None
    account = LockedAccount(account_id, member_id, balance, debt)
    return _Posting(member_id, tier_id, account, None if spend is None else int(spend), purchase_id)


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
    and the same total and currency where the request states them.
    """
    row = conn.execute(
        select(
            purchases.c.member_id,
            purchases.c.occurred_at,
            purchases.c.total_minor,
            purchases.c.currency,
            purchases.c.channel,
            purchases.c.claimed_at,
        ).where(purchases.c.id == purchase_id)
    ).one()
    if data.occurred_at != row.occurred_at or data.channel != row.channel:
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
        )
        .where(purchase_lines.c.purchase_id == purchase_id)
        .order_by(purchase_lines.c.line_no)
    ).all()
    sent = [(ln.sku, ln.category, ln.quantity, ln.unit_price_minor, ln.discount_minor) for ln in data.lines]
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


def _post_one(
    conn: Connection,
    ctx: Context,
    cache: _Cache,
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
        replayed = _result_from_row(conn, row, replayed=True)
        if record is not None:
            record.save(conn, replayed, ctx.now(), if_absent=look_up_order)
        return replayed
    store = cache.store(data.store_id)
    prog = store.programme
    if data.currency is not None and data.currency != prog.currency:  # never earn on another currency
        raise currency_mismatch("currency", data.currency, prog.currency)
    if data.anonymous:
        return _post_anonymous(
            conn, ctx, store, data, amounts, rhash, record, if_absent=look_up_order, actor=actor
        )
    try:
        posting = _member_for_posting(conn, ctx, cache, data, prog.tier_window_days)
    except (NotFound, Conflict):
        if look_up_order:
            raise
        # A till's retry of an order whose member has since been merged or deactivated replays the
        # order; only a new order gets the member error.
        return _post_one(conn, ctx, cache, data, look_up_order=True, record=record, actor=actor)
    member_id, account = posting.member_id, posting.account
    tier = cache.tiers[posting.tier_id]
    rule = EarningRule(prog.points_per_unit, tier.multiplier_pct, prog.excluded_categories, tier.code)
    line_in = [LineIn(a, ln.category) for a, ln in zip(amounts, data.lines, strict=True)]
    line_points = [rule.line_points(li) for li in line_in]
    eligible = sum(rule.eligible(li) for li in line_in)
    points = sum(line_points)
    total = data.total_minor if data.total_minor is not None else sum(amounts)
    # Upgrade at once when the window's spend with this sale reaches a higher tier (never downgrade here).
    spend = None if posting.spend_before is None else posting.spend_before + total
    target = None if spend is None else tier_for_spend(cache.tier_defs, spend)
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
        _INSERT_LINES.run_many(conn, _line_rows(pid, data, amounts, line_points))
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
        result = PurchaseResult(
            purchase_id=pid,
            store_id=data.store_id,
            order_id=data.order_id,
            member_id=member_id,
            total_minor=total,
            points_earned=points,
            rule=rule.label,
            available_at=available_at,
            expires_at=expires_at,
            tier_code=tier_code,
            upgraded_to=upgraded_to,
            channel=data.channel,
        )
        _answered(conn, ctx, result, actor, record, now, if_absent=look_up_order)
    return result


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
    }


def _line_rows(
    pid: int, data: PurchaseIn, amounts: Sequence[int], points: Sequence[int]
) -> list[dict[str, Any]]:
    """The sale's lines as rows of purchase `pid`, numbered from 1, with what each earned."""
    return [
        {
            "purchase_id": pid,
            "line_no": i + 1,
            "sku": ln.sku,
            "category": ln.category,
            "quantity": ln.quantity,
            "unit_price_minor": ln.unit_price_minor,
            "discount_minor": ln.discount_minor,
            "amount_minor": a,
            "points": p,
            "returned_quantity": 0,
        }
        for i, (ln, a, p) in enumerate(zip(data.lines, amounts, points, strict=True))
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
    tid = post_transfer(
        conn,
        kind="earn",
        debit_account_id=store.liability_account_id,
        credit_account_id=account.id,
        amount=points,
        at=at,
        rule=rule,
        member_id=account.member_id,
        purchase_id=purchase_id,
        store_id=store.id,
        order_id=order_id,
        **extra,
    )
    credit_lot(
        conn,
        account,
        merchant_id=store.merchant_id,
        transfer_id=tid,
        points=points,
        available_at=available_at,
        expires_at=expires_at,
        at=at,
        purchase_id=purchase_id,
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
        _INSERT_LINES.run_many(conn, _line_rows(pid, data, amounts, [0] * len(amounts)))
        result = PurchaseResult(
            purchase_id=pid,
            store_id=data.store_id,
            order_id=data.order_id,
            member_id=None,
            total_minor=total,
            points_earned=0,
            rule=ANONYMOUS_RULE,
            available_at=None,
            expires_at=None,
            tier_code=None,
            channel=data.channel,
        )
        _answered(conn, ctx, result, actor, record, now, if_absent=if_absent)
    return result


def post_purchase(
    ctx: Context,
    data: PurchaseIn,
    *,
    actor: Actor | None = None,
    record: idempotency.Record | None = None,
) -> PurchaseResult:
    """Post one POS sale: earn points, upgrade the tier at once if the window now qualifies.

    With ``record`` the caller's Idempotency-Key and response are stored in the same transaction, as
    the audit row (`actor`'s; the system's when None).
    """
    who = actor or SYSTEM
    return in_sale_transaction(
        ctx,
        lambda conn, first_try: post_purchase_once(
            conn, ctx, data, record=record, first_try=first_try, actor=who
        ),
    )


def in_sale_transaction(ctx: Context, attempt: Callable[[Connection, bool], T]) -> T:
    """`attempt(conn, first_try)` in a transaction of its own; after a UNIQUE violation or a lost
    connection, once more.

    The order (or return) was posted before (a till's retry), or a concurrent post of the same one
    (or with the same key) won the UNIQUE race: the second attempt, in a fresh transaction, replays
    its result (or finds the mismatch), keeping its key. The database server went away (a restart, a
    failover): the pool's other connections are as dead as this one, so the pool is replaced, and the
    second attempt looks the order up first, for the first may have committed before its answer was
    lost.
    """
    try:
        with ctx.engine.begin() as conn:
            return attempt(conn, True)
    except IntegrityError:
        pass
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        ctx.engine.dispose()
    with ctx.engine.begin() as conn:
        return attempt(conn, False)


def post_purchase_once(
    conn: Connection,
    ctx: Context,
    data: PurchaseIn,
    *,
    record: idempotency.Record | None = None,
    first_try: bool,
    actor: Actor = SYSTEM,
) -> PurchaseResult:
    """One attempt of :func:`post_purchase` in the caller's transaction (see `in_sale_transaction`).

    For a caller that does more in the sale's transaction, such as the API looking its
    Idempotency-Key up there instead of in a transaction of its own.
    """
    cache = _Cache(conn, ctx)
    return _post_one(conn, ctx, cache, data, look_up_order=not first_try, record=record, actor=actor)


def post_purchase_in(
    conn: Connection,
    ctx: Context,
    data: PurchaseIn,
    *,
    record: idempotency.Record | None = None,
    actor: Actor = SYSTEM,
) -> PurchaseResult:
    """:func:`post_purchase` inside the caller's transaction, for a caller that writes many sales in one.

    The sale runs in a savepoint of its own, so a failure undoes only its own writes, and a repeated
    order (the UNIQUE race) is retried in a fresh savepoint as a replay, as `post_purchase` retries in
    a fresh transaction. Used by the API's group commit on SQLite (`loyalty.api.group_commit`), where
    the audit rows of the transaction's sales are written together (`audit.deferred`).
    """
    cache = _Cache(conn, ctx)
    try:
        with savepoint(conn), audit.undone_with(conn):
            return _post_one(conn, ctx, cache, data, look_up_order=False, record=record, actor=actor)
    except IntegrityError:
        with savepoint(conn), audit.undone_with(conn):
            return _post_one(conn, ctx, cache, data, look_up_order=True, record=record, actor=actor)


def post_purchases(
    ctx: Context, items: Sequence[PurchaseIn], *, actor: Actor = SYSTEM
) -> list[PurchaseResult]:
    """Post many purchases in ONE transaction with the same earning code (bulk import, replays), each
    audited as `actor`'s.

    All or nothing: a bad item raises and none of the batch is written, so a re-run converges. The
    audit rows are written together at the end (`audit.deferred`).
    """
    with ctx.engine.begin() as conn, audit.deferred(conn):
        cache = _Cache(conn, ctx)
        return [_post_one(conn, ctx, cache, item, actor=actor) for item in items]


def get_purchase(
    ctx: Context, purchase_id: int | None = None, *, store_id: int | None = None, order_id: str | None = None
) -> PurchaseResult:
    """A posted purchase by id or by (store_id, order_id)."""
    with read(ctx) as conn:
        stmt = select(purchases)
        if purchase_id is not None:
            stmt = stmt.where(purchases.c.id == purchase_id)
        else:
            stmt = stmt.where(purchases.c.store_id == store_id, purchases.c.order_id == order_id)
        row = conn.execute(stmt).first()
        if row is None:
            raise NotFound(
                "ORDER_NOT_FOUND", "no such purchase", {"purchase_id": purchase_id, "order_id": order_id}
            )
        return _result_from_row(conn, row, replayed=False)


#: a sale as listings show it: the chain's (`list_purchases`) and a member's (`purchase_history`)
SALE_COLUMNS = (
    purchases.c.id,
    purchases.c.store_id,
    purchases.c.order_id,
    purchases.c.member_id,
    purchases.c.channel,
    purchases.c.occurred_at,
    purchases.c.currency,
    purchases.c.total_minor,
    purchases.c.refunded_minor,
    purchases.c.points_earned,
    purchases.c.points_reversed,
    purchases.c.claimed_at,
)

#: the most sales one page of `list_purchases` holds
MAX_PAGE = 200


def list_purchases(
    ctx: Context,
    *,
    store_ids: Sequence[int] | None = None,
    member_id: int | None = None,
    channel: str | None = None,
    anonymous: bool | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> PurchaseListing:
    """The chain's sales, newest posted first, anonymous ones included: at `store_ids` (None: every
    store), of one member, in one channel, only anonymous (`anonymous=True`) or only members' (False),
    made in [since, until). Keyset-paginated on the id, so any page costs the same.

    For the back office and reports; a member's own history is `purchase_history.member_purchases`.
    """
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput.field(
            "limit", "limit must be between 1 and {max}", "FILTER_INVALID", {"max": MAX_PAGE}
        )
    if channel is not None and channel not in CHANNELS:
        raise InvalidInput.field(
            "channel",
            "unknown channel {channel}; expected one of {channels}",
            "FILTER_INVALID",
            {"channel": channel, "channels": ", ".join(CHANNELS)},
        )
    stmt = select(*SALE_COLUMNS)
    before = cursors.before_id(cursor)
    if before is not None:
        stmt = stmt.where(purchases.c.id < before)
    if store_ids is not None:
        stmt = stmt.where(purchases.c.store_id.in_(list(store_ids)))
    if member_id is not None:
        stmt = stmt.where(purchases.c.member_id == member_id)
    if channel is not None:
        stmt = stmt.where(purchases.c.channel == channel)
    if anonymous is not None:
        stmt = stmt.where(
            purchases.c.member_id.is_(None) if anonymous else purchases.c.member_id.is_not(None)
        )
    if since is not None:
        stmt = stmt.where(purchases.c.occurred_at >= since)
    if until is not None:
        stmt = stmt.where(purchases.c.occurred_at < until)
    with read(ctx) as conn:
        rows = conn.execute(stmt.order_by(purchases.c.id.desc()).limit(limit + 1)).all()
    items = [PurchaseSummary.model_validate(r._asdict()) for r in rows[:limit]]
    more = len(rows) > limit and items
    return PurchaseListing(items=items, next_cursor=cursors.id_cursor(items[-1].id) if more else None)


def reverse_points(
    conn: Connection, *, account: Any, amount: int, first_lot_ids: Sequence[int], transfer_id: int
) -> int:
    """Take `amount` points back from a member: named lots first, then FEFO; return the debt created."""
    if amount <= 0:
        return 0
    live = (
        select(point_lots.c.id, point_lots.c.remaining)
        .where(point_lots.c.account_id == account.id, point_lots.c.remaining > 0)
        .order_by(point_lots.c.expires_at, point_lots.c.id)
    )
    named = set(first_lot_ids)
    first = [Lot(r.id, r.remaining) for r in conn.execute(live.where(point_lots.c.id.in_(named)))]
    rest: list[Lot] = []
    if sum(lot.remaining for lot in first) < amount:
        # Only when the order's own lots fall short: a loyal member holds hundreds of live lots.
        rest = [Lot(r.id, r.remaining) for r in conn.execute(live) if r.id not in named]
    allocs, shortfall = allocate_fefo(first + rest, amount)
    _apply_allocations(conn, allocs, transfer_id)
    account.balance -= amount
    account.debt += shortfall
    set_account(conn, account)
    return shortfall


def _apply_allocations(conn: Connection, allocs: Sequence[tuple[int, int]], transfer_id: int) -> None:
    if not allocs:
        return
    conn.execute(
        insert(lot_allocations),
        [{"lot_id": lid, "transfer_id": transfer_id, "amount": a} for lid, a in allocs],
    )
    for lid, a in allocs:
        conn.execute(
            update(point_lots).where(point_lots.c.id == lid).values(remaining=point_lots.c.remaining - a)
        )


class _LineSold(NamedTuple):
    line_no: int
    quantity: int
    returned_quantity: int
    points: int
    amount_minor: int


class _LotOfSale(NamedTuple):
    transfer_id: int
    id: int


class _Sold(NamedTuple):
    """What a return reads of its sale."""

    id: int
    member_id: int | None
    total_minor: int
    refunded_minor: int
    points_earned: int
    points_reversed: int
    rule: str
    currency: str


# A return's statements, compiled once: an import posts thousands of returns, each a dozen statements,
# and through SQLAlchemy's execution each cost several times what the database spent on it.
_RETURN_BY_ID = Prepared(
    select(
        returns.c.id,
        returns.c.purchase_id,
        returns.c.refund_minor,
        returns.c.points_reversed,
        returns.c.debt_created,
        returns.c.request_hash,
    ).where(returns.c.store_id == bindparam("store_id"), returns.c.return_id == bindparam("return_id"))
)
_SOLD = select(*(purchases.c[name] for name in _Sold._fields))
_SOLD_BY_ORDER = Prepared(
    _SOLD.where(purchases.c.store_id == bindparam("store_id"), purchases.c.order_id == bindparam("order_id"))
)
_SOLD_BY_ID = Prepared(_SOLD.where(purchases.c.id == bindparam("sale_id")))
_SOLD_BY_ID_LOCKED = Prepared(_SOLD.where(purchases.c.id == bindparam("sale_id")).with_for_update())
_LINES_SOLD = Prepared(
    select(
        purchase_lines.c.line_no,
        purchase_lines.c.quantity,
        purchase_lines.c.returned_quantity,
        purchase_lines.c.points,
        purchase_lines.c.amount_minor,
    ).where(purchase_lines.c.purchase_id == bindparam("sale_id"))
)
_SET_RETURNED = Prepared(
    update(purchase_lines)
    .where(
        purchase_lines.c.purchase_id == bindparam("sale_id"), purchase_lines.c.line_no == bindparam("line")
    )
    .values(returned_quantity=bindparam("after"))
)
_INSERT_RETURN = Prepared(insert(returns).returning(returns.c.id))
_LOTS_OF_SALE = Prepared(
    select(point_lots.c.transfer_id, point_lots.c.id).where(point_lots.c.purchase_id == bindparam("sale_id"))
)
_SET_RETURN_DEBT = Prepared(
    update(returns).where(returns.c.id == bindparam("return_row")).values(debt_created=bindparam("debt"))
)
_SET_REFUNDED = Prepared(
    update(purchases)
    .where(purchases.c.id == bindparam("sale_id"))
    .values(refunded_minor=bindparam("refunded"), points_reversed=bindparam("reversed"))
)


def post_return(ctx: Context, data: ReturnIn, *, actor: Actor | None = None) -> ReturnResult:
    """Reverse the points of (part of) an earlier order; idempotent on (store_id, return_id).

    Audited as `actor`'s (the system's when None) in the same transaction. A concurrent post of the
    same return (a till's retry racing its first try) loses the UNIQUE race and, in a fresh
    transaction, replays the winner's result (`in_sale_transaction`).
    """
    who = actor or SYSTEM
    return in_sale_transaction(
        ctx, lambda conn, _first_try: post_return_in(conn, ctx, _Cache(conn, ctx), data, actor=who)
    )


def post_return_in(
    conn: Connection, ctx: Context, cache: _Cache, data: ReturnIn, *, actor: Actor | None = None
) -> ReturnResult:
    """`post_return` inside the caller's transaction (the import posts a batch of returns in one).

    A new return is audited as `actor`'s; None: the caller audits the batch it belongs to (an import).
    """
    if data.lines is not None and data.refund_minor is not None:  # which one was meant is unknowable
        raise InvalidInput(
            "REFUND_INVALID",
            "give lines or a refund, not both",
            {
                "errors": [
                    field_error("lines", "give lines or a refund, not both"),
                    field_error("refund", "give lines or a refund, not both"),
                ]
            },
        )
    rhash = request_hash(data.model_dump(mode="json"))
    found = _RETURN_BY_ID.run(conn, {"store_id": data.store_id, "return_id": data.return_id})
    if found:
        existing_id, purchase_id, refund_minor, points_reversed, debt_created, existing_hash = found[0]
        if existing_hash != rhash:
            raise IdempotencyMismatch(
                "RETURN_ID_REUSED",
                "return {return_id} was already posted with different content",
                {"return_id": data.return_id, "store_id": data.store_id},
            )
        return ReturnResult(
            return_row_id=existing_id,
            purchase_id=purchase_id,
            refund_minor=refund_minor,
            points_reversed=points_reversed,
            debt_created=debt_created,
            replayed=True,
        )
    store = cache.store(data.store_id)
    orig_store = data.original_store_id or data.store_id
    sold = _SOLD_BY_ORDER.run(conn, {"store_id": orig_store, "order_id": data.order_id})
    if not sold:
        raise NotFound(
            "ORDER_NOT_FOUND",
            "order {order_id} was never posted at store {store_id}",
            {"order_id": data.order_id, "store_id": orig_store},
        )
    p = _Sold(*sold[0])
    account = None
    if p.member_id is None and conn.dialect.name == "postgresql":
        # An anonymous sale has no account to lock: its own row is locked instead, as a claim does first,
        # so a return and a claim of one sale never interleave (after a claim, it is a member's sale).
        # SQLite's transaction already holds the write lock.
        p = _Sold(*_SOLD_BY_ID_LOCKED.run(conn, {"sale_id": p.id})[0])
    if p.member_id is not None:
        account = lock_member_account(conn, p.member_id)
        p = _Sold(*_SOLD_BY_ID.run(conn, {"sale_id": p.id})[0])  # re-read under the lock
    lines = {r[0]: _LineSold(*r) for r in _LINES_SOLD.run(conn, {"sale_id": p.id})}
    reversed_pts = 0
    if data.lines:
        refund = 0
        seen: set[int] = set()
        for rl in data.lines:
            line = lines.get(rl.line_no)
            if line is None or rl.line_no in seen:
                raise InvalidInput.field(
                    "lines",
                    "line {line_no} is not on order {order_id}",
                    "RETURN_LINE_UNKNOWN",
                    {"line_no": rl.line_no, "order_id": data.order_id},
                )
            seen.add(rl.line_no)
            if rl.quantity <= 0:
                raise InvalidInput.field("lines", "returned quantity must be positive", "QUANTITY_INVALID")
            after = line.returned_quantity + rl.quantity
            if after > line.quantity:
                raise InvalidInput.field(
                    "lines",
                    "line {line_no}: returning {returned} of {quantity}",
                    "RETURN_EXCEEDS_SALE",
                    {"line_no": rl.line_no, "returned": after, "quantity": line.quantity},
                )
            reversed_pts += cumulative_share(line.points, line.returned_quantity, after, line.quantity)
            refund += cumulative_share(line.amount_minor, line.returned_quantity, after, line.quantity)
            _SET_RETURNED.run(conn, {"sale_id": p.id, "line": rl.line_no, "after": after})
        refund = min(refund, p.total_minor - p.refunded_minor)
    else:
        if data.refund_minor is None or data.refund_minor <= 0:
            raise InvalidInput.field("refund", "give lines or a positive refund amount", "REFUND_INVALID")
        refund = data.refund_minor
        if p.refunded_minor + refund > p.total_minor:
            from loyalty.i18n.formats import Amount

            left = p.total_minor - p.refunded_minor
            raise InvalidInput.field(
                "refund",
                "refund {refund} exceeds what is left of the sale ({left})",
                "RETURN_EXCEEDS_SALE",
                {"refund": Amount(refund, p.currency), "left": Amount(left, p.currency)},
            )
        reversed_pts = cumulative_share(
            p.points_earned, p.refunded_minor, p.refunded_minor + refund, p.total_minor
        )
    reversed_pts = min(reversed_pts, p.points_earned - p.points_reversed)
    now = ctx.now()
    rid = _INSERT_RETURN.scalar(
        conn,
        {
            "purchase_id": p.id,
            "store_id": data.store_id,
            "return_id": data.return_id,
            "occurred_at": data.occurred_at,
            "refund_minor": refund,
            "points_reversed": reversed_pts,
            "debt_created": 0,
            "lines": [rl.model_dump() for rl in data.lines] if data.lines else None,
            "request_hash": rhash,
            "created_at": now,
        },
    )
    debt = 0
    if reversed_pts > 0:  # only a member's sale earned anything (an anonymous one's lines hold 0 points)
        assert account is not None
        earn_tid = [_LotOfSale(*r) for r in _LOTS_OF_SALE.run(conn, {"sale_id": p.id})]
        tid = post_transfer(
            conn,
            kind="return",
            debit_account_id=account.id,
            credit_account_id=store.liability_account_id,
            amount=reversed_pts,
            at=now,
            rule="return:" + p.rule,
            member_id=p.member_id,
            purchase_id=p.id,
            return_id=rid,
            reverses_transfer_id=earn_tid[0].transfer_id if earn_tid else None,
            store_id=data.store_id,
            order_id=data.order_id,
        )
        debt = reverse_points(
            conn,
            account=account,
            amount=reversed_pts,
            first_lot_ids=[r.id for r in earn_tid],
            transfer_id=tid,
        )
        if debt:
            _SET_RETURN_DEBT.run(conn, {"return_row": rid, "debt": debt})
    _SET_REFUNDED.run(
        conn,
        {
            "sale_id": p.id,
            "refunded": p.refunded_minor + refund,
            "reversed": p.points_reversed + reversed_pts,
        },
    )
    result = ReturnResult(
        return_row_id=rid,
        purchase_id=p.id,
        refund_minor=refund,
        points_reversed=reversed_pts,
        debt_created=debt,
    )
    if actor is not None:
        audited = {
            "store_id": data.store_id,
            "return_id": data.return_id,
            **result.model_dump(exclude={"replayed"}),
        }
        audit.record(conn, actor, "purchase.return", "purchase", p.id, None, audited, at=now)
    return result
