"""Per-customer purchase-day statistics from in-memory columns, through a customer × day bitmap.

Why: the costly step of a customer summary is finding the distinct (customer, day) pairs — a hash
aggregate over 10M transactions builds ~10M groups before the per-customer pass. When the number of
customers times the number of days in the data fits a bitmap (``MAX_BITMAP_BYTES``), setting one bit
per transaction and counting bits per customer row gives the purchase days, the first and the last
day in linear time, with no hashing of pairs and no sort. Amounts are summed with ``bincount``.

It computes exactly what :func:`loyalty.analytics.features.summary_expr` computes for a log without
returns; the Ibis expression stays the portable path (PostgreSQL, a bitmap too large, returns netted
per day), and the tests hold the two equal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

MAX_BITMAP_BYTES = 256 * 2**20
_WORD = 64
# Integer customer ids are used directly as row numbers when their range is at most this many times
# the row count (and the bitmap fits): no hashing at all for the usual dense member ids.
_DENSE_RANGE_FACTOR = 4

Int64s = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Customers:
    """Row number (0-based, in customer-id order) per transaction, and the id of every row number."""

    codes: Int64s
    ids: pa.Array
    count: int


@dataclass(frozen=True)
class DayStats:
    """Per customer row: purchase days, first/last day offset, transactions, spend, first-day spend."""

    n_days: Int64s
    first: Int64s
    last: Int64s
    orders: Int64s
    total: Floats
    first_spend: Floats


def encode_customers(ids: pa.ChunkedArray | pa.Array) -> Customers:
    """Map customer ids to dense row numbers that sort like the ids themselves.

    Dense integer ids (the usual member ids) map by subtraction; anything else is dictionary-encoded
    and the dictionary sorted, so row order equals ``ORDER BY customer_id`` for every type.
    """
    col = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
    if pa.types.is_integer(col.type) and len(col):
        lo, hi = (int(v) for v in pc.min_max(col).values())
        if hi - lo < _DENSE_RANGE_FACTOR * len(col) + 1024:
            codes = col.to_numpy(zero_copy_only=False).astype(np.int64, copy=False) - lo
            return Customers(codes, pa.array(np.arange(lo, hi + 1, dtype=np.int64)), hi - lo + 1)
    encoded = pc.dictionary_encode(col)
    dictionary = encoded.dictionary
    order = pc.sort_indices(dictionary).to_numpy()
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = np.arange(order.size, dtype=np.int64)
    codes = rank[encoded.indices.to_numpy(zero_copy_only=False)]
    return Customers(codes, dictionary.take(pa.array(order)), len(dictionary))


def fits(n_customers: int, span_days: int) -> bool:
    """Whether the customer × day bitmap stays within :data:`MAX_BITMAP_BYTES`."""
    return n_customers * _words(span_days) * 8 <= MAX_BITMAP_BYTES


def _words(span_days: int) -> int:
    return max(1, -(-span_days // _WORD))


def _lowest_bit(words: npt.NDArray[np.uint64]) -> Int64s:
    # trailing zeros = popcount((w & −w) − 1); exact integer arithmetic, no float log2
    low = words & (~words + np.uint64(1))
    return np.bitwise_count(low - np.uint64(1)).astype(np.int64)


def _highest_bit(words: npt.NDArray[np.uint64]) -> Int64s:
    smeared = words.copy()
    for shift in (1, 2, 4, 8, 16, 32):
        smeared |= smeared >> np.uint64(shift)
    return np.bitwise_count(smeared).astype(np.int64) - 1


def day_stats(codes: Int64s, day: Int64s, amount: Floats, n_customers: int, span_days: int) -> DayStats:
    """Statistics per customer row from transactions given as (row, day offset ≥ 0, amount).

    Customers without transactions get ``n_days == 0`` (their first/last are meaningless).
    """
    per_row = _words(span_days)
    bits = np.zeros(n_customers * per_row, dtype=np.uint64)
    key = codes * (per_row * _WORD) + day
    np.bitwise_or.at(bits.view(np.uint8), key >> 3, np.left_shift(1, key & 7).astype(np.uint8))
    grid = bits.reshape(n_customers, per_row)
    n_days = np.bitwise_count(grid).sum(axis=1, dtype=np.int64)
    nonzero = grid != 0
    rows = np.arange(n_customers)
    first_word = nonzero.argmax(axis=1)
    last_word = per_row - 1 - nonzero[:, ::-1].argmax(axis=1)
    first = first_word * _WORD + _lowest_bit(grid[rows, first_word])
    last = last_word * _WORD + _highest_bit(grid[rows, last_word])
    on_first = day == first[codes]
    return DayStats(
        n_days=n_days,
        first=first,
        last=last,
        orders=np.bincount(codes, minlength=n_customers).astype(np.int64),
        total=_sum_by(codes, amount, n_customers),
        first_spend=_sum_by(codes[on_first], amount[on_first], n_customers),
    )


def _sum_by(codes: Int64s, weights: Floats, n_customers: int) -> Floats:
    # bincount returns integers for empty input; the sums are always float64
    return np.bincount(codes, weights=weights, minlength=n_customers).astype(np.float64, copy=False)
