"""Tidsets as bit rows, and the two vectorised kernels of the miner: AND + popcount, and projection.

A tidset is the set of baskets holding an itemset. Stored as bits, the support of a join is the number
of set bits of the AND of its two parents' rows; NumPy does the AND and the population count
(``np.bitwise_count``) for thousands of candidates in one call, so the Python loop runs per level and
per width, not per itemset.

Rows are *projected* (as FP-growth projects its database): the members of an equivalence class — the
k-itemsets that share the (k−1)-itemset P — keep their tidsets over the baskets of P only, numbered
0…count(P)−1. A join in that class then costs ⌈count(P)/64⌉ words instead of one word per 64 baskets
of the whole data: at level three and beyond that is usually a single word. Widths are rounded up to a
power of two, so each level holds a handful of 2-D arrays (one per width) rather than ragged rows.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Words = npt.NDArray[np.uint64]
Int64s = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

#: bytes of AND results computed per chunk (fits a typical L2 cache)
CHUNK_BYTES = 1 << 20


def words_for(bits: int | Int64s) -> Int64s:
    """Words needed for ``bits`` bits, rounded up to a power of two (at least one)."""
    need = np.maximum(1, (np.asarray(bits, dtype=np.int64) + 63) // 64)
    return np.left_shift(1, np.ceil(np.log2(need)).astype(np.int64)).astype(np.int64)


def bit_rows(basket: Int64s, item: Int64s, n_items: int, n_baskets: int) -> Words:
    """An ``n_items × ⌈n_baskets/64⌉`` bit matrix from (basket, item) pairs, each pair present once.

    Built byte by byte with ``bincount``: the bits of one byte are distinct powers of two, so their sum
    is their OR and stays exact in the float weights ``bincount`` adds.
    """
    width = max(1, (n_baskets + 63) // 64) * 8
    index = item.astype(np.int64) * width + (basket >> 3)
    bits = np.left_shift(1, basket & 7).astype(np.float64)
    flat = np.bincount(index, weights=bits, minlength=n_items * width).astype(np.uint8)
    return flat.view(np.uint64).reshape(n_items, width // 8)


def and_counts(rows: Words, a: Int64s, b: Int64s) -> Int64s:
    """Set bits of ``rows[a] & rows[b]`` for every pair, in chunks."""
    width = rows.shape[1]
    if width == 1:  # one word a row: plain 1-D gathers
        flat = rows.ravel()
        both = flat[a]
        both &= flat[b]
        return np.bitwise_count(both).astype(np.int64)
    out = np.empty(len(a), dtype=np.int64)
    step = max(1, CHUNK_BYTES // (width * 8))
    small = np.uint16 if width < 1024 else np.int64  # a row's count fits 16 bits below 1,024 words
    for lo in range(0, len(a), step):
        hi = lo + step
        both = rows[a[lo:hi]]
        both &= rows[b[lo:hi]]
        out[lo:hi] = np.bitwise_count(both).sum(axis=1, dtype=small)
    return out


def and_rows(rows: Words, a: Int64s, b: Int64s) -> Words:
    """``rows[a] & rows[b]``, row by row."""
    out = rows[a]
    out &= rows[b]
    return out


def widths_in(widths: Int64s) -> list[int]:
    """The distinct widths (powers of two) present, ascending, without a sort."""
    return np.flatnonzero(np.bincount(widths)).tolist() if len(widths) else []


def set_bits(words: Words) -> tuple[Int64s, Int64s]:
    """(word number, bit number) of every set bit of ``words``.

    Sparse words (a bit or two each, the usual tidset) are peeled one lowest bit at a time, a pass
    per bit of the fullest word over the shrinking rest; dense ones are unpacked whole.
    """
    if len(words) == 0:
        e = np.zeros(0, dtype=np.int64)
        return e, e
    bits = int(np.bitwise_count(words).sum(dtype=np.int64))
    if bits > 6 * len(words):
        unpacked = np.unpackbits(words.view(np.uint8).reshape(-1, 8), axis=1, bitorder="little")
        word, bit = np.nonzero(unpacked)
        return word.astype(np.int64), bit.astype(np.int64)
    index = np.arange(len(words), dtype=np.int64)
    left = words.copy()
    found_word: list[Int64s] = []
    found_bit: list[Int64s] = []
    one = np.uint64(1)
    while len(left):
        low = left & (~left + one)
        found_word.append(index)
        found_bit.append(np.bitwise_count(low - one))
        left ^= low
        more = left != 0
        left, index = left[more], index[more]
    return np.concatenate(found_word), np.concatenate(found_bit).astype(np.int64)


def pack_groups(row: Int64s, bit: Int64s, widths: Int64s) -> dict[int, tuple[Int64s, Words]]:
    """Rows of differing widths packed at once: bit ``bit[e]`` of row ``row[e]`` (row r is
    ``widths[r]`` words wide), answered per width as (row numbers, rows × width words).

    The rows are laid end to end as one bit per byte, set by one scatter and packed by ``packbits``.
    """
    if len(widths) == 0:
        return {}
    order = np.argsort(widths, kind="stable")
    offset = np.empty(len(widths), dtype=np.int64)
    offset[order] = np.cumsum(widths[order]) - widths[order]
    total = int(widths.sum())
    dense = np.zeros(total * 64, dtype=bool)
    dense[offset[row] * 64 + bit] = True
    flat = np.packbits(dense, bitorder="little").view(np.uint64)
    out: dict[int, tuple[Int64s, Words]] = {}
    sorted_widths = widths[order]
    change = np.flatnonzero(sorted_widths[1:] != sorted_widths[:-1]) + 1
    bounds = np.concatenate(([0], change, [len(widths)]))
    for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=False):
        w = int(sorted_widths[lo])
        start = int(offset[order[lo]])
        out[w] = (order[lo:hi], flat[start : start + (hi - lo) * w].reshape(hi - lo, w))
    return out


def ranks_before(rows: Words) -> npt.NDArray[np.int32]:
    """Per word, the set bits of the row's earlier words (for :func:`project`)."""
    per_word = np.bitwise_count(rows).astype(np.int32)
    if rows.shape[1] == 1:
        return np.zeros_like(per_word)
    return np.cumsum(per_word, axis=1, dtype=np.int32) - per_word


def project(
    source: Words, before: npt.NDArray[np.int32], a: Int64s, b: Int64s, widths: Int64s
) -> dict[int, tuple[Int64s, Words]]:
    """The tidset of each join ``source[a] & source[b]``, re-expressed over the set bits of ``source[a]``.

    Row r of the answer has bit i set when the join holds the i-th set bit of ``source[a[r]]``: the
    tidset of a join written over the baskets of its left parent, the class its own joins will share.
    Only the set bits of the join are visited (a bit's rank is the popcount of the parent below it;
    ``before`` = :func:`ranks_before` of ``source``), so a sparse join costs little however wide its
    parent. Rows are grouped by their new width (``widths``, enough for the popcount of
    ``source[a[r]]``): width → (row numbers, rows × width words).
    """
    m = len(widths)
    out: dict[int, tuple[Int64s, Words]] = {}
    if m == 0:
        return out
    bits = source[a]
    bits &= source[b]
    nz_row, nz_word = np.nonzero(bits)
    which, bit = set_bits(bits[nz_row, nz_word])
    row, word = nz_row[which], nz_word[which]
    parent = a[row]
    below = source[parent, word] & (np.left_shift(np.uint64(1), bit.astype(np.uint64)) - np.uint64(1))
    rank = before[parent, word] + np.bitwise_count(below)
    return pack_groups(row, rank.astype(np.int64), widths)
