"""A member's account: locked before its points move, with the cached balance and debt moved alongside.

The ledger's transfers and postings are written by `db.ledger_writer`; what moves here with them is
the member's side, under the account's lock: the cached balance and debt (ADR 0001), the lots
credited points arrive in (`credit_points`) and the lots a spend takes (`apply_allocations`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from loyalty.db.core_tables import accounts, lot_allocations, point_lots
from loyalty.db.ledger_writer import post_transfer
from loyalty.db.prepared import Prepared
from loyalty.domain.errors import NotFound
from loyalty.domain.ledger import split_earning


@dataclass
class LockedAccount:
    """A member's account, locked for the rest of the transaction, with its cached balance and debt."""

    id: int
    member_id: int
    balance: int
    debt: int


# Every posting runs these, so they are compiled once and run on the driver (see `db.prepared`).
_ACCOUNT_OF_MEMBER_LOCKED = Prepared(
    select(accounts.c.id, accounts.c.balance, accounts.c.debt)
    .where(accounts.c.member_id == bindparam("member_id"))
    .with_for_update()  # rendered on PostgreSQL only; SQLite's BEGIN IMMEDIATE already holds the write lock
)
_INSERT_LOT = Prepared(insert(point_lots))
_SET_ACCOUNT = Prepared(
    update(accounts)
    .where(accounts.c.id == bindparam("account_id"))
    .values(balance=bindparam("new_balance"), debt=bindparam("new_debt"))
)


def lock_member_account(conn: Connection, member_id: int) -> LockedAccount:
    """Lock the member's account row for the rest of the transaction.

    PostgreSQL: `SELECT … FOR UPDATE`, so concurrent spends on one member queue up and each sees the
    balance the previous one left. SQLite: the transaction already holds the write lock (BEGIN IMMEDIATE).
    """
    rows = _ACCOUNT_OF_MEMBER_LOCKED.run(conn, {"member_id": member_id})
    if not rows:
        raise NotFound("MEMBER_NOT_FOUND", "member {member_id} has no account", {"member_id": member_id})
    account_id, balance, debt = rows[0]
    return LockedAccount(id=account_id, member_id=member_id, balance=balance, debt=debt)


def lock_member_accounts(conn: Connection, member_ids: list[int]) -> dict[int, LockedAccount]:
    """Lock several member accounts in id order, so two merges can never deadlock each other."""
    out: dict[int, LockedAccount] = {}
    for mid in sorted(member_ids):
        out[mid] = lock_member_account(conn, mid)
    return out


@dataclass(frozen=True)
class Credit:
    """Points credited to a member: where they come from (`liability_account_id` of `merchant_id`),
    the rule, and the lot they arrive as (spendable from `available_at`, expiring at `expires_at`)."""

    kind: str
    rule: str
    points: int
    liability_account_id: int
    merchant_id: int
    available_at: datetime
    expires_at: datetime


def credit_points(
    conn: Connection, account: LockedAccount, credit: Credit, at: datetime, **links: Any
) -> int:
    """Credit `account`: the transfer from the merchant's liability (`db.ledger_writer`), and one lot
    that pays the member's debt first; return the transfer's id.

    Every credit (earning, a claimed sale, a manual adjustment, an opening balance) goes through
    here, so the transfer, the lot, the debt and the cached balance always move together. `links`
    go on the transfer (purchase_id, store_id, order_id, reason, operator); a `purchase_id` names
    the lot's sale too.
    """
    transfer_id = post_transfer(
        conn,
        kind=credit.kind,
        debit_account_id=credit.liability_account_id,
        credit_account_id=account.id,
        amount=credit.points,
        at=at,
        rule=credit.rule,
        member_id=account.member_id,
        **links,
    )
    paid, left = split_earning(credit.points, account.debt)
    _INSERT_LOT.run(
        conn,
        {
            "account_id": account.id,
            "member_id": account.member_id,
            "merchant_id": credit.merchant_id,
            "transfer_id": transfer_id,
            "purchase_id": links.get("purchase_id"),
            "amount": credit.points,
            "debt_paid": paid,
            "remaining": left,
            "available_at": credit.available_at,
            "expires_at": credit.expires_at,
            "created_at": at,
        },
    )
    account.balance += credit.points
    account.debt -= paid
    set_account(conn, account)
    return transfer_id


def set_account(conn: Connection, account: LockedAccount) -> None:
    """Write the locked account's cached balance and debt back."""
    _SET_ACCOUNT.run(
        conn, {"account_id": account.id, "new_balance": account.balance, "new_debt": account.debt}
    )


def apply_allocations(conn: Connection, allocs: Sequence[tuple[int, int]], transfer_id: int) -> None:
    """Spend lots: each (lot id, points) allocation of `transfer_id` recorded and taken from its lot."""
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
