"""Returns: the points of (part of) an earlier order taken back, per line or in proportion.

A return is idempotent on (store_id, return_id). It takes from the order's own lots first, then the
member's other lots soonest-expiring first, and any shortfall becomes debt that later earnings pay
first: never a silently skipped reversal (ADR 0001).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, insert, select, update

from loyalty.bootstrap import Context
from loyalty.db.core_tables import point_lots, purchase_lines, purchases, returns
from loyalty.db.ledger_writer import post_transfer
from loyalty.db.prepared import Prepared
from loyalty.domain.actors import Actor
from loyalty.domain.earning import cumulative_share
from loyalty.domain.errors import IdempotencyMismatch, InvalidInput, NotFound, field_error
from loyalty.domain.ledger import Lot, allocate_fefo
from loyalty.services import audit
from loyalty.services.accounts import apply_allocations, lock_member_account, set_account
from loyalty.services.catalogue import catalogue_of
from loyalty.services.offers.coupons import release_coupons
from loyalty.services.request_hashes import request_hash
from loyalty.services.schemas import ReturnIn, ReturnResult


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
    apply_allocations(conn, allocs, transfer_id)
    account.balance -= amount
    account.debt += shortfall
    set_account(conn, account)
    return shortfall


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


def post_return_in(
    conn: Connection, ctx: Context, data: ReturnIn, *, actor: Actor | None = None
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
    store = catalogue_of(ctx).store(conn, data.store_id)
    orig_store = data.original_store_id or data.store_id
    sold = _SOLD_BY_ORDER.run(conn, {"store_id": orig_store, "order_id": data.order_id})
    if not sold:
        raise NotFound(
            "ORDER_NOT_FOUND",
            "order {order_id} was never posted at store {store_id}",
            {"order_id": data.order_id, "store_id": orig_store},
        )
    sale = _Sold(*sold[0])
    account = None
    if sale.member_id is None and conn.dialect.name == "postgresql":
        # An anonymous sale has no account to lock: its own row is locked instead, as a claim does first,
        # so a return and a claim of one sale never interleave (after a claim, it is a member's sale).
        # SQLite's transaction already holds the write lock.
        sale = _Sold(*_SOLD_BY_ID_LOCKED.run(conn, {"sale_id": sale.id})[0])
    if sale.member_id is not None:
        account = lock_member_account(conn, sale.member_id)
        sale = _Sold(*_SOLD_BY_ID.run(conn, {"sale_id": sale.id})[0])  # re-read under the lock
    lines = {r[0]: _LineSold(*r) for r in _LINES_SOLD.run(conn, {"sale_id": sale.id})}
    reversed_pts = 0
    returned = {n: line.returned_quantity for n, line in lines.items()}
    if data.lines:
        refund = 0
        seen: set[int] = set()
        for asked in data.lines:
            line = lines.get(asked.line_no)
            if line is None or asked.line_no in seen:
                raise InvalidInput.field(
                    "lines",
                    "line {line_no} is not on order {order_id}",
                    "RETURN_LINE_UNKNOWN",
                    {"line_no": asked.line_no, "order_id": data.order_id},
                )
            seen.add(asked.line_no)
            if asked.quantity <= 0:
                raise InvalidInput.field("lines", "returned quantity must be positive", "QUANTITY_INVALID")
            after = line.returned_quantity + asked.quantity
            if after > line.quantity:
                raise InvalidInput.field(
                    "lines",
                    "line {line_no}: returning {returned} of {quantity}",
                    "RETURN_EXCEEDS_SALE",
                    {"line_no": asked.line_no, "returned": after, "quantity": line.quantity},
                )
            reversed_pts += cumulative_share(line.points, line.returned_quantity, after, line.quantity)
            refund += cumulative_share(line.amount_minor, line.returned_quantity, after, line.quantity)
            _SET_RETURNED.run(conn, {"sale_id": sale.id, "line": asked.line_no, "after": after})
            returned[asked.line_no] = after
        refund = min(refund, sale.total_minor - sale.refunded_minor)
        whole = all(returned[n] >= line.quantity for n, line in lines.items())
    else:
        if data.refund_minor is None or data.refund_minor <= 0:
            raise InvalidInput.field("refund", "give lines or a positive refund amount", "REFUND_INVALID")
        refund = data.refund_minor
        if sale.refunded_minor + refund > sale.total_minor:
            from loyalty.i18n.formats import Amount

            left = sale.total_minor - sale.refunded_minor
            raise InvalidInput.field(
                "refund",
                "refund {refund} exceeds what is left of the sale ({left})",
                "RETURN_EXCEEDS_SALE",
                {"refund": Amount(refund, sale.currency), "left": Amount(left, sale.currency)},
            )
        reversed_pts = cumulative_share(
            sale.points_earned, sale.refunded_minor, sale.refunded_minor + refund, sale.total_minor
        )
        whole = False  # unless the refund completes the sale's money (below)
    # A sale is fully returned when every unit is, or all its money is refunded (by amount, or lines
    # completing earlier refunds): it keeps no points and gives its coupons back — also when lines
    # returned with points out of proportion to their amounts (an excluded line, a category rule)
    # left a money share of the points behind.
    whole = whole or 0 < sale.total_minor <= sale.refunded_minor + refund
    points_left = sale.points_earned - sale.points_reversed
    reversed_pts = points_left if whole else min(reversed_pts, points_left)
    now = ctx.now()
    rid = _INSERT_RETURN.scalar(
        conn,
        {
            "purchase_id": sale.id,
            "store_id": data.store_id,
            "return_id": data.return_id,
            "occurred_at": data.occurred_at,
            "refund_minor": refund,
            "points_reversed": reversed_pts,
            "debt_created": 0,
            "lines": [asked.model_dump() for asked in data.lines] if data.lines else None,
            "request_hash": rhash,
            "created_at": now,
        },
    )
    debt = 0
    if reversed_pts > 0:  # only a member's sale earned anything (an anonymous one's lines hold 0 points)
        assert account is not None
        earned_by = [_LotOfSale(*r) for r in _LOTS_OF_SALE.run(conn, {"sale_id": sale.id})]
        tid = post_transfer(
            conn,
            kind="return",
            debit_account_id=account.id,
            credit_account_id=store.liability_account_id,
            amount=reversed_pts,
            at=now,
            rule="return:" + sale.rule,
            member_id=sale.member_id,
            purchase_id=sale.id,
            return_id=rid,
            reverses_transfer_id=earned_by[0].transfer_id if earned_by else None,
            store_id=data.store_id,
            order_id=data.order_id,
        )
        debt = reverse_points(
            conn,
            account=account,
            amount=reversed_pts,
            first_lot_ids=[r.id for r in earned_by],
            transfer_id=tid,
        )
        if debt:
            _SET_RETURN_DEBT.run(conn, {"return_row": rid, "debt": debt})
    _SET_REFUNDED.run(
        conn,
        {
            "sale_id": sale.id,
            "refunded": sale.refunded_minor + refund,
            "reversed": sale.points_reversed + reversed_pts,
        },
    )
    if whole:  # a fully returned sale gives its coupons back (`offers.checkout`)
        release_coupons(conn, sale.id, now)
    result = ReturnResult(
        return_row_id=rid,
        purchase_id=sale.id,
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
        audit.record(conn, actor, "purchase.return", "purchase", sale.id, None, audited, at=now)
    return result
