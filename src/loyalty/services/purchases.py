"""Purchases and returns: the use cases a POS, the console, the CLI and the imports call.

A purchase is idempotent on (store_id, order_id): the same body replays the first result, another
body is an `IdempotencyMismatch`. Earned points become a lot (pending for the return window, expiring
after `expiry_days`) after paying any debt first; the earning transfer records the rule that produced
it. A return reverses per line or in proportion, consuming the original lot first, then other lots
soonest-expiring first, and turns any shortfall into debt — never a silently skipped reversal.

A sale that names no member is an anonymous sale: only its purchase and lines are written (no account
lock, no ledger, no tier); a member may claim it later with the receipt (`purchase_claims`). Every
sale records its channel (`domain.channels`). How a sale is posted: `services.posting`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Connection, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from loyalty.bootstrap import Context
from loyalty.db.core_tables import purchases
from loyalty.db.prepared import savepoint
from loyalty.domain import cursors
from loyalty.domain.actors import SYSTEM, Actor
from loyalty.domain.channels import CHANNELS
from loyalty.domain.errors import InvalidInput, NotFound
from loyalty.services import audit, idempotency
from loyalty.services.catalogue import catalogue_of
from loyalty.services.common import read
from loyalty.services.posting.one_sale import post_sale, result_of_row
from loyalty.services.posting.returns import post_return_in
from loyalty.services.posting.sale_request import attributed
from loyalty.services.schemas import (
    PurchaseIn,
    PurchaseListing,
    PurchaseResult,
    PurchaseSummary,
    ReturnIn,
    ReturnResult,
)

T = TypeVar("T")


def post_purchase(
    ctx: Context,
    data: PurchaseIn,
    *,
    actor: Actor | None = None,
    record: idempotency.Record | None = None,
) -> PurchaseResult:
    """Post one POS sale: earn points, upgrade the tier at once if the window now qualifies.

    With ``record`` the caller's Idempotency-Key and response are stored in the same transaction, as
    the audit row (`actor`'s; the system's when None). A sale naming no staff made by a staff account
    keeps its username (`posting.sale_request.attributed`).
    """
    who = actor or SYSTEM
    data = attributed(data, who)
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
    return post_sale(
        conn, ctx, catalogue_of(ctx), data, look_up_order=not first_try, record=record, actor=actor
    )


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
    a fresh transaction. Used by the group commit on SQLite (`services.posting.group_commit`), where
    the audit rows of the transaction's sales are written together (`audit.deferred`).
    """
    catalogue = catalogue_of(ctx)
    try:
        with savepoint(conn), audit.undone_with(conn):
            return post_sale(conn, ctx, catalogue, data, look_up_order=False, record=record, actor=actor)
    except IntegrityError:
        with savepoint(conn), audit.undone_with(conn):
            return post_sale(conn, ctx, catalogue, data, look_up_order=True, record=record, actor=actor)


def post_purchases(
    ctx: Context, items: Sequence[PurchaseIn], *, actor: Actor = SYSTEM
) -> list[PurchaseResult]:
    """Post many purchases in ONE transaction with the same earning code (bulk import, replays), each
    audited as `actor`'s.

    All or nothing: a bad item raises and none of the batch is written, so a re-run converges. The
    audit rows are written together at the end (`audit.deferred`).
    """
    with ctx.engine.begin() as conn, audit.deferred(conn):
        catalogue = catalogue_of(ctx)
        return [post_sale(conn, ctx, catalogue, attributed(item, actor), actor=actor) for item in items]


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
        return result_of_row(conn, row, replayed=False)


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


def post_return(ctx: Context, data: ReturnIn, *, actor: Actor | None = None) -> ReturnResult:
    """Reverse the points of (part of) an earlier order; idempotent on (store_id, return_id).

    Audited as `actor`'s (the system's when None) in the same transaction. A concurrent post of the
    same return (a till's retry racing its first try) loses the UNIQUE race and, in a fresh
    transaction, replays the winner's result (`in_sale_transaction`).
    """
    who = actor or SYSTEM
    return in_sale_transaction(ctx, lambda conn, _first_try: post_return_in(conn, ctx, data, actor=who))
