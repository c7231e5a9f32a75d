"""Helpers shared by the core services: programme lookup, member account locks, posting transfers.

`post_transfer` is the only writer of `transfers`/`postings` for per-member movements, so the two
postings of a transfer always sum to zero and the cached member balance moves with them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection, Row, bindparam, func, insert, select, update

from loyalty.bootstrap import Context
from loyalty.db.core_tables import (
    accounts,
    members,
    merchants,
    point_lots,
    postings,
    programmes,
    purchases,
    stores,
    tiers,
    transfers,
)
from loyalty.db.prepared import Pending, Prepared
from loyalty.domain.errors import NotFound
from loyalty.domain.ledger import split_earning

#: the rule an anonymous sale records: none earned it anything (a claim writes the one it then earns by)
ANONYMOUS_RULE = "anonymous"


@dataclass(frozen=True)
class Programme:
    id: int
    points_per_unit: int
    excluded_categories: frozenset[str]
    points_per_currency_unit: int
    redeem_cap_pct: int
    min_redeem_balance: int
    return_window_days: int
    expiry_days: int
    tier_window_days: int
    downgrade_policy: str
    downgrade_grace_days: int
    currency: str


@dataclass(frozen=True)
class StoreInfo:
    id: int
    merchant_id: int
    programme: Programme
    liability_account_id: int
    redeemed_account_id: int
    expired_account_id: int


def read(ctx: Context) -> Connection:
    """A connection for read-only use cases.

    On SQLite it begins DEFERRED, so balance look-ups and statements do not take the write lock that
    every writer's BEGIN IMMEDIATE needs (WAL readers never block writers).
    """
    return ctx.engine.connect().execution_options(sqlite_begin="DEFERRED")


def request_hash(payload: Any) -> str:
    """Stable hash of a request body: a replay with another body is an idempotency mismatch."""
    raw = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(raw.encode()).hexdigest()


def model_hash(model: BaseModel) -> str:
    """Stable hash of a validated request: its JSON as pydantic writes it (fields in the model's own
    order), three times cheaper than `request_hash` of its dump, which was 6 % of a POS sale."""
    return hashlib.sha256(model.model_dump_json().encode()).hexdigest()


def programme_from_row(row: Row[Any]) -> Programme:
    return Programme(
        id=row.id,
        points_per_unit=row.points_per_unit,
        excluded_categories=frozenset(row.excluded_categories or ()),
        points_per_currency_unit=row.points_per_currency_unit,
        redeem_cap_pct=row.redeem_cap_pct,
        min_redeem_balance=row.min_redeem_balance,
        return_window_days=row.return_window_days,
        expiry_days=row.expiry_days,
        tier_window_days=row.tier_window_days,
        downgrade_policy=row.downgrade_policy,
        downgrade_grace_days=row.downgrade_grace_days,
        currency=row.currency,
    )


def default_programme(conn: Connection) -> Programme:
    row = conn.execute(select(programmes).order_by(programmes.c.id).limit(1)).first()
    if row is None:
        raise NotFound("PROGRAMME_NOT_FOUND", "no programme configured; run `loyalty programme init`")
    return programme_from_row(row)


def store_info(conn: Connection, store_id: int) -> StoreInfo:
    row = conn.execute(
        select(stores.c.id, stores.c.merchant_id, merchants.c.programme_id)
        .join(merchants, merchants.c.id == stores.c.merchant_id)
        .where(stores.c.id == store_id)
    ).first()
    if row is None:
        raise NotFound("STORE_NOT_FOUND", "store {store_id} does not exist", {"store_id": store_id})
    if row.programme_id is None:
        prog = default_programme(conn)
    else:
        prow = conn.execute(select(programmes).where(programmes.c.id == row.programme_id)).one()
        prog = programme_from_row(prow)
    accs = {
        r.kind: r.id
        for r in conn.execute(
            select(accounts.c.id, accounts.c.kind).where(accounts.c.merchant_id == row.merchant_id)
        )
    }
    return StoreInfo(
        id=row.id,
        merchant_id=row.merchant_id,
        programme=prog,
        liability_account_id=accs["liability"],
        redeemed_account_id=accs["redeemed"],
        expired_account_id=accs["expired"],
    )


@dataclass
class LockedAccount:
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
_INSERT_TRANSFER = Prepared(insert(transfers).returning(transfers.c.id))
_INSERT_POSTINGS = Prepared(insert(postings))
_INSERT_LOT = Prepared(insert(point_lots))
_SET_ACCOUNT = Prepared(
    update(accounts)
    .where(accounts.c.id == bindparam("account_id"))
    .values(balance=bindparam("new_balance"), debt=bindparam("new_debt"))
)
_QUALIFYING_SPEND = Prepared(
    select(func.coalesce(func.sum(purchases.c.total_minor - purchases.c.refunded_minor), 0)).where(
        purchases.c.member_id == bindparam("member_id"),
        purchases.c.occurred_at > bindparam("since"),
        purchases.c.occurred_at <= bindparam("as_of"),
    )
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


def post_transfer(
    conn: Connection,
    *,
    kind: str,
    debit_account_id: int,
    credit_account_id: int,
    amount: int,
    at: datetime,
    rule: str,
    member_id: int | None = None,
    **extra: Any,
) -> int:
    """Insert one transfer and its two postings (−amount on debit, +amount on credit); return its id."""
    tid = _INSERT_TRANSFER.scalar(
        conn,
        {
            "kind": kind,
            "debit_account_id": debit_account_id,
            "credit_account_id": credit_account_id,
            "amount": amount,
            "member_id": member_id,
            "rule": rule,
            "created_at": at,
            **extra,
        },
    )
    _INSERT_POSTINGS.run_many(
        conn,
        [
            {"transfer_id": tid, "account_id": debit_account_id, "amount": -amount, "created_at": at},
            {"transfer_id": tid, "account_id": credit_account_id, "amount": amount, "created_at": at},
        ],
    )
    return int(tid)


def credit_lot(
    conn: Connection,
    account: LockedAccount,
    *,
    merchant_id: int,
    transfer_id: int,
    points: int,
    available_at: datetime,
    expires_at: datetime,
    at: datetime,
    purchase_id: int | None = None,
) -> None:
    """Points credited by `transfer_id` arrive as one lot that pays the member's debt first.

    Every credit (earning, manual adjustment, migrated balance) goes through here, so the lot, the debt
    and the cached balance always move together.
    """
    paid, left = split_earning(points, account.debt)
    _INSERT_LOT.run(
        conn,
        {
            "account_id": account.id,
            "member_id": account.member_id,
            "merchant_id": merchant_id,
            "transfer_id": transfer_id,
            "purchase_id": purchase_id,
            "amount": points,
            "debt_paid": paid,
            "remaining": left,
            "available_at": available_at,
            "expires_at": expires_at,
            "created_at": at,
        },
    )
    account.balance += points
    account.debt -= paid
    set_account(conn, account)


def set_account(conn: Connection, account: LockedAccount) -> None:
    _SET_ACCOUNT.run(
        conn, {"account_id": account.id, "new_balance": account.balance, "new_debt": account.debt}
    )


def tier_rows(conn: Connection) -> list[Row[Any]]:
    return list(conn.execute(select(tiers).order_by(tiers.c.rank)))


def member_row(conn: Connection, member_id: int) -> Row[Any]:
    row = conn.execute(select(members).where(members.c.id == member_id)).first()
    if row is None:
        raise NotFound("MEMBER_NOT_FOUND", "member {member_id} does not exist", {"member_id": member_id})
    return row


def qualifying_spend(conn: Connection, member_id: int, as_of: datetime, window_days: int) -> int:
    """Net spend (paid total minus refunds) in the window (as_of − window_days, as_of]."""
    return int(send_qualifying_spend(conn, member_id, as_of, window_days).scalar())


def send_qualifying_spend(conn: Connection, member_id: int, as_of: datetime, window_days: int) -> Pending:
    """`qualifying_spend` sent now and read later (`.scalar()`), e.g. in the round trip of a lock."""
    return _QUALIFYING_SPEND.send(
        conn, {"member_id": member_id, "since": as_of - timedelta(days=window_days), "as_of": as_of}
    )
