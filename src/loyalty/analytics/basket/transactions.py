"""Baskets as compressed rows of item codes, built from Python lists, (basket, item) columns or files.

Every miner input becomes one :class:`Baskets`: ``indptr`` / ``codes`` in CSR form (the items of basket
``b`` are ``codes[indptr[b]:indptr[b + 1]]``, each once, ascending) and the item ``labels`` the codes
stand for. An item bought twice in one basket counts once, as in R's arules. Baskets without items
(an empty line, a purchase whose lines were all returned) are not baskets: they are counted in
``empty`` and left out of the support's denominator, so a file's trailing blank line changes nothing.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from loyalty.analytics.basket.errors import BasketInputError

Int64s = npt.NDArray[np.int64]
Int32s = npt.NDArray[np.int32]


@dataclass(frozen=True)
class Baskets:
    """Deduplicated baskets in CSR form over ``labels``; ``empty`` baskets were dropped."""

    indptr: Int64s
    codes: Int32s
    labels: tuple[str, ...]
    empty: int = 0

    @property
    def count(self) -> int:
        """Baskets with at least one item: the support's denominator."""
        return len(self.indptr) - 1

    @property
    def basket_of(self) -> Int64s:
        """The basket number of every entry of ``codes``."""
        return np.repeat(np.arange(self.count, dtype=np.int64), np.diff(self.indptr))

    def as_lists(self) -> list[list[str]]:
        """The baskets as lists of labels (for tests and other libraries)."""
        labels = self.labels
        codes = self.codes.tolist()
        bounds = self.indptr.tolist()
        return [[labels[c] for c in codes[a:b]] for a, b in itertools.pairwise(bounds)]


def from_pairs(basket: Int64s, item: Int64s, labels: Iterable[str], baskets: int | None = None) -> Baskets:
    """Baskets from parallel arrays of basket numbers (0…B-1) and item codes (into ``labels``).

    ``baskets`` is B when some basket numbers have no item (they count as empty baskets).
    """
    labels = tuple(labels)
    n_items = len(labels)
    n_baskets = int(basket.max()) + 1 if len(basket) else 0
    if baskets is not None:
        n_baskets = max(n_baskets, baskets)
    # Sorted and deduplicated; the input usually comes grouped by basket, which a stable sort
    # (timsort) exploits: several times faster here than np.unique's hashing.
    key = np.sort(basket.astype(np.int64) * max(n_items, 1) + item.astype(np.int64), kind="stable")
    if len(key) > 1:
        key = key[np.concatenate(([True], key[1:] != key[:-1]))]
    b = key // max(n_items, 1)
    codes = (key - b * max(n_items, 1)).astype(np.int32)
    sizes = np.bincount(b, minlength=n_baskets)
    filled = sizes[sizes > 0]
    indptr = np.zeros(len(filled) + 1, dtype=np.int64)
    np.cumsum(filled, out=indptr[1:])
    return Baskets(indptr, codes, labels, empty=int(n_baskets - len(filled)))


def from_lists(baskets: Iterable[Iterable[str]]) -> Baskets:
    """Baskets from an iterable of item-label iterables (one per basket).

    The labels are flattened in C (``itertools.chain``) and dictionary-encoded by Arrow, so no Python
    loop runs per item.
    """
    listed = [b if isinstance(b, list | tuple) else list(b) for b in baskets]
    sizes = np.fromiter((len(b) for b in listed), dtype=np.int64, count=len(listed))
    labels = list(itertools.chain.from_iterable(listed))
    try:
        flat = pa.array(labels, pa.string())
    except (pa.ArrowTypeError, pa.ArrowInvalid):  # labels that are not text: as str() writes them
        flat = pa.array([str(x) for x in labels], pa.string())
    codes, dictionary = _codes(flat)
    basket = np.repeat(np.arange(len(listed), dtype=np.int64), sizes)
    return from_pairs(basket, codes, [str(x) for x in dictionary.to_pylist()], baskets=len(listed))


def _codes(column: pa.ChunkedArray | pa.Array) -> tuple[Int64s, pa.Array]:
    encoded = pc.dictionary_encode(column)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.unify_dictionaries() if hasattr(encoded, "unify_dictionaries") else encoded
        chunks = encoded.chunks
        dictionary = chunks[0].dictionary if chunks else pa.array([], pa.string())
        indices = pa.chunked_array([c.indices for c in chunks], type=pa.int32()).to_numpy()
        return np.asarray(indices, dtype=np.int64), dictionary
    return np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64), encoded.dictionary


def from_columns(basket: pa.ChunkedArray | pa.Array, item: pa.ChunkedArray | pa.Array) -> Baskets:
    """Baskets from a long table's basket and item columns, one (basket, item) pair per row.

    Items are labelled by their text (numbers as written: stock code 85123 → "85123"). A row with an
    empty basket or item is refused, naming the first such row (1-based, as the file's data rows).
    """
    if isinstance(basket, pa.ChunkedArray):
        basket = basket.combine_chunks()
    if isinstance(item, pa.ChunkedArray):
        item = item.combine_chunks()
    for name, col in (("basket", basket), ("item", item)):
        missing = col.is_null()
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            missing = pc.or_kleene(missing, pc.equal(pc.utf8_trim_whitespace(col), ""))
        missing = pc.fill_null(missing, True)
        if pc.any(missing).as_py():
            row = int(pc.index(missing, True).as_py()) + 1
            raise BasketInputError(
                None,
                "row {row}: the {column} column is empty (every row needs a basket and an item)",
                {"row": row, "column": name},
            )
    if not pa.types.is_string(item.type) and not pa.types.is_large_string(item.type):
        item = pc.cast(item, pa.string())
    basket_codes, _ = _codes(basket)
    item_codes, dictionary = _codes(item)
    return from_pairs(basket_codes, item_codes, [str(x) for x in dictionary.to_pylist()])


def from_basket_lines(text: str) -> Baskets:
    """Baskets from text with one basket per line and items separated by commas (no header, no quoting).

    Labels are kept exactly as written (Groceries has ``cream cheese`` with a trailing blank, and so has
    arules' copy); a blank line is an empty basket.
    """
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline ends the last line; it is not a basket
    if not lines:
        return Baskets(np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int32), (), 0)
    column = pa.array([line.removesuffix("\r") for line in lines], pa.string())
    parts = pc.split_pattern(column, ",")
    sizes = np.asarray(pc.list_value_length(parts).to_numpy(zero_copy_only=False), dtype=np.int64)
    flat = pc.list_flatten(parts)
    basket = np.repeat(np.arange(len(lines), dtype=np.int64), sizes)
    keep = pc.not_equal(flat, "")  # an empty line, or an empty item between two commas
    keep_np = np.asarray(keep.to_numpy(zero_copy_only=False), dtype=bool)
    flat = flat.filter(keep)
    basket = basket[keep_np]
    item_codes, dictionary = _codes(flat)
    return from_pairs(basket, item_codes, [str(x) for x in dictionary.to_pylist()], baskets=len(lines))
