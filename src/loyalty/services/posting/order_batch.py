"""A batch of orders in columns: what the set-based posting routine takes.

One column per field (a NumPy or Arrow array; a till's few sales keep their strings as lists), the
orders in posting order and their lines contiguous (order i owns lines
`offsets[i]:offsets[i + 1]`): an import's batch of a hundred thousand orders, or the few POS sales a
server received at once (`from_items`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import accumulate, pairwise
from typing import TypeAlias, cast

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from loyalty.db.stored_time import epoch_us, instant
from loyalty.domain.channels import DEFAULT_CHANNEL, is_default_channel
from loyalty.domain.earning import line_amount
from loyalty.domain.sale_limits import line_faults
from loyalty.domain.staff import is_staff_code
from loyalty.services.schemas import PurchaseIn, PurchaseLineIn

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: `OrderBatch.member_id` of an anonymous sale (ids start at 1)
ANONYMOUS = 0

#: up to this many lines (the till's few sales) a batch's string columns are checked and looked up in
#: Python: an Arrow call costs more than the whole check at that size
FEW_LINES = 256

#: a column of strings (or nulls): an Arrow array (an import's batch, from its file) or a list (the
#: till's few sales, `OrderBatch.from_items`, which Arrow would cost more to build and read back)
Strings: TypeAlias = pa.Array | list[str | None]


def texts(column: Strings) -> list[str | None]:
    """The column's values as a list."""
    return column if isinstance(column, list) else column.to_pylist()


def arrow(column: Strings) -> pa.Array:
    """The column as an Arrow array (for Arrow's compute functions over an import's batch)."""
    return column if isinstance(column, pa.Array) else pa.array(column, pa.string())


def has_null(column: Strings) -> bool:
    """Whether any value of the column is null."""
    return None in column if isinstance(column, list) else bool(column.null_count)


@dataclass
class OrderBatch:
    """Orders in posting order; their lines contiguous, order i owning lines offsets[i]:offsets[i+1].

    An anonymous sale's member id is `ANONYMOUS` (0): it is written with its lines and nothing else.
    `channel` holds each order's channel (`domain.channels`); None means every order is a store sale.
    `staff` holds who rang each order (a staff code, `domain.staff`, or null); None means nobody is
    named for any order. `brand` holds each line's brand (or null); None means no line names one.
    """

    store_id: IntArray
    order_id: Strings
    occurred_us: IntArray  # epoch microseconds, UTC
    member_id: IntArray
    offsets: IntArray
    sku: Strings  # per line
    category: Strings  # or null, per line
    quantity: IntArray
    unit_price_minor: IntArray
    discount_minor: IntArray
    currency: str | None = None
    channel: Strings | None = None  # per order
    staff: Strings | None = None  # or null, per order
    brand: Strings | None = None  # or null, per line

    def __len__(self) -> int:
        return len(self.store_id)

    @classmethod
    def from_items(cls, items: Sequence[PurchaseIn], currency: str | None = None) -> OrderBatch:
        """The columnar form of sales as the live path takes them (each naming its member by id, or
        none: an anonymous sale)."""
        if any(item.member_id is None and not item.anonymous for item in items):
            raise ValueError("a batch names its members by id")
        flat = [ln for item in items for ln in item.lines]
        counts = [len(item.lines) for item in items]
        channels = [item.channel for item in items]
        staff = [item.staff for item in items]
        brands = [ln.brand for ln in flat]
        return cls(
            store_id=np.array([item.store_id for item in items], dtype=np.int64),
            order_id=[item.order_id for item in items],
            occurred_us=np.array([epoch_us(item.occurred_at) for item in items], dtype=np.int64),
            member_id=np.array(
                [ANONYMOUS if item.member_id is None else item.member_id for item in items], dtype=np.int64
            ),
            offsets=np.array(list(accumulate(counts, initial=0)), dtype=np.int64),
            sku=[ln.sku for ln in flat],
            category=[ln.category for ln in flat],
            quantity=np.array([ln.quantity for ln in flat], dtype=np.int64),
            unit_price_minor=np.array([ln.unit_price_minor for ln in flat], dtype=np.int64),
            discount_minor=np.array([ln.discount_minor for ln in flat], dtype=np.int64),
            currency=currency,
            channel=None if all(map(is_default_channel, channels)) else list(channels),
            staff=None if all(code is None for code in staff) else list(staff),
            brand=None if all(b is None for b in brands) else list(brands),
        )

    def channels(self) -> list[str]:
        """Each order's channel."""
        if self.channel is None:
            return [DEFAULT_CHANNEL] * len(self)
        return cast(list[str], texts(self.channel))  # a channel is never null

    def staff_codes(self) -> list[str | None]:
        """Who rang each order (None where nobody is named)."""
        if self.staff is None:
            return [None] * len(self)
        return texts(self.staff)

    @cached_property
    def lines_per_order(self) -> IntArray:
        """How many lines each order has (read several times a batch: worked out once)."""
        counts: IntArray = np.diff(self.offsets)
        return counts

    def line_amounts(self) -> IntArray:
        """Each line's amount (`domain.earning.line_amount`)."""
        amounts: IntArray = line_amount(self.quantity, self.unit_price_minor, self.discount_minor)
        return amounts

    def anonymous(self) -> BoolArray | None:
        """Which orders are anonymous; None when none is."""
        anonymous: BoolArray = self.member_id == ANONYMOUS
        return anonymous if anonymous.any() else None

    def members(self) -> IntArray:
        """The members the batch names, sorted and unique (the anonymous sales name none)."""
        if len(self) <= FEW_LINES:  # a till's few sales: a set of Python ints costs less than NumPy's sort
            few: IntArray = np.array(sorted(set(self.member_id.tolist()) - {ANONYMOUS}), dtype=np.int64)
            return few
        named: IntArray = np.unique(self.member_id[self.member_id != ANONYMOUS])
        return named

    def well_formed(self, amounts: IntArray) -> bool:
        """Whether every order has lines, an order id and every line a sku, a positive quantity and
        no negative price, discount or amount, and names its staff by a staff code if at all (what the
        live routine refuses, naming the field)."""
        if len(self) == 0:
            return False
        if self.lines_per_order.min() <= 0 or any(
            fault.any()
            for fault in line_faults(self.quantity, self.unit_price_minor, self.discount_minor, amounts)
        ):
            return False
        if has_null(self.order_id) or has_null(self.sku):
            return False
        if len(self.quantity) <= FEW_LINES:
            if not _order_ids_named(texts(self.order_id)):
                return False
            staff = set(self.staff_codes())
        else:
            if pc.min(pc.utf8_length(pc.utf8_trim_whitespace(arrow(self.order_id)))).as_py() == 0:
                return False
            staff = set(pc.unique(arrow(self.staff)).to_pylist()) if self.staff is not None else {None}
        return all(code is None or is_staff_code(code) for code in staff)

    def items(self) -> list[PurchaseIn]:
        """The same orders as the live path's input (for the fallback and for tests)."""
        skus = texts(self.sku)
        categories = texts(self.category)
        brands = [None] * len(categories) if self.brand is None else texts(self.brand)
        quantities, prices, discounts = (
            self.quantity.tolist(),
            self.unit_price_minor.tolist(),
            self.discount_minor.tolist(),
        )
        out = []
        for i, (store_id, order_id, occurred_us, member_id, channel, staff) in enumerate(
            zip(
                self.store_id.tolist(),
                texts(self.order_id),
                self.occurred_us.tolist(),
                self.member_id.tolist(),
                self.channels(),
                self.staff_codes(),
                strict=True,
            )
        ):
            lo, hi = int(self.offsets[i]), int(self.offsets[i + 1])
            out.append(
                PurchaseIn(
                    store_id=store_id,
                    order_id=order_id,
                    occurred_at=instant(occurred_us),
                    member_id=None if member_id == ANONYMOUS else member_id,
                    channel=channel,
                    lines=[
                        PurchaseLineIn(
                            sku=skus[j],
                            category=categories[j],
                            quantity=quantities[j],
                            unit_price_minor=prices[j],
                            discount_minor=discounts[j],
                            brand=brands[j],
                        )
                        for j in range(lo, hi)
                    ],
                    currency=self.currency,
                    staff=staff,
                )
            )
        return out


def _order_ids_named(order_ids: list[str | None]) -> bool:
    """Whether every order id holds more than blanks."""
    return all((order_id or "").strip() for order_id in order_ids)


def ints(column: IntArray | list[int]) -> list[int]:
    """An integer column's values as a list."""
    return column if isinstance(column, list) else column.tolist()


@dataclass
class OrderLists:
    """A few orders in `OrderBatch`'s columns, as Python lists: what the few-orders form reads
    (`few_orders`), for which building and reading arrays costs more than the work on them."""

    store_id: list[int]
    order_id: list[str | None]
    occurred_us: list[int]
    member_id: list[int]
    offsets: list[int]
    sku: list[str | None]
    category: list[str | None]
    quantity: list[int]
    unit_price_minor: list[int]
    discount_minor: list[int]
    currency: str | None = None
    channel: list[str | None] | None = None
    staff: list[str | None] | None = None
    brand: list[str | None] | None = None

    def __len__(self) -> int:
        return len(self.store_id)

    @classmethod
    def of(cls, batch: OrderBatch) -> OrderLists:
        """`batch`'s columns as lists."""
        return cls(
            batch.store_id.tolist(), texts(batch.order_id), batch.occurred_us.tolist(),
            batch.member_id.tolist(), batch.offsets.tolist(), texts(batch.sku), texts(batch.category),
            batch.quantity.tolist(), batch.unit_price_minor.tolist(), batch.discount_minor.tolist(),
            batch.currency,
            None if batch.channel is None else texts(batch.channel),
            None if batch.staff is None else texts(batch.staff),
            None if batch.brand is None else texts(batch.brand),
        )  # fmt: skip

    def channels(self) -> list[str]:
        """Each order's channel."""
        if self.channel is None:
            return [DEFAULT_CHANNEL] * len(self)
        return cast(list[str], self.channel)  # a channel is never null

    def well_formed(self, amounts: list[int]) -> bool:
        """`OrderBatch.well_formed`, the lines taken one by one."""
        if not self.store_id or any(lo >= hi for lo, hi in pairwise(self.offsets)):
            return False
        lines = zip(self.quantity, self.unit_price_minor, self.discount_minor, amounts, strict=True)
        if any(any(line_faults(*line)) for line in lines):
            return False
        if None in self.order_id or None in self.sku or not _order_ids_named(self.order_id):
            return False
        return self.staff is None or all(code is None or is_staff_code(code) for code in self.staff)
