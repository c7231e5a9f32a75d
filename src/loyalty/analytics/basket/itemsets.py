"""Frequent itemsets by a level-wise, vectorised Eclat over projected bit tidsets, subset links kept.

Items that reach the minimum count are renumbered by ascending count (Eclat's usual order: rare
prefixes have small equivalence classes). Level 2 counts the pairs of every basket: short baskets'
pairs are enumerated and counted with ``bincount``, long baskets (Online Retail's invoices of hundreds
of items) are counted as bits, each item pair ANDing its rows, the split chosen by a cost model. The
pair counts also feed the explosion estimate (:mod:`.estimate`) before anything deeper is mined.

Level k+1 joins two k-itemsets that share their first k−1 items (rows are kept in lexicographic
order, so such classes are runs) and counts every join with one vectorised AND + popcount of its
parents' tidsets. A tidset is held over the baskets of its class's prefix, not over all baskets
(:mod:`.bitsets`), so a join costs a word or a few where a full-width row would cost one word per 64
baskets; rows are re-projected onto a narrower prefix only when the joins to come repay it.

Each level keeps, for every itemset and every position j, the row number in the level below of the
itemset without its j-th item (``sub``). Rule confidences, closed and maximal flags and redundancy
are then gathers over those links, with no hashing of itemsets: a k-itemset's subsets are found by
searching a sorted key ``parent × n + last item``, the level's own order.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

from loyalty.analytics.basket import bitsets
from loyalty.analytics.basket.errors import BasketInputError, TooManyItemsets
from loyalty.analytics.basket.transactions import Baskets

if TYPE_CHECKING:
    import pandas as pd

Int64s = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
Target = Literal["all", "closed", "maximal"]

#: default ceiling on frequent itemsets; a request estimated above it is refused before mining
DEFAULT_LIMIT = 1_000_000


@dataclass
class Level:
    """The frequent k-itemsets: ``items`` (rows × k, internal ids, rows in lexicographic order),
    ``counts``, ``sub`` (rows × k: row in level k−1 without item j) and ``keys`` (sorted search keys)."""

    items: npt.NDArray[np.int32]
    counts: Int64s
    sub: Int64s
    keys: Int64s
    closed: Bools | None = None
    maximal: Bools | None = None

    def __len__(self) -> int:
        return len(self.counts)


@dataclass
class Itemsets:
    """Every frequent itemset, level by level (``levels[k]`` holds the k-itemsets; level 0 is ∅)."""

    baskets: int
    min_count: int
    labels: tuple[str, ...]
    item_of: Int64s  # internal id → code into ``labels``
    levels: list[Level]
    complete: bool = True  # False when ``max_length`` cut the mining short
    empty_baskets: int = 0

    @property
    def n_items(self) -> int:
        return len(self.item_of)

    def count(self, min_length: int = 1, max_length: int | None = None) -> int:
        top = len(self.levels) - 1 if max_length is None else min(max_length, len(self.levels) - 1)
        return sum(len(self.levels[k]) for k in range(max(min_length, 1), top + 1))

    def mark_closed_maximal(self) -> None:
        """Flag closed itemsets (no superset with the same count) and maximal ones (no frequent superset).

        Immediate supersets suffice: a superset with the same count has an immediate one on the way.
        The longest level mined has no known supersets, so with a ``max_length`` cut its itemsets count
        as closed and maximal *among the itemsets up to that length* (as pyfim's ``zmax``).
        """
        for level in self.levels:
            level.closed = np.ones(len(level), dtype=bool)
            level.maximal = np.ones(len(level), dtype=bool)
        for k in range(2, len(self.levels)):
            upper, lower = self.levels[k], self.levels[k - 1]
            assert lower.closed is not None
            assert lower.maximal is not None
            lower.maximal[upper.sub.ravel()] = False
            same = upper.counts[:, None] == lower.counts[upper.sub]
            lower.closed[upper.sub[same]] = False

    def to_frame(self, target: Target = "all", min_length: int = 1) -> pd.DataFrame:
        """One itemset per row: ``items`` (a JSON array of labels, sorted), ``length``, ``count`` and
        ``support``; ``target`` "closed" or "maximal" keeps only those (see `mark_closed_maximal`)."""
        import json

        import pandas as pd

        if target not in ("all", "closed", "maximal"):
            raise BasketInputError(
                None, "unknown target {target}: use all, closed or maximal", {"target": target}
            )
        if target != "all" and (len(self.levels) < 2 or self.levels[1].closed is None):
            self.mark_closed_maximal()
        order = sorted(range(self.n_items), key=lambda i: self.labels[self.item_of[i]])
        rank = np.empty(self.n_items, dtype=np.int64)
        rank[order] = np.arange(self.n_items)
        shown = np.array(
            [json.dumps(self.labels[self.item_of[i]], ensure_ascii=False) for i in order], dtype=object
        )
        items: list[str] = []
        counts: list[Int64s] = []
        lengths: list[int] = []
        for k in range(max(1, min_length), len(self.levels)):
            level = self.levels[k]
            chosen = np.ones(len(level), dtype=bool)
            if target != "all":
                flags = level.closed if target == "closed" else level.maximal
                assert flags is not None
                chosen = flags
            names = shown[np.sort(rank[level.items[chosen]], axis=1)].tolist()
            items += ["[" + ", ".join(row) + "]" for row in names]
            counts.append(level.counts[chosen])
            lengths += [k] * int(chosen.sum())
        count = np.concatenate(counts) if counts else np.zeros(0, dtype=np.int64)
        return pd.DataFrame(
            {"items": items, "length": lengths, "count": count, "support": count / self.baskets}
        )


def min_count_for(min_support: float, baskets: int) -> int:
    """The smallest basket count whose share ``count / baskets`` reaches ``min_support``.

    Compared as the shares themselves are (a correctly rounded division), so 10 of 10,000 baskets
    reach a support of 0.001 however 0.001 × 10,000 rounds.
    """
    if not (0 < min_support <= 1) or math.isnan(min_support):
        raise BasketInputError(
            None, "the minimum support must be above 0 and at most 1, not {value}", {"value": min_support}
        )
    c = max(1, math.ceil(min_support * baskets))
    while c > 1 and (c - 1) / baskets >= min_support:
        c -= 1
    while c <= baskets and c / baskets < min_support:
        c += 1
    return c


def _ragged_arange(sizes: Int64s) -> Int64s:
    """0…s−1 for every s in ``sizes``, concatenated."""
    total = int(sizes.sum())
    starts = np.cumsum(sizes) - sizes
    return np.arange(total, dtype=np.int64) - np.repeat(starts, sizes)


def class_pairs(parent: Int64s) -> tuple[Int64s, Int64s]:
    """Every pair (a, b), a < b, of rows with the same ``parent`` (runs of a non-decreasing array)."""
    n = len(parent)
    if n < 2:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    starts, sizes = _runs(parent)
    run_end = np.repeat(starts + sizes, sizes)
    rows = np.arange(n, dtype=np.int64)
    partners = run_end - rows - 1
    a = np.repeat(rows, partners)
    b = a + 1 + _ragged_arange(partners)
    return a, b


def pair_candidates(parent: Int64s) -> int:
    """How many joins :func:`class_pairs` would produce, without producing them."""
    if len(parent) < 2:
        return 0
    _, sizes = _runs(parent)
    return int((sizes * (sizes - 1) // 2).sum())


@dataclass
class _Prepared:
    """The baskets restricted to frequent items, renumbered 0…n−1 by ascending count."""

    n: int
    item_of: Int64s  # internal id → code into the labels
    counts: Int64s  # per internal id
    basket: Int64s  # entries in basket order (within a basket, in no particular item order)
    item: Int64s


def _prepare(baskets: Baskets, min_count: int) -> _Prepared:
    counts = np.bincount(baskets.codes, minlength=len(baskets.labels)).astype(np.int64)
    frequent = np.flatnonzero(counts >= min_count)
    order = frequent[np.lexsort((frequent, counts[frequent]))]  # ascending count, then code
    internal = np.full(len(baskets.labels), -1, dtype=np.int64)
    internal[order] = np.arange(len(order))
    mapped = internal[baskets.codes]
    keep = mapped >= 0
    # entries stay in basket order; within a basket the internal ids are in no particular order
    return _Prepared(len(order), order.astype(np.int64), counts[order], baskets.basket_of[keep], mapped[keep])


def _rank_in_item(prep: _Prepared) -> tuple[Int64s, Int64s]:
    """Entries grouped by item (baskets ascending within each), and each entry's rank in its item."""
    key = prep.item.astype(np.int16) if prep.n < 1 << 15 else prep.item
    by_item = np.argsort(key, kind="stable")  # a radix sort for 16-bit keys
    first = np.cumsum(prep.counts) - prep.counts
    rank = np.empty(len(by_item), dtype=np.int64)
    rank[by_item] = np.arange(len(by_item), dtype=np.int64) - np.repeat(first, prep.counts)
    return by_item, rank


@dataclass
class _Tids:
    """Projected tidsets of a level's joinable rows: ``width`` (0: not joinable) and ``pos`` per row,
    and per width the rows × width word matrix."""

    width: Int64s
    pos: Int64s
    arrays: dict[int, bitsets.Words]

    @classmethod
    def gather(cls, n_rows: int, parts: dict[int, list[tuple[Int64s, bitsets.Words]]]) -> _Tids:
        width = np.zeros(n_rows, dtype=np.int64)
        pos = np.zeros(n_rows, dtype=np.int64)
        arrays: dict[int, bitsets.Words] = {}
        for w, chunks in parts.items():
            rows = np.concatenate([r for r, _ in chunks])
            arrays[w] = np.concatenate([x for _, x in chunks]) if len(chunks) > 1 else chunks[0][1]
            width[rows] = w
            pos[rows] = np.arange(len(rows))
        return cls(width, pos, arrays)


#: relative costs (ns) of counting one pair occurrence in a basket and of one word of a bitset join;
#: they choose which baskets' pairs are enumerated and which are counted as bits (see `_pair_counts`)
_PAIR_COST, _WORD_COST = 12.0, 1.0
#: relative costs of a word of a join and of a set bit of a projection (see `_join`)
_JOIN_WORD_COST, _PROJECT_BIT_COST = 5.0, 100.0
_DENSE_PAIRS = 4096  # at most this many frequent items: pair counts in a dense n × n matrix
_CHUNK_PAIRS = 1 << 20


def _basket_pairs(
    basket: Int64s, chosen: Bools | None = None
) -> tuple[Int64s, Iterator[tuple[Int64s, Int64s]]]:
    """The entries (of a basket-ordered ``basket`` array) of the baskets flagged in ``chosen`` (all
    when None), and every pair (a, b), a < b, of positions in that list that fall in one basket, in
    chunks of at most ``_CHUNK_PAIRS``."""
    entries = np.arange(len(basket), dtype=np.int64) if chosen is None else np.flatnonzero(chosen[basket])

    def chunks() -> Iterator[tuple[Int64s, Int64s]]:
        if len(entries) < 2:
            return
        starts, sizes = _runs(basket[entries])
        partners = np.repeat(starts + sizes, sizes) - np.arange(len(entries)) - 1
        cum = np.cumsum(sizes * (sizes - 1) // 2)
        lo_b = 0
        while lo_b < len(sizes):
            hi_b = int(np.searchsorted(cum, (cum[lo_b - 1] if lo_b else 0) + _CHUNK_PAIRS, side="right"))
            hi_b = max(hi_b, lo_b + 1)
            lo_e, hi_e = int(starts[lo_b]), int(starts[hi_b]) if hi_b < len(starts) else len(entries)
            p = partners[lo_e:hi_e]
            first = np.arange(lo_e, hi_e, dtype=np.int64)
            a = np.repeat(first, p)
            # pair g of entry e's block is (e, e + 1 + g − start(e)): one repeat gives e + 1 − start(e)
            b = np.repeat(first + 1 - (np.cumsum(p) - p), p)
            b += np.arange(len(b), dtype=np.int64)
            yield a, b
            lo_b = hi_b

    return entries, chunks()


def _pairs_enumerated(prep: _Prepared, short: Bools, counts: npt.NDArray[np.int32]) -> None:
    """Add to ``counts`` (n × n) the pairs of every basket flagged ``short``, each pair once in
    one of its two cells (the caller adds the matrix to its transpose)."""
    n = prep.n
    entries, pairs = _basket_pairs(prep.basket, short)
    scaled = prep.item[entries] * n
    item = prep.item[entries]
    for a, b in pairs:
        key = scaled[a]
        key += item[b]
        counts += np.bincount(key, minlength=n * n).reshape(n, n).astype(np.int32)


def _pairs_as_bits(prep: _Prepared, long: Bools, counts: npt.NDArray[np.int32]) -> None:
    """Add to ``counts`` the pairs of the baskets flagged ``long``: every item pair ANDs its bit rows.

    The rows are transposed (words × items), so a block of items is ANDed with all the items after
    its first at once and the popcounts are summed over the leading axis: contiguous adds, no gathers.
    """
    n = prep.n
    number = np.cumsum(long) - 1
    entry_long = long[prep.basket]
    rows = bitsets.bit_rows(number[prep.basket[entry_long]], prep.item[entry_long], n, int(long.sum()))
    words = np.ascontiguousarray(rows.T)
    small = np.uint16 if words.shape[0] < 1024 else np.int32
    block = max(1, bitsets.CHUNK_BYTES * 2 // (n * words.shape[0] * 8))
    for lo in range(0, n - 1, block):
        hi = min(n, lo + block)
        both = words[:, lo:hi, None] & words[:, None, lo:]
        counts[lo:hi, lo:] += np.bitwise_count(both).sum(axis=0, dtype=small)


def _long_baskets(prep: _Prepared, n_baskets: int) -> Bools:
    """The baskets whose pairs are cheaper to count as bits than to enumerate (see `_pair_counts`)."""
    n = prep.n
    sizes = np.bincount(prep.basket, minlength=n_baskets).astype(np.int64)
    order = np.sort(sizes)[::-1]
    pairs_below = np.cumsum((order * (order - 1) // 2)[::-1])[::-1]  # pairs of baskets order[i:]
    long_count = np.arange(len(order), dtype=np.int64)  # baskets order[:i] counted as bits
    cost = _PAIR_COST * pairs_below + _WORD_COST * (n * (n - 1) / 2) * np.ceil(long_count / 64)
    best = int(np.argmin(cost))
    if best == 0:
        return np.zeros(n_baskets, dtype=bool)
    return np.asarray(sizes > order[best])


def _level_two_by_pairs(
    prep: _Prepared, min_count: int, tidsets: bool
) -> tuple[Int64s, Int64s, Int64s, _Tids | None] | None:
    """Frequent pairs and their projected tidsets from one enumeration of every basket's pairs, when
    they all fit one chunk and none is worth counting as bits (short baskets: Groceries); else None."""
    n = prep.n
    sizes = np.bincount(prep.basket).astype(np.int64)
    total = int((sizes * (sizes - 1) // 2).sum())
    as_bits = _WORD_COST * (n * (n - 1) / 2) * ((len(sizes) + 63) // 64)
    if n > _DENSE_PAIRS or total > _CHUNK_PAIRS or _PAIR_COST * total > as_bits:
        return None
    _, pairs = _basket_pairs(prep.basket)
    chunk = next(pairs, None)
    e = np.zeros(0, dtype=np.int64)
    a, b = chunk if chunk is not None else (e, e)
    x, y = prep.item[a], prep.item[b]
    swap = x > y  # the pair (min, max), and the entry of its first item
    first = np.where(swap, b, a)
    low = np.minimum(x, y)
    key = low * (n - 1) + x + y  # low·n + high
    counts = np.bincount(key, minlength=n * n)
    found = np.flatnonzero(counts >= min_count)
    i, j, c = found // n, found % n, counts[found].astype(np.int64)
    if not tidsets:
        return i, j, c, None
    rows = np.flatnonzero(_joinable(i))
    local = np.full(n * n, -1, dtype=np.int64)
    local[found[rows]] = np.arange(len(rows))
    row = local[key]
    on = row >= 0
    _, rank = _rank_in_item(prep)
    widths = bitsets.words_for(prep.counts[i[rows]])
    packed = bitsets.pack_groups(row[on], rank[first[on]], widths)
    return i, j, c, _Tids.gather(len(i), {w: [(rows[r], words)] for w, (r, words) in packed.items()})


def _pair_counts(prep: _Prepared, n_baskets: int, min_count: int) -> tuple[Int64s, Int64s, Int64s]:
    """Frequent pairs (i < j, lexicographic order) and their counts.

    A basket of m frequent items holds m(m−1)/2 pairs; as bits it costs every item pair one word per
    64 baskets. Baskets are split at the size where enumerating their pairs starts to cost more than
    counting them as bits (Online Retail has invoices of 500 items: they go to the bits), so the work
    is close to the smaller of the two for every data set.
    """
    n = prep.n
    if n < 2:
        e = np.zeros(0, dtype=np.int64)
        return e, e, e
    if n > _DENSE_PAIRS:
        return _pair_counts_sparse(prep, min_count)
    long = _long_baskets(prep, n_baskets)
    counts = np.zeros((n, n), dtype=np.int32)
    _pairs_enumerated(prep, ~long, counts)
    counts += counts.T
    if long.any():
        _pairs_as_bits(prep, long, counts)
    upper = np.triu(counts, k=1)
    i, j = np.nonzero(upper >= min_count)
    return i.astype(np.int64), j.astype(np.int64), upper[i, j].astype(np.int64)


def _pair_counts_sparse(prep: _Prepared, min_count: int) -> tuple[Int64s, Int64s, Int64s]:
    """Frequent pairs of many items (no dense matrix): a sparse ``Xᵀ X``."""
    from scipy import sparse

    n = prep.n
    n_baskets = int(prep.basket.max()) + 1
    x = sparse.csr_matrix(
        (np.ones(len(prep.item), dtype=np.int32), (prep.basket, prep.item)), shape=(n_baskets, n)
    )
    gram = sparse.triu(x.T.tocsr() @ x, k=1).tocoo()
    keep = gram.data >= min_count
    i, j, c = gram.row[keep].astype(np.int64), gram.col[keep].astype(np.int64), gram.data[keep]
    order = np.lexsort((j, i))
    return i[order], j[order], c[order].astype(np.int64)


#: the items × baskets bit matrix is used for the pairs' tidsets up to this size, else tid lists
_DENSE_BITS_BYTES = 64 << 20


def _pair_tids(prep: _Prepared, n_baskets: int, i: Int64s, j: Int64s, c: Int64s, joinable: Bools) -> _Tids:
    """Projected tidsets of the joinable pairs (i, j): the baskets of i holding j, over i's baskets.

    Built from whichever is cheaper: the pairs of every basket (one bit each, Groceries) or the
    AND of the two items' bit rows (Online Retail, whose long invoices hold millions of pairs).
    """
    rows = np.flatnonzero(joinable)
    parts: dict[int, list[tuple[Int64s, bitsets.Words]]] = {}
    if not len(rows):
        return _Tids.gather(len(i), parts)
    widths = bitsets.words_for(prep.counts[i[rows]])
    sizes = np.bincount(prep.basket, minlength=n_baskets).astype(np.int64)
    enumerated = _PAIR_COST * float((sizes * (sizes - 1) // 2).sum())
    as_bits = _WORD_COST * 4 * len(rows) * ((n_baskets + 63) // 64)
    dense = prep.n * ((n_baskets + 63) // 64) * 8 <= _DENSE_BITS_BYTES
    if dense and as_bits < enumerated:
        items = bitsets.bit_rows(prep.basket, prep.item, prep.n, n_baskets)
        full = items.shape[1]
        # Project a class (the pairs of one first item) only where its joins to come repay the pass
        # over its set bits (see `_join`); the others keep every basket, full width.
        starts, run = _runs(i[rows])
        size = np.repeat(run, run)
        gain = _JOIN_WORD_COST * (size - 1) / 2 * (full - widths)
        cost = _PROJECT_BIT_COST * c[rows].astype(np.float64)
        worth = np.repeat(np.add.reduceat(gain - cost, starts) > 0, run) & (widths < full)
        keep = rows[~worth]
        if len(keep):
            parts[full] = [(keep, bitsets.and_rows(items, i[keep], j[keep]))]
        rows, widths = rows[worth], widths[worth]
        before = bitsets.ranks_before(items) if len(rows) else items[:0].astype(np.int32)
        step = max(1, bitsets.CHUNK_BYTES * 4 // (full * 8))
        for lo in range(0, len(rows), step):
            r = rows[lo : lo + step]
            for w, (sub, words) in bitsets.project(items, before, i[r], j[r], widths[lo : lo + step]).items():
                parts.setdefault(w, []).append((r[sub], words))
        return _Tids.gather(len(i), parts)
    # the pairs of every basket: pair (x, y), x < y, sets the bit of the basket's rank among x's
    _, rank = _rank_in_item(prep)
    n = prep.n
    order = np.argsort(prep.basket * n + prep.item)  # items ascending within each basket: x < y
    item, rank = prep.item[order], rank[order]
    local = np.full(n * n, -1, dtype=np.int64)
    local[i[rows] * n + j[rows]] = np.arange(len(rows))
    found_row: list[Int64s] = []
    found_bit: list[Int64s] = []
    _, pairs = _basket_pairs(prep.basket[order])
    for a, b in pairs:
        row = local[item[a] * n + item[b]]
        on = row >= 0
        found_row.append(row[on])
        found_bit.append(rank[a[on]])
    packed = bitsets.pack_groups(np.concatenate(found_row), np.concatenate(found_bit), widths)
    return _Tids.gather(len(i), {w: [(rows[r], words)] for w, (r, words) in packed.items()})


def _runs(parent: Int64s) -> tuple[Int64s, Int64s]:
    """Starts and sizes of the runs of equal values of a non-decreasing array."""
    if len(parent) == 0:
        e = np.zeros(0, dtype=np.int64)
        return e, e
    starts = np.concatenate(([0], np.flatnonzero(parent[1:] != parent[:-1]) + 1))
    return starts, np.diff(np.append(starts, len(parent)))


def _joinable(parent: Int64s) -> Bools:
    """Rows whose class (same parent) has another member: only they take part in joins."""
    _, sizes = _runs(parent)
    return np.repeat(sizes > 1, sizes)


class _Limit:
    """The itemset ceiling, checked as levels are mined; a refusal carries the estimated total."""

    def __init__(self, limit: int, min_support: float, min_count: int, top: int, floor: float) -> None:
        self.limit, self.min_support, self.min_count, self.top = limit, min_support, min_count, top
        self.floor = floor  # itemsets certain to be frequent (see `estimate.extrapolate`)

    def check(self, level_sizes: list[int], partial: float = 0.0) -> None:
        from loyalty.analytics.basket.estimate import extrapolate

        if sum(level_sizes) + partial > self.limit or self.floor > self.limit:
            estimated = extrapolate(level_sizes, partial, self.top, floor=self.floor)
            estimated = max(estimated, self.limit + 1)
            raise TooManyItemsets(
                None,
                "a minimum support of {min_support} (a basket count of {min_count}) would give about "
                "{estimated:,} frequent itemsets, more than the limit of {limit:,}: raise the minimum "
                "support or set a maximum length",
                {
                    "estimated": estimated,
                    "limit": self.limit,
                    "min_support": self.min_support,
                    "min_count": self.min_count,
                },
            )


def _join(
    level: Level, tids: _Tids, n: int, min_count: int, project: bool, limit: _Limit, sizes: list[int]
) -> tuple[Level, _Tids | None]:
    """The (k+1)-itemsets from the k-itemsets of ``level``: every pair of one class, counted."""
    k = level.items.shape[1]
    parent = level.sub[:, -1]
    starts, run = _runs(parent)
    per_class = run * (run - 1) // 2
    cum = np.cumsum(per_class)
    total_candidates = int(cum[-1]) if len(cum) else 0
    found: list[tuple[Int64s, Int64s, Int64s]] = []
    parts: dict[int, list[tuple[Int64s, bitsets.Words]]] = {}
    befores: dict[int, npt.NDArray[np.int32]] = {}
    kept = 0
    c0 = 0
    done = 0
    while c0 < len(starts):
        c1 = int(np.searchsorted(cum, done + _CHUNK_PAIRS, side="right"))
        c1 = max(c1, c0 + 1)
        lo = int(starts[c0])
        hi = int(starts[c1]) if c1 < len(starts) else len(parent)
        done = int(cum[c1 - 1])
        c0 = c1
        a, b = class_pairs(parent[lo:hi])
        a += lo
        b += lo
        width = tids.width[a]
        counts = np.zeros(len(a), dtype=np.int64)
        for w in bitsets.widths_in(width):
            sel = width == w
            counts[sel] = bitsets.and_counts(tids.arrays[w], tids.pos[a[sel]], tids.pos[b[sel]])
        keep = counts >= min_count
        a, b, counts = a[keep], b[keep], counts[keep]
        if not len(a):
            continue
        base = kept
        kept += len(a)
        found.append((a, b, counts))
        # the share of candidates seen so far that were frequent, applied to the rest
        limit.check(sizes, kept + (total_candidates - done) * kept / max(done, 1))
        if project:
            _starts_a, run_a = _runs(a)
            class_size = np.repeat(run_a, run_a)
            rows = np.flatnonzero(class_size > 1)
            ja, jb = a[rows], b[rows]
            jw = tids.width[ja]
            for w in bitsets.widths_in(jw):
                sel = jw == w
                source = tids.arrays[w]
                pa_, pb_ = tids.pos[ja[sel]], tids.pos[jb[sel]]
                widths = bitsets.words_for(level.counts[ja[sel]])
                # Projecting onto the left parent's baskets narrows the rows of the next level's joins
                # but costs a pass per set bit; where the joins to come are too few to repay it, the
                # rows keep the class's baskets (their width), as do rows whose width would not shrink.
                gain = _JOIN_WORD_COST * float(((class_size[rows[sel]] - 1) / 2 * (w - widths)).sum())
                cost = _PROJECT_BIT_COST * float(counts[rows[sel]].sum())
                same = (widths == w) | (gain <= cost)
                if same.any():
                    keep_rows = source[pa_[same]]
                    keep_rows &= source[pb_[same]]
                    parts.setdefault(w, []).append((base + rows[sel][same], keep_rows))
                shrink = ~same
                if shrink.any():
                    if w not in befores:
                        befores[w] = bitsets.ranks_before(source)
                    for nw, (r, words) in bitsets.project(
                        source, befores[w], pa_[shrink], pb_[shrink], widths[shrink]
                    ).items():
                        parts.setdefault(nw, []).append((base + rows[sel][shrink][r], words))
    if not found:
        return Level(
            np.zeros((0, k + 1), np.int32),
            np.zeros(0, np.int64),
            np.zeros((0, k + 1), np.int64),
            np.zeros(0, np.int64),
        ), None
    a = np.concatenate([f[0] for f in found])
    b = np.concatenate([f[1] for f in found])
    counts = np.concatenate([f[2] for f in found])
    last = level.items[b, -1].astype(np.int64)
    subs = []
    for pos in range(k - 1):  # the k-subsets without item pos (the other two are a and b)
        subs.append(np.searchsorted(level.keys, level.sub[a, pos] * n + last))
    new = Level(
        np.column_stack((level.items[a], last.astype(np.int32))),
        counts,
        np.column_stack((*subs, b, a)),
        a * n + last,
    )
    return new, (_Tids.gather(len(new), parts) if project else None)


def frequent_itemsets(
    baskets: Baskets,
    min_support: float,
    *,
    max_length: int | None = None,
    limit: int = DEFAULT_LIMIT,
) -> Itemsets:
    """All itemsets in at least ``min_support`` of the baskets (as a share), up to ``max_length`` items.

    Refuses with :class:`TooManyItemsets` when there would be more than ``limit``: estimated from the
    exact counts of items and pairs before the deeper levels are mined (:mod:`.estimate`), and then
    checked as each level is mined, so a refusal costs no more than mining ``limit`` itemsets.
    """
    from loyalty.analytics.basket.estimate import estimate_from_pairs, subsets_up_to
    from loyalty.analytics.basket.memory import keep_freed_memory

    keep_freed_memory()

    if baskets.count == 0:
        raise BasketInputError(
            None, "there are no baskets with items to mine ({empty} empty baskets)", {"empty": baskets.empty}
        )
    if max_length is not None and max_length < 1:
        raise BasketInputError(
            None, "the maximum length must be at least 1, not {value}", {"value": max_length}
        )
    n_baskets = baskets.count
    min_count = min_count_for(min_support, n_baskets)
    top = max_length if max_length is not None else 1 << 30
    prep = _prepare(baskets, min_count)
    n = prep.n
    result = Itemsets(n_baskets, min_count, baskets.labels, prep.item_of, [], empty_baskets=baskets.empty)
    result.levels.append(
        Level(
            np.zeros((1, 0), dtype=np.int32),
            np.array([n_baskets], dtype=np.int64),
            np.zeros((1, 0), dtype=np.int64),
            np.zeros(1, dtype=np.int64),
        )
    )
    floor = 0.0
    if min_count == 1 and n:  # every subset of every basket is frequent
        floor = subsets_up_to(int(np.bincount(prep.basket).max()), top)
    guard = _Limit(limit, min_support, min_count, top, floor)
    guard.check([n])
    if n == 0:
        return result
    result.levels.append(
        Level(
            np.arange(n, dtype=np.int32)[:, None],
            prep.counts,
            np.zeros((n, 1), dtype=np.int64),
            np.arange(n, dtype=np.int64),
        )
    )
    if top < 2:
        result.complete = n < 2
        return result
    quick = _level_two_by_pairs(prep, min_count, top > 2)
    i, j, c = quick[:3] if quick is not None else _pair_counts(prep, n_baskets, min_count)
    sizes = [n, len(i)]
    guard.check(sizes, estimate_from_pairs(i, n, top))
    level = Level(np.column_stack((i, j)).astype(np.int32), c, np.column_stack((j, i)), i * n + j)
    result.levels.append(level)
    if quick is not None:
        tids = quick[3]
    else:
        tids = _pair_tids(prep, n_baskets, i, j, c, _joinable(i)) if top > 2 else None
    k = 2
    while tids is not None and len(level) > 1 and k < top:
        level, tids = _join(level, tids, n, min_count, k + 1 < top, guard, sizes)
        if not len(level):
            break
        result.levels.append(level)
        sizes.append(len(level))
        k += 1
    last = result.levels[-1]
    if k >= top and len(last) > 1 and pair_candidates(last.sub[:, -1]) > 0:
        result.complete = False
    return result
