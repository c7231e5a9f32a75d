"""The one writer of the ledger's `transfers` and `postings` (ADR 0001, invariant 1).

Every movement of points is written here, in one of three forms:

* **one transfer** (`post_transfer`): a sale's earning, a return, a redemption, an adjustment, a
  merge, an opening balance; compiled statements run on the driver, for the POS hot path;
* **many transfers as columns** (`TransferColumns`, `write_transfers`): a batch of sales' earnings
  with ids handed out up front, by COPY or one `unnest` statement on PostgreSQL and by multi-row
  `VALUES` on SQLite, whose postings SQLite binds for a few transfers and derives in SQL from the
  transfers just written for many;
* **a collected transfer** (`CollectedTransfer`): one transfer per group (an expiry run per
  merchant) crediting one account with the sum of many debit legs, one per debited account.

A transfer's legs are made here and nowhere else: −amount on the debit account and +amount on the
credit account from one positive amount, or for a collected transfer a credit equal to the sum of
the very legs it debits, read in the same transaction. So each transfer's postings sum to zero by
construction; `balanced` refuses an amount that would make a leg meaningless (zero or negative)
before anything is written. The member's cached balance is the caller's (`services`), which moves it
under the account's lock together with the lots.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    FromClause,
    MetaData,
    Table,
    func,
    insert,
    literal,
    select,
    text,
)

from loyalty.db import rows, unnest
from loyalty.db.core_tables import postings, transfers
from loyalty.db.prepared import Prepared


class UnbalancedTransfer(ValueError):
    """A transfer whose legs would not sum to zero with both legs meaningful (a programming error)."""


def balanced(amount: int | Sequence[int]) -> None:
    """Refuse amounts that are not positive: −amount and +amount then sum to zero with a real movement.

    Takes one amount (the hot path: a plain comparison) or a column of them."""
    if not (amount > 0 if isinstance(amount, int) else min(amount) > 0):
        raise UnbalancedTransfer("a transfer moves a positive amount")


# -- one transfer ------------------------------------------------------------------------------------

_INSERT_TRANSFER = Prepared(insert(transfers).returning(transfers.c.id))
_INSERT_POSTINGS = Prepared(insert(postings))


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
    """Insert one transfer and its two postings (−amount on debit, +amount on credit); return its id.

    `extra` are the transfer's other columns (purchase_id, store_id, order_id, return_id,
    reverses_transfer_id, reason, operator, value_minor).
    """
    balanced(amount)
    transfer_id = _INSERT_TRANSFER.scalar(
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
            {"transfer_id": transfer_id, "account_id": debit_account_id, "amount": -amount, "created_at": at},
            {"transfer_id": transfer_id, "account_id": credit_account_id, "amount": amount, "created_at": at},
        ],
    )
    return int(transfer_id)


#: up to this many transfers (a few POS sales') SQLite binds their postings instead of deriving them
_FEW_TRANSFERS = 64


# -- many transfers, as columns ------------------------------------------------------------------------


@dataclass(slots=True)  # not frozen: built for every POS batch, and setting a frozen field costs a call
class TransferColumns:
    """Transfers of one kind, one list per column, with ids handed out up front
    (`db.rows.next_ids`): each transfer's two postings take `posting_ids[2i]` (debit) and
    `posting_ids[2i + 1]` (credit), contiguous ranges on SQLite. A few transfers on SQLite may come
    without ids (None): the database gives them (`db.rows.write_numbered`)."""

    kind: str
    created_at: str  # as the column stores it (`db.stored_time`)
    ids: Sequence[int] | None
    posting_ids: Sequence[int] | None
    debit_account_id: Sequence[int]
    credit_account_id: Sequence[int]
    amount: Sequence[int]
    member_id: Sequence[int]
    purchase_id: Sequence[int]
    store_id: Sequence[int]
    order_id: Sequence[str]
    rule: Sequence[str]

    def __len__(self) -> int:
        return len(self.amount)


_TRANSFER_COLUMNS = (
    "debit_account_id", "credit_account_id", "amount", "member_id", "purchase_id", "rule", "store_id",
    "order_id",
)  # fmt: skip


def write_transfers(
    conn: Connection, columns: TransferColumns, *, into: unnest.Writes | None = None
) -> Sequence[int]:
    """Write the transfers and their postings inside the caller's transaction; return the transfers'
    ids.

    PostgreSQL: both tables by COPY, or gathered `into` the caller's one statement (a POS batch).
    SQLite: the transfers by multi-row `VALUES`, then their postings, a few transfers' bound with
    them, many transfers' with one `INSERT … SELECT` from the transfers just written (nothing bound
    per posting; for a few, the join costs the database more than binding them).
    """
    if not len(columns):
        return []
    balanced(columns.amount)
    c = columns
    values = (
        c.debit_account_id, c.credit_account_id, c.amount, c.member_id, c.purchase_id, c.rule, c.store_id,
        c.order_id,
    )  # fmt: skip
    constants: dict[str, int | str | None] = {"kind": c.kind, "created_at": c.created_at}
    at: dict[str, int | str | None] = {"created_at": c.created_at}
    if c.ids is None or c.posting_ids is None:  # a few, numbered by SQLite
        transfers = list(zip(*values, strict=True))
        ids = rows.write_numbered(conn, "transfers", _TRANSFER_COLUMNS, transfers, constants, ids=None)
        few = list(_legs(c, ids))  # bound in one statement
        rows.write_rows(conn, "postings", ("transfer_id", "account_id", "amount"), few, at)
        return ids
    ids, numbered = c.ids, zip(c.ids, *values, strict=True)
    rows.write_rows(conn, "transfers", ("id", *_TRANSFER_COLUMNS), numbered, constants, into=into)
    if rows.is_postgres(conn) or len(c) <= _FEW_TRANSFERS:
        legs = _legs(c, ids, c.posting_ids)
        rows.write_rows(conn, "postings", ("id", "transfer_id", "account_id", "amount"), legs, at, into=into)
        return ids
    _derive_postings(conn, c, ids, c.posting_ids)
    return ids


def _legs(
    columns: TransferColumns, ids: Sequence[int], posting_ids: Sequence[int] | None = None
) -> Iterator[tuple[int, ...]]:
    """Each transfer's two postings ((posting id,) transfer id, account id, amount): −amount on its
    debit account, then +amount on its credit account; without `posting_ids`, the database numbers
    them."""
    legs = zip(ids, columns.debit_account_id, columns.credit_account_id, columns.amount, strict=True)
    if posting_ids is None:
        for transfer_id, debit, credit, amount in legs:
            yield transfer_id, debit, -amount
            yield transfer_id, credit, amount
        return
    numbers = iter(posting_ids)
    for transfer_id, debit, credit, amount in legs:
        yield next(numbers), transfer_id, debit, -amount
        yield next(numbers), transfer_id, credit, amount


def _derive_postings(
    conn: Connection, columns: TransferColumns, ids: Sequence[int], posting_ids: Sequence[int]
) -> None:
    """SQLite: the postings of transfers just written, in SQL: posting `p0 + 2j` debits the j-th
    transfer's debit account (−amount), `p0 + 2j + 1` credits its credit account (+amount)."""
    t0, p0 = ids[0], posting_ids[0]
    t1 = ids[-1]
    if t1 - t0 + 1 != len(columns) or posting_ids[-1] - p0 + 1 != 2 * len(columns):
        raise RuntimeError("transfer and posting ids must be contiguous ranges on SQLite")
    derived = rows.execute(
        conn,
        "INSERT INTO postings (id, transfer_id, account_id, amount, created_at) "
        "SELECT ?1 + 2 * (t.id - ?2) + s.k, t.id, "
        "CASE s.k WHEN 0 THEN t.debit_account_id ELSE t.credit_account_id END, "
        "CASE s.k WHEN 0 THEN -t.amount ELSE t.amount END, t.created_at "
        "FROM transfers t CROSS JOIN (SELECT 0 AS k UNION ALL SELECT 1) s "
        "WHERE t.id BETWEEN ?2 AND ?3",  # ids are explicit: no ORDER BY (sort) needed
        (p0, t0, t1),  # bound, so the statement is prepared once per connection
    )
    if derived != 2 * len(columns):
        raise RuntimeError(f"derived {derived} postings, expected {2 * len(columns)}")


# -- one transfer per group, collected from many debit legs --------------------------------------------


@dataclass(frozen=True)
class Collected:
    """One group's transfer of a `CollectedTransfer`: its id, how many legs it collected, their total."""

    group: int
    transfer_id: int
    legs: int
    amount: int


class CollectedTransfer:
    """One transfer per group crediting the group's account with the sum of its legs, each leg debiting
    one account; the debit postings are the legs summed per account (an expiry run: per merchant, the
    due lots of each member account).

    `open` writes the transfers and their credit postings and keeps each group's transfer id in a
    temporary table (`runs`, columns `group_key` and `transfer_id`, for the caller's own statements,
    such as marking the lots a run empties); `close` writes the debit postings. Between the two the
    caller moves the cached balances of the debited accounts: every sale locks the member's account
    before anything else, so the run does too. Both read the same `legs` in one transaction, so each
    transfer's postings sum to zero.
    """

    runs = Table(
        "ledger_collected_runs",
        MetaData(),
        Column("group_key", BigInteger),
        Column("transfer_id", BigInteger),
    )

    def __init__(self, legs: FromClause, at: datetime, groups: list[Collected]) -> None:
        self._legs, self._at, self.groups = legs, at, groups

    @classmethod
    def open(
        cls,
        conn: Connection,
        *,
        kind: str,
        rule: str,
        at: datetime,
        legs: FromClause,
        credit_accounts: dict[int, int],
        describe: Callable[[int], str],
    ) -> CollectedTransfer:
        """Write one transfer per group of `legs` (columns `group_key`, `account_id`, `amount`) that has
        an account in `credit_accounts` (group -> account credited); `describe(legs)` is its reason."""
        totals = conn.execute(
            select(legs.c.group_key, func.count(), func.sum(legs.c.amount))
            .group_by(legs.c.group_key)
            .order_by(legs.c.group_key)
        ).all()
        groups = []
        for group, count, total in totals:
            if int(group) not in credit_accounts:
                continue
            amount = int(total)
            balanced(amount)
            credit = credit_accounts[int(group)]
            transfer_id = conn.execute(
                insert(transfers)
                .values(
                    kind=kind,
                    debit_account_id=None,
                    credit_account_id=credit,
                    amount=amount,
                    rule=rule,
                    reason=describe(int(count)),
                    created_at=at,
                )
                .returning(transfers.c.id)
            ).scalar_one()
            conn.execute(
                insert(postings).values(
                    transfer_id=transfer_id, account_id=credit, amount=amount, created_at=at
                )
            )
            groups.append(Collected(int(group), int(transfer_id), int(count), amount))
        pg = rows.is_postgres(conn)
        conn.execute(text(f"DROP TABLE IF EXISTS {cls.runs.name}"))
        on_commit = " ON COMMIT DROP" if pg else ""
        conn.execute(
            text(f"CREATE TEMPORARY TABLE {cls.runs.name} (group_key BIGINT, transfer_id BIGINT){on_commit}")
        )
        if groups:
            conn.execute(
                insert(cls.runs), [{"group_key": g.group, "transfer_id": g.transfer_id} for g in groups]
            )
            if pg:  # a temporary table has no statistics until analysed (see ADR 0001)
                conn.execute(text(f"ANALYZE {cls.runs.name}"))
        return cls(legs, at, groups)

    def close(self, conn: Connection) -> None:
        """Write the debit postings: per group's transfer and debited account, minus the sum of its legs."""
        if not self.groups:
            return
        legs, runs = self._legs, self.runs
        conn.execute(
            insert(postings).from_select(
                ["transfer_id", "account_id", "amount", "created_at"],
                select(
                    runs.c.transfer_id,
                    legs.c.account_id,
                    -func.sum(legs.c.amount),
                    literal(self._at, type_=postings.c.created_at.type),
                )
                .join(runs, runs.c.group_key == legs.c.group_key)
                .group_by(runs.c.transfer_id, legs.c.account_id)
                .order_by(legs.c.account_id, runs.c.transfer_id),
            )
        )
