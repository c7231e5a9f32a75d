"""The rows a set-based posting writes, as Python values: one writer for both forms of the routine.

The routine works out each order's amounts, points, tier and ids over NumPy columns (many orders,
`set_based`) or over Python's own values (a sale alone, or a few orders, one a member: `few_orders`).
Either hands the outcome to `SaleWriter` table by table, and the same statements write it: the
purchases, their lines and the rules that earned on them, the earning transfers (`db.ledger_writer`)
and the lots they credit, the accounts' balance and debt, the upgrades and, for POS sales, one audit
row a sale.
Table by table, so that an import's batch holds one table's lists at a time rather than all of
them: a list holds a value in about five times an array's memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Connection

from loyalty.db import unnest
from loyalty.db.ledger_writer import TransferColumns, write_transfers
from loyalty.db.rows import update_rows, write_numbered, write_rows
from loyalty.db.stored_time import epoch_us
from loyalty.domain.actors import Actor
from loyalty.services import audit
from loyalty.services.posting.order_batch import IntArray, OrderBatch, ints, texts
from loyalty.services.schemas import PurchaseIn, PurchaseResult, UsedCoupon

#: a column of a batch's integers: a list (a few orders') or an array (an import's)
Ints = Sequence[int] | IntArray

#: the columns of the lots (`SaleWriter.earnings`) beside their id and transfer
LOT_COLUMNS = (
    "account_id", "member_id", "merchant_id", "purchase_id", "amount", "debt_paid", "remaining",
    "available_at", "expires_at",
)  # fmt: skip

#: the columns of a purchase row built whole, less its id (`SaleWriter.numbered_purchases`)
PURCHASE_ROW = (
    "store_id", "member_id", "order_id", "occurred_at", "total_minor", "eligible_minor", "points_earned",
    "rule", "currency", "channel", "staff", "tier_code", "upgraded_to", "request_hash",
)  # fmt: skip
#: the columns of a line row (`SaleWriter.lines`)
LINE_ROW = (
    "purchase_id", "line_no", "sku", "category", "brand", "quantity", "unit_price_minor", "discount_minor",
    "amount_minor", "points",
)  # fmt: skip


# Not frozen: built for every POS batch, and setting a frozen field costs a call.
@dataclass(slots=True, eq=False)
class Posted:
    """What a set-based posting wrote, per order in batch order (what the live routine would answer):
    Python's sequences (the few-orders form's) or arrays (the array form's, read only where an order
    is answered: an import's are never turned into lists). Two are equal when their values are, in
    either form."""

    purchase_ids: Ints
    totals: Ints
    points: Ints
    rules: list[str]
    available_us: Ints  # the earned lot's times (meaningless where no points were earned)
    expires_us: Ints
    tiers_before: Ints  # the member's tier the order earned with, as an index into `codes`
    tiers_after: Ints  # and the one it left them in (higher where it upgraded them)
    codes: list[str]  # the tiers' codes, lowest first

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Posted):
            return NotImplemented
        return self._values() == other._values()

    def _values(self) -> tuple[list[Any], ...]:
        return tuple(
            value.tolist() if isinstance(value, np.ndarray) else list(value)
            for value in (getattr(self, name) for name in self.__slots__)
        )

    def purchase_id_list(self) -> list[int]:
        """The purchases' ids as Python's ints."""
        ids = self.purchase_ids
        return ids.tolist() if isinstance(ids, np.ndarray) else list(ids)

    def answer(
        self, i: int, sale: PurchaseIn, member: int | None, coupons: list[UsedCoupon]
    ) -> PurchaseResult:
        """What posting order `i`, `sale` (by `member`, None for an anonymous sale), answers (its
        `coupons` as used): its lot's times in the sale's own zone; an anonymous sale's no member's
        tier."""
        points = int(self.points[i])
        before, after = (
            (self.codes[self.tiers_before[i]], self.codes[self.tiers_after[i]])
            if member is not None
            else (None, None)
        )
        available_at = expires_at = None
        if points > 0:  # the lot's times, in the sale's own zone
            occurred = epoch_us(sale.occurred_at)
            available_at = _after(sale, int(self.available_us[i]) - occurred)
            expires_at = _after(sale, int(self.expires_us[i]) - occurred)
        return PurchaseResult(
            purchase_id=int(self.purchase_ids[i]),
            store_id=sale.store_id,
            order_id=sale.order_id,
            member_id=member,
            total_minor=int(self.totals[i]),
            points_earned=points,
            rule=self.rules[i],
            available_at=available_at,
            expires_at=expires_at,
            tier_code=after,
            upgraded_to=after if after != before else None,
            channel=sale.channel,
            coupons=coupons,
            staff=sale.staff,
        )


def _after(sale: PurchaseIn, microseconds: int) -> datetime:
    return sale.occurred_at + timedelta(microseconds=microseconds)


class SaleWriter:
    """Writes a posting's rows in the caller's transaction, table by table in the order the tables
    name each other (PostgreSQL: gathered `into` the caller's one statement where given).

    `purchases` (an import's or a batch in columns) and `numbered_purchases` (a few orders', numbered
    as written on SQLite) and `lines` take rows of the columns they name, orders and lines in batch
    order (an import's zipped from its columns only as they are written), the purchases' columns with
    one value for every order apart (`constants`); `earnings` the earning orders' transfers, their lots
    as columns (`LOT_COLUMNS`) and the rows (balance, debt, account id) of the accounts that moved;
    `upgrades` the upgrades (member, from tier, to tier, window spend) in posting order and each
    upgraded member's new tier (tier id, member); `audit` one row a POS sale.
    """

    __slots__ = ("conn", "into", "now_text")

    def __init__(self, conn: Connection, now_text: str, into: unnest.Writes | None) -> None:
        self.conn, self.now_text, self.into = conn, now_text, into

    def purchases(
        self, names: Sequence[str], rows: Iterable[Sequence[Any]], constants: dict[str, int | str | None]
    ) -> None:
        """The purchases: rows of `names`' values (`purchase_columns`' zipped) and `constants`."""
        write_rows(self.conn, "purchases", names, rows, constants, into=self.into)

    def lines(
        self, names: Sequence[str], rows: Iterable[Sequence[Any]], rule_entries: dict[str, list[int]] | None
    ) -> None:
        """The lines (rows of `names`' values: `line_columns`' zipped, or `LINE_ROW`'s) and the entries
        of the earning rules that applied to them (`purchase_line_rules`; None: no earning rule
        applied)."""
        returned: dict[str, int | str | None] = {"returned_quantity": 0}
        write_rows(self.conn, "purchase_lines", names, rows, returned, into=self.into)
        if rule_entries:
            entries = zip(*rule_entries.values(), strict=True)
            write_rows(self.conn, "purchase_line_rules", list(rule_entries), entries, into=self.into)

    def numbered_purchases(self, rows: Sequence[Sequence[Any]], ids: Sequence[int] | None) -> Sequence[int]:
        """A few purchases (rows of `PURCHASE_ROW`'s values), numbered `ids` or, where None, by
        SQLite (`db.rows.write_numbered`); return their ids."""
        constants = untouched(self.now_text)
        return write_numbered(self.conn, "purchases", PURCHASE_ROW, rows, constants, ids=ids, into=self.into)

    def earnings(
        self,
        transfers: TransferColumns,
        lots: list[Sequence[Any]],
        lot_ids: Sequence[int] | None,
        accounts: list[tuple[int, int, int]],
    ) -> None:
        """The earning transfers, the lots they credit (columns, `LOT_COLUMNS`, one a transfer; their
        ids `lot_ids`, or where None SQLite's) and the accounts' new balance and debt."""
        conn, into = self.conn, self.into
        at: dict[str, int | str | None] = {"created_at": self.now_text}
        transfer_ids = write_transfers(conn, transfers, into=into)
        if lot_ids is None:
            few = list(zip(transfer_ids, *lots, strict=True))  # bound in one statement
            write_rows(conn, "point_lots", ("transfer_id", *LOT_COLUMNS), few, at, into=into)
        else:
            lot_rows = zip(lot_ids, transfer_ids, *lots, strict=True)
            write_rows(conn, "point_lots", ("id", "transfer_id", *LOT_COLUMNS), lot_rows, at, into=into)
        update_rows(conn, "accounts", ("balance", "debt"), "id", accounts, into=into)

    def upgrades(self, history: list[tuple[int, int, int, int]], promoted: list[tuple[int, int]]) -> None:
        """The tier history of the upgrades and the upgraded members' tiers."""
        if not history:
            return
        write_rows(
            self.conn,
            "tier_history",
            ("member_id", "from_tier_id", "to_tier_id", "qualifying_minor"),
            history,
            {"reason": "upgrade", "at": self.now_text},
            into=self.into,
        )
        rows = [(tier, None, member) for tier, member in promoted]
        update_rows(self.conn, "members", ("tier_id", "tier_grace_until"), "id", rows, into=self.into)

    def audit(
        self, sales: Iterable[tuple[Actor, int, int, str, int | None, int, int, str]], now: datetime
    ) -> None:
        """One audit row a sale, as the live routine writes: (who posted it, purchase id, store id,
        order id, member id, total, points earned, channel) each."""
        audited = [
            audit.row(
                actor, audit.SALE_ACTION, "purchase", purchase_id, None,
                audit.sale_after(store_id, order_id, member_id, total, earned, channel),
                at=now,
            )
            for actor, purchase_id, store_id, order_id, member_id, total, earned, channel in sales
        ]  # fmt: skip
        if self.into is not None:
            self.into.insert("audit_log", audit.columns(audited))
        else:
            audit.record_many(self.conn, audited)


def untouched(now_text: str) -> dict[str, int | str | None]:
    """The columns of a purchase just written that only later events move, and when it was written."""
    return {"refunded_minor": 0, "points_reversed": 0, "redeemed_points": 0, "created_at": now_text}


def purchase_columns(
    batch: OrderBatch,
    computed: dict[str, list[Any]],
    *,
    currency: list[str],
    request_hashes: Sequence[str] | None,
    tier_after: list[str | None],
    upgraded_to: list[str | None],
    now_text: str,
) -> tuple[dict[str, list[Any]], dict[str, int | str | None]]:
    """The purchases' columns, and the columns with one value for all (`SaleWriter.purchases`): the
    batch's own, what the posting `computed` (id, member_id, occurred_at, total_minor, eligible_minor,
    points_earned, rule), each order's `currency`, and the tier each order left its member in and the
    one it upgraded them to (None for an anonymous order). Imported orders keep no request hash: a
    POS replay is compared by content (`one_sale`). Always the same columns in the same order for a
    batch of the same shape, so that SQLite finds its prepared statement again."""
    fixed = untouched(now_text)
    columns: dict[str, list[Any]] = {
        "id": computed["id"],
        "store_id": ints(batch.store_id),
        "member_id": computed["member_id"],
        "order_id": texts(batch.order_id),
        "occurred_at": computed["occurred_at"],
        "total_minor": computed["total_minor"],
        "eligible_minor": computed["eligible_minor"],
        "points_earned": computed["points_earned"],
        "rule": computed["rule"],
    }
    if request_hashes is None:
        fixed["request_hash"] = None
    else:
        columns["request_hash"] = list(request_hashes)
    if len(set(currency)) == 1:
        fixed["currency"] = currency[0]
    else:
        columns["currency"] = currency
    if batch.channel is not None:  # else every order is a store sale: the column's default
        columns["channel"] = texts(batch.channel)
    if batch.staff is not None:  # else no order names who rang it: NULL, the column's default
        columns["staff"] = texts(batch.staff)
    columns["tier_code"], columns["upgraded_to"] = tier_after, upgraded_to
    return columns, fixed


def line_columns(
    batch: OrderBatch,
    purchase_id: list[int],
    line_no: list[int],
    amounts: list[int],
    points: list[int],
) -> dict[str, list[Any]]:
    """The lines' columns: the batch's own, each line's purchase id and number (from 1 in its
    order), amount and points."""
    lines: dict[str, list[Any]] = {
        "purchase_id": purchase_id,
        "line_no": line_no,
        "sku": texts(batch.sku),
        "category": texts(batch.category),
        "quantity": ints(batch.quantity),
        "unit_price_minor": ints(batch.unit_price_minor),
        "discount_minor": ints(batch.discount_minor),
        "amount_minor": amounts,
        "points": points,
    }
    if batch.brand is not None:  # else every line's brand is the column's default, none
        lines["brand"] = texts(batch.brand)
    return lines
