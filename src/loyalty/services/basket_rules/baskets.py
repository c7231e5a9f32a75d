"""The product database's purchases as baskets: one basket per purchase, its lines' SKUs or categories.

Anonymous sales count (basket analysis needs every receipt, not only members'); a line returned in
full is not in the basket, and a purchase all of whose lines went back is no basket at all. A period
is a range of business days, each store's in its own time zone, as the KPIs count them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Literal, get_args

from sqlalchemy import Select, and_, false, func, or_, select

from loyalty.analytics.basket.errors import BasketInputError, ScopeTooLarge
from loyalty.db.core_tables import purchase_lines, purchases, stores
from loyalty.domain.errors import NotFound
from loyalty.services.common import read
from loyalty.services.kpis.periods import day_start
from loyalty.services.kpis.schemas import StoreRef

if TYPE_CHECKING:
    from sqlalchemy.sql.elements import ColumnElement

    from loyalty.analytics.basket import Baskets
    from loyalty.bootstrap import Context

ItemColumn = Literal["sku", "category"]
ITEM_COLUMNS: tuple[str, ...] = get_args(ItemColumn)


@dataclass(frozen=True)
class BasketScope:
    """Which purchases to mine: one store's or the chain's, over business days [start, end] (either
    open), with the lines' ``sku`` or ``category`` as the items."""

    store_id: int | None = None
    start: date | None = None
    end: date | None = None
    item: str = "sku"


@dataclass(frozen=True)
class LoadedBaskets:
    baskets: Baskets
    store: StoreRef | None
    lines: int


def _check(scope: BasketScope) -> None:
    if scope.item not in ITEM_COLUMNS:
        raise BasketInputError.field(
            "item",
            "item must be one of {choices}",
            BasketInputError.default_code,
            {"choices": ", ".join(ITEM_COLUMNS)},
        )
    if scope.start is not None and scope.end is not None and scope.start > scope.end:
        raise BasketInputError.field(
            "from",
            "from ({from_}) is after to ({to})",
            BasketInputError.default_code,
            {"from_": scope.start.isoformat(), "to": scope.end.isoformat()},
        )


def _where(scope: BasketScope, chosen: list[StoreRef]) -> ColumnElement[bool]:
    """The purchases of the scope's stores within its business days (each store in its own zone)."""
    by_zone: dict[str, list[int]] = {}
    for s in chosen:
        by_zone.setdefault(s.timezone, []).append(s.id)
    parts: list[ColumnElement[bool]] = []
    for zone, ids in sorted(by_zone.items()):
        conds: list[ColumnElement[bool]] = [purchases.c.store_id.in_(ids)]
        if scope.start is not None:
            conds.append(purchases.c.occurred_at >= day_start(scope.start, zone))
        if scope.end is not None:
            conds.append(purchases.c.occurred_at < day_start(scope.end + timedelta(days=1), zone))
        parts.append(and_(*conds))
    return or_(*parts) if parts else false()


def _lines(scope: BasketScope, chosen: list[StoreRef], columns: list[Any]) -> Select[Any]:
    item = purchase_lines.c.sku if scope.item == "sku" else purchase_lines.c.category
    q = (
        select(*columns)
        .select_from(purchase_lines.join(purchases, purchases.c.id == purchase_lines.c.purchase_id))
        .where(purchase_lines.c.quantity > purchase_lines.c.returned_quantity)
        .where(item.is_not(None), item != "")
    )
    if scope.store_id is not None or scope.start is not None or scope.end is not None:
        q = q.where(_where(scope, chosen))
    return q


def load_baskets(ctx: Context, scope: BasketScope, *, max_lines: int | None = None) -> LoadedBaskets:
    """The scope's purchases as baskets; STORE_NOT_FOUND for an unknown store, and
    BASKET_SCOPE_TOO_LARGE (before reading them) when there are more than ``max_lines`` lines."""
    import pyarrow as pa

    from loyalty.analytics.basket import from_columns

    _check(scope)
    item = purchase_lines.c.sku if scope.item == "sku" else purchase_lines.c.category
    with read(ctx) as conn:
        every = [
            StoreRef.model_validate(r._asdict())
            for r in conn.execute(
                select(stores.c.id, stores.c.code, stores.c.name, stores.c.timezone).order_by(stores.c.id)
            )
        ]
        store = None
        if scope.store_id is not None:
            store = next((s for s in every if s.id == scope.store_id), None)
            if store is None:
                raise NotFound(
                    "STORE_NOT_FOUND", "store {store_id} does not exist", {"store_id": scope.store_id}
                )
        chosen = [store] if store is not None else every
        if max_lines is not None:
            lines = int(conn.execute(_lines(scope, chosen, [func.count()])).scalar_one())
            if lines > max_lines:
                raise ScopeTooLarge(
                    None,
                    "the scope holds {lines} purchase lines, more than the {limit} one request may mine: "
                    "choose a store or a shorter period, or mine it with `loyalty analytics basket`",
                    {"lines": lines, "limit": max_lines},
                )
        rows = conn.execute(_lines(scope, chosen, [purchase_lines.c.purchase_id, item])).all()
    baskets = from_columns(
        pa.array([r[0] for r in rows], pa.int64()), pa.array([r[1] for r in rows], pa.string())
    )
    return LoadedBaskets(baskets, store, len(rows))


@dataclass(frozen=True)
class PeriodLines:
    """Every store's purchase lines over business days [start, end] (lines returned in full left out),
    read once: the baskets of the chain or of any store, by SKU or category, are cut from them."""

    stores: list[StoreRef]
    start: date
    end: date
    purchase: Any  # pa.Array of int64: the line's purchase (its basket)
    store: Any  # np.ndarray of int64: the purchase's store
    sku: Any  # pa.Array of strings (nulls where none)
    category: Any

    def baskets(self, item: str, store_id: int | None = None) -> tuple[Baskets, int]:
        """(the baskets of `store_id`, or of the chain, with the lines' `item` as items; the lines
        they hold). A line without that item (no category, a blank SKU) is left out of them."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        from loyalty.analytics.basket import from_columns

        column = self.sku if item == "sku" else self.category
        blank = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(column), ""), True)
        keep = ~np.asarray(blank.to_numpy(zero_copy_only=False), dtype=bool)
        if store_id is not None:
            keep &= self.store == store_id
        lines = int(keep.sum())
        if not lines:
            return from_columns(pa.array([], pa.int64()), pa.array([], pa.string())), 0
        mask = pa.array(keep)
        return from_columns(self.purchase.filter(mask), column.filter(mask)), lines


def load_period_lines(ctx: Context, start: date, end: date) -> PeriodLines:
    """Every store's purchase lines over the business days [start, end], each store's in its own
    time zone, with their SKU and category: one query for every scope a refresh mines."""
    import numpy as np
    import pyarrow as pa

    with read(ctx) as conn:
        every = [
            StoreRef.model_validate(r._asdict())
            for r in conn.execute(
                select(stores.c.id, stores.c.code, stores.c.name, stores.c.timezone).order_by(stores.c.id)
            )
        ]
        q = (
            select(
                purchase_lines.c.purchase_id,
                purchases.c.store_id,
                purchase_lines.c.sku,
                purchase_lines.c.category,
            )
            .select_from(purchase_lines.join(purchases, purchases.c.id == purchase_lines.c.purchase_id))
            .where(purchase_lines.c.quantity > purchase_lines.c.returned_quantity)
            .where(_where(BasketScope(start=start, end=end), every))
        )
        rows = conn.execute(q).all()
    ids, store_ids, skus, categories = (
        (list(c) for c in zip(*rows, strict=True)) if rows else ([], [], [], [])
    )
    return PeriodLines(
        stores=every,
        start=start,
        end=end,
        purchase=pa.array(ids, pa.int64()),
        store=np.asarray(store_ids, dtype=np.int64),
        sku=pa.array(skus, pa.string()),
        category=pa.array(categories, pa.string()),
    )
