"""Points given back when a reward order is cancelled: a reversing transfer and the lots it spent, anew.

The points come back from the account the order paid into (the store's merchant's `redeemed`
account) in one `reward_refund` transfer that names the order's `redeem` transfer
(`reverses_transfer_id`), and arrive as new lots with the expiry dates of the lots the order took
(`lot_allocations`), one lot per merchant and date. So a member who orders and cancels holds what they
held before, with the same dates; points whose date passed in between come back already expired and
go at the next expiry run, as they would have had the order never been made. Like every credit, they
pay the member's debt first (a return since may have made one).

Posted entries stay as they are (invariant 5): the order's spend is reversed by a new transfer, not
undone.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, func, insert, select

from loyalty.db.core_tables import lot_allocations, point_lots, transfers
from loyalty.db.ledger_writer import post_transfer
from loyalty.domain.ledger import split_earning
from loyalty.services.accounts import LockedAccount, set_account
from loyalty.services.catalogue import StoreInfo

REFUND_KIND = "reward_refund"


def give_back(
    conn: Connection,
    acc: LockedAccount,
    redeem_transfer_id: int,
    points: int,
    store: StoreInfo,
    now: datetime,
    *,
    rule: str,
    operator: str | None,
    reason: str | None = None,
) -> int:
    """Credit `points` spent by `redeem_transfer_id` back to the locked account; the new transfer's id."""
    paid_into = conn.execute(
        select(transfers.c.credit_account_id).where(transfers.c.id == redeem_transfer_id)
    ).scalar_one()
    taken = conn.execute(
        select(point_lots.c.merchant_id, point_lots.c.expires_at, func.sum(lot_allocations.c.amount))
        .join(point_lots, point_lots.c.id == lot_allocations.c.lot_id)
        .where(lot_allocations.c.transfer_id == redeem_transfer_id)
        .group_by(point_lots.c.merchant_id, point_lots.c.expires_at)
        .order_by(point_lots.c.expires_at, point_lots.c.merchant_id)
    ).all()
    pieces = [(int(m), e, int(n)) for m, e, n in taken]
    short = points - sum(n for _, _, n in pieces)
    if short > 0:  # no allocation explains them (never expected): they come back with a fresh date
        pieces.append((store.merchant_id, now + timedelta(days=store.programme.expiry_days), short))
    tid = post_transfer(
        conn,
        kind=REFUND_KIND,
        debit_account_id=int(paid_into),
        credit_account_id=acc.id,
        amount=points,
        at=now,
        rule=rule,
        member_id=acc.member_id,
        store_id=store.id,
        reverses_transfer_id=redeem_transfer_id,
        operator=operator,
        reason=reason,
    )
    for merchant_id, expires_at, amount in pieces:
        paid, left = split_earning(amount, acc.debt)
        conn.execute(
            insert(point_lots).values(
                account_id=acc.id,
                member_id=acc.member_id,
                merchant_id=merchant_id,
                transfer_id=tid,
                purchase_id=None,
                amount=amount,
                debt_paid=paid,
                remaining=left,
                available_at=now,
                expires_at=expires_at,
                created_at=now,
            )
        )
        acc.debt -= paid
    acc.balance += points
    set_account(conn, acc)
    return tid
