"""The per-kind batch loaders of an import, and the reference data its validation reads.

Validation needs to know what already exists (stores, members, orders, returns, granted balances);
it is read once per import into Arrow tables (`services.history_import.known`). Loading uses the
core's own code so that imported history earns points and moves tiers exactly as live traffic would:
purchases through the set-based `posting.set_based.post_purchase_batch` (the live rules on whole
batches), returns through `purchases.post_return_in` (the routine behind the live `post_return`),
members and opening balances through `services.history_import`; each batch inside one transaction
together with its checkpoint. Like every entry point, an import reaches the database through the
services only (an import-linter contract).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection

from loyalty.domain.actors import SYSTEM
from loyalty.domain.channels import DEFAULT_CHANNEL
from loyalty.imports.mapping import ColumnMap, Kind
from loyalty.imports.report import Summary
from loyalty.imports.runner import Step
from loyalty.imports.validate import Checked, Reference
from loyalty.services import audit
from loyalty.services.history_import import known
from loyalty.services.history_import.balances import grant_opening_balance
from loyalty.services.history_import.members import insert_members, member_ids_by_card
from loyalty.services.history_import.stores import ensure_store
from loyalty.services.posting.import_session import BulkSession
from loyalty.services.posting.order_batch import ANONYMOUS, OrderBatch
from loyalty.services.posting.returns import post_return_in
from loyalty.services.posting.set_based import post_purchase_batch
from loyalty.services.schemas import ReturnIn


def _us(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value / 1_000_000, tz=UTC)


def _np(values: pa.Array | pa.ChunkedArray) -> npt.NDArray[np.int64]:
    """Int64 NumPy copy of an Arrow column (a null would be a validation bug: fail loudly)."""
    arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if arr.null_count:
        raise ValueError("unexpected null in a validated purchase column")
    out: npt.NDArray[np.int64] = arr.cast(pa.int64()).to_numpy(zero_copy_only=False).astype(np.int64)
    return out


def load_reference(conn: Connection, kind: Kind, mapping: ColumnMap, ctx: Any) -> Reference:
    """Read what validation must know about the database into Arrow tables (one query each)."""
    ref = Reference.empty(default_timezone=ctx.settings.timezone)
    ref.currency = known.programme_currency(conn)
    ref.stores = known.store_codes(conn)
    if kind is not Kind.members or mapping.member_keys():
        ref.members = known.member_keys(conn, ref.members.schema)
    if kind in (Kind.purchases, Kind.returns):
        ref.orders = known.posted_orders(conn, ref.orders.schema)
        ref.returns = known.posted_returns(conn, ref.returns.schema)
    if kind is Kind.balances:
        ref.balances = known.granted_balances(conn, ref.balances.schema)
    return ref


class Loader(Protocol):
    def prepare(self, ctx: Any, conn: Connection, mapping: ColumnMap, config: dict[str, Any]) -> None: ...
    def plan(self, checked: Checked, mapping: ColumnMap) -> list[Step]: ...
    def load(
        self, ctx: Any, conn: Connection | None, step: str, batch: pa.Table, run_id: int, actor: Any
    ) -> int: ...
    def after(self, ctx: Any, checked: Checked, summary: Summary) -> None: ...


def _post_purchases_in(
    conn: Connection, ctx: Any, batch: OrderBatch, session: BulkSession | None = None
) -> int:
    """Post `batch` inside the caller's transaction (the batch and its checkpoint commit together).

    `posting.set_based.post_purchase_batch` runs the live earning and tier rules on the whole batch at once
    (and falls back to the live per-order routine for anything it does not model set-based).
    """
    with _collector_paused():
        return post_purchase_batch(conn, ctx, batch, session)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a batch is posted.

    The batch's rows pass through lists of up to a million values, one a column. Each collection of
    the generation such a list sits in visits every one of its values, and the batch allocates
    enough to run hundreds of collections. The lists hold no reference cycles, so reference
    counting frees them all the same. The collector runs again as soon as the batch is posted.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass
class MembersLoader:
    def prepare(self, ctx: Any, conn: Connection, mapping: ColumnMap, config: dict[str, Any]) -> None:
        return None

    def plan(self, checked: Checked, mapping: ColumnMap) -> list[Step]:
        # Bulk load: a batch writes only store and tier ids it read and member ids it created.
        return [Step("members", checked.good, bulk_load=True)]

    def load(
        self, ctx: Any, conn: Connection | None, step: str, batch: pa.Table, run_id: int, actor: Any
    ) -> int:
        assert conn is not None
        rows = batch.to_pylist()
        for r in rows:
            r["created_at"] = _us(r.pop("registered_us"))
        return len(insert_members(conn, rows, ctx.now(), actor or SYSTEM))

    def after(self, ctx: Any, checked: Checked, summary: Summary) -> None:
        return None


@dataclass
class PurchasesLoader:
    """Creates unknown members (when the mapping asks), posts orders, then embedded returns."""

    card_ids: dict[str, int] = field(default_factory=dict)
    currency: str | None = None
    session: BulkSession = field(default_factory=BulkSession)

    def prepare(self, ctx: Any, conn: Connection, mapping: ColumnMap, config: dict[str, Any]) -> None:
        ensure_store(ctx, conn, config)

    def plan(self, checked: Checked, mapping: ColumnMap) -> list[Step]:
        steps = []
        if "new_members" in checked.extra:
            steps.append(Step("members", checked.extra["new_members"], counts_rows=False))
        steps.append(
            Step("purchases", checked.good, group_column="first_line", bulk_load=True, defers_indexes=True)
        )
        if "returns" in checked.extra:
            steps.append(Step("returns", checked.extra["returns"], lines_column="lines"))
        return steps

    def load(
        self, ctx: Any, conn: Connection | None, step: str, batch: pa.Table, run_id: int, actor: Any
    ) -> int:
        if step == "members":
            assert conn is not None
            rows = [
                {"card_no": r["card_no"], "member_code": r["member_code"], "phone": r["phone"]}
                for r in batch.to_pylist()
            ]
            new_ids = insert_members(conn, rows, ctx.now(), actor or SYSTEM)
            self.card_ids.update(new_ids)
            return len(new_ids)
        if step == "purchases":
            assert conn is not None
            posted = _post_purchases_in(conn, ctx, self._orders(conn, batch), self.session)
            return _audited(conn, ctx, actor, "purchase.import", run_id, batch.num_rows, posted)
        assert conn is not None
        return _audited(
            conn, ctx, actor, "return.import", run_id, batch.num_rows, _post_returns(ctx, conn, batch)
        )

    def _member_ids(self, conn: Connection, keys: list[str]) -> None:
        self.card_ids.update(member_ids_by_card(conn, [k for k in keys if k not in self.card_ids]))

    def _orders(self, conn: Connection, batch: pa.Table) -> OrderBatch:
        """The batch's lines as columnar orders (lines of one order are contiguous in the batch); an
        anonymous sale (no member key in the file) gets the member id `ANONYMOUS`."""
        n = batch.num_rows
        keys = _np(batch.column("first_line"))  # the file line an order starts on: one per order
        first = np.ones(n, dtype=bool)
        first[1:] = keys[1:] != keys[:-1]
        starts = np.nonzero(first)[0]
        offsets = np.append(starts, n).astype(np.int64)
        head = batch.take(pa.array(starts))
        member = head.column("member_id").combine_chunks()
        if member.null_count:
            cards = head.column("card_no").to_pylist()
            ids = member.to_pylist()
            need = sorted({c for c, m in zip(cards, ids, strict=True) if m is None and c is not None})
            self._member_ids(conn, need)
            member = pa.array(
                [
                    m if m is not None else self.card_ids.get(c) if c is not None else None
                    for c, m in zip(cards, ids, strict=True)
                ],
                pa.int64(),
            )
        if "anonymous" in head.column_names:
            member = pc.if_else(
                head.column("anonymous").combine_chunks(), pa.scalar(ANONYMOUS, pa.int64()), member
            )
        channel = head.column("channel").combine_chunks() if "channel" in head.column_names else None
        if channel is not None and not pc.any(pc.not_equal(channel, DEFAULT_CHANNEL)).as_py():
            channel = None  # every order a store sale: the column's default
        staff = head.column("staff").combine_chunks() if "staff" in head.column_names else None
        if staff is not None and staff.null_count == len(staff):
            staff = None  # no order names who rang it

        def col(name: str) -> pa.Array:
            return batch.column(name).combine_chunks()

        sku = col("sku")
        order_level = pc.is_null(sku)  # order-level file: one synthetic line carrying the whole amount
        brand = col("brand")
        if brand.null_count == len(brand):
            brand = None  # no line names a brand
        amount = col("amount_minor")
        price = pc.if_else(order_level, amount, pc.coalesce(col("unit_price_minor"), amount))
        return OrderBatch(
            store_id=_np(head.column("store_id")),
            order_id=head.column("order_id").combine_chunks(),
            occurred_us=_np(head.column("occurred_us")),
            member_id=_np(member),
            offsets=offsets,
            sku=pc.if_else(order_level, pa.scalar("ORDER"), sku),
            category=pc.if_else(order_level, pa.scalar(None, pa.string()), col("category")),
            quantity=_np(pc.if_else(order_level, pa.scalar(1, pa.int64()), col("quantity"))),
            unit_price_minor=_np(price),
            discount_minor=_np(
                pc.if_else(order_level, pa.scalar(0, pa.int64()), pc.coalesce(col("discount_minor"), 0))
            ),
            currency=self.currency,
            channel=channel,
            staff=staff,
            brand=brand,
        )

    def after(self, ctx: Any, checked: Checked, summary: Summary) -> None:
        return None


@dataclass
class ReturnsLoader:
    def prepare(self, ctx: Any, conn: Connection, mapping: ColumnMap, config: dict[str, Any]) -> None:
        return None

    def plan(self, checked: Checked, mapping: ColumnMap) -> list[Step]:
        # Bulk load: a batch writes only ids it read (orders, lots, accounts) or created (returns, transfers).
        return [Step("returns", checked.good, bulk_load=True)]

    def load(
        self, ctx: Any, conn: Connection | None, step: str, batch: pa.Table, run_id: int, actor: Any
    ) -> int:
        assert conn is not None
        return _audited(
            conn, ctx, actor, "return.import", run_id, batch.num_rows, _post_returns(ctx, conn, batch)
        )

    def after(self, ctx: Any, checked: Checked, summary: Summary) -> None:
        return None


def _audited(
    conn: Connection, ctx: Any, actor: Any, action: str, run_id: int, rows: int, created: int
) -> int:
    """Audit a batch of an import as one row (its counts) in the batch's transaction, not one per line:
    the run itself (`import_runs`) says which file and rows; return `created`. A batch that posted
    nothing new (a re-run's) wrote nothing to audit."""
    if created:
        after = {"rows": rows, "created": created}
        audit.record(conn, actor or SYSTEM, action, "import_run", run_id, None, after, at=ctx.now())
    return created


@dataclass
class BalancesLoader:
    def prepare(self, ctx: Any, conn: Connection, mapping: ColumnMap, config: dict[str, Any]) -> None:
        return None

    def plan(self, checked: Checked, mapping: ColumnMap) -> list[Step]:
        return [Step("balances", checked.good)]

    def load(
        self, ctx: Any, conn: Connection | None, step: str, batch: pa.Table, run_id: int, actor: Any
    ) -> int:
        assert conn is not None
        created = 0
        stores_cache: dict[int, Any] = {}
        for r in batch.to_pylist():
            earned = _us(r["earned_us"])
            assert earned is not None
            created += grant_opening_balance(
                conn,
                ctx,
                member_id=r["member_id"],
                points=r["points"],
                earned_at=earned,
                expires_at=_us(r["expires_us"]),
                source_key=r["source_key"],
                run_id=run_id,
                stores_cache=stores_cache,
            )
        if created and actor is not None:
            audit.record(conn, actor, "points.import_opening", "import_run", run_id, None, {"lots": created})
        return created

    def after(self, ctx: Any, checked: Checked, summary: Summary) -> None:
        return None


def for_kind(kind: Kind) -> Loader:
    """The loader for one kind of file."""
    loaders: dict[Kind, type[Loader]] = {
        Kind.members: MembersLoader,
        Kind.purchases: PurchasesLoader,
        Kind.returns: ReturnsLoader,
        Kind.balances: BalancesLoader,
    }
    return loaders[kind]()


def _post_returns(ctx: Any, conn: Connection, batch: pa.Table) -> int:
    """Post each checked return through the core's routine, all in the batch's transaction.

    The batch and its checkpoint commit together (as for purchases); a re-run finds the returns of
    committed batches already posted (replays, not counted).
    """
    created = 0
    for r in batch.to_pylist():
        result = post_return_in(
            conn,
            ctx,
            ReturnIn(
                store_id=r["store_id"],
                return_id=r["return_id"],
                order_id=r["original_order_id"],
                occurred_at=_us(r["occurred_us"]),
                refund_minor=r["refund_minor"],
            ),
        )
        created += 0 if result.replayed else 1
    return created


__all__ = ["for_kind", "grant_opening_balance", "insert_members", "load_reference"]
