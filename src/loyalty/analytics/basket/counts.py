"""Frequent item, pair and small-itemset counts as Ibis expressions: basket counting past one machine.

Why a second counter beside the Eclat miner (:mod:`.itemsets`): the miner holds every basket's items in
memory as bits, which is what makes it fast and what bounds it to one machine. Counting is the part
of basket analysis that grows with the transactions; the rules are then read off the counts. Written
once in Ibis, the counting runs on embedded DuckDB and, for a chain whose purchase lines no longer fit
one machine, on a Spark cluster (`loyalty.analytics.backends`), and gives the miner's counts exactly:
the tests compare all three.

The counting is SETM's (Houtsma & Swami, 1995), the set-oriented form of Apriori that a SQL engine runs
well: level k keeps the occurrences ``(basket, item_1 < … < item_k)`` of the frequent k-itemsets, joins
them with the basket's frequent items above ``item_k``, counts the (k+1)-itemsets by a GROUP BY and
keeps the occurrences of those that reach the minimum count. Each level is materialised once
(`backends.Scratch`: a temporary table in DuckDB, a persisted frame in Spark) and dropped at the end.

Items are compared as text (``item_1 < item_2``), which orders them as Python orders their labels, so
``items`` reads exactly as :meth:`Itemsets.to_frame` writes it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from loyalty.analytics.basket.errors import BasketInputError
from loyalty.analytics.basket.itemsets import min_count_for

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pandas as pd

#: the deepest level counted unless asked: pairs are what cross-selling needs, and each further level
#: is one more self-join of every basket's items
DEFAULT_MAX_LENGTH = 2


@dataclass(frozen=True)
class Counts:
    """The frequent itemsets' counts (``items`` a JSON array of labels, ``length``, ``count``,
    ``support``; as :meth:`Itemsets.to_frame`), the baskets counted and the minimum count used."""

    frame: pd.DataFrame
    baskets: int
    min_count: int


def basket_lines(lines: ir.Table, basket: str = "basket", item: str = "item") -> ir.Table:
    """Distinct ``(basket, item)`` rows, items as text; a row without an item (null or blank) is no
    line, and a basket without lines no basket (as :mod:`.transactions` counts them)."""
    for column in (basket, item):
        if column not in lines.columns:
            raise BasketInputError(
                None,
                "the baskets have no column {column} (columns: {columns})",
                {"column": column, "columns": ", ".join(lines.columns)},
            )
    text = lines[item].cast("string")
    return (
        lines.select(basket=lines[basket], item=text)
        .filter(text.notnull() & (text.strip() != ""), lines[basket].notnull())
        .distinct()
    )


def item_counts(lines: ir.Table, min_count: int = 1) -> ir.Table:
    """``item_1, count``: the baskets holding each item, the items in at least ``min_count``."""
    counted = lines.group_by(item_1=lines.item).aggregate(count=lines.count())
    return counted.filter(counted["count"] >= min_count)


def _extend(occurrences: ir.Table, lines: ir.Table, k: int) -> ir.Table:
    """The (k+1)-item occurrences: each k-item occurrence with every item of its basket above its last."""
    items = [f"item_{j}" for j in range(1, k + 1)]
    joined = occurrences.join(
        lines, [occurrences.basket == lines.basket, lines.item > occurrences[items[-1]]]
    )
    return joined.select(
        basket=occurrences.basket, **{c: occurrences[c] for c in items}, **{f"item_{k + 1}": lines.item}
    )


def level_counts(lines: ir.Table, min_count: int, max_length: int) -> Iterator[ir.Table]:
    """Level by level (k = 1 … ``max_length``), ``item_1 … item_k, count`` of the itemsets in at least
    ``min_count`` of ``lines``' baskets (`basket_lines`). Each level is materialised while the next is
    counted from it; everything is dropped when the last level is read or the caller stops."""
    from loyalty.analytics.backends import Scratch

    with Scratch() as scratch:
        frequent = scratch.keep(item_counts(lines, min_count))
        yield frequent
        if max_length < 2:
            return
        # only frequent items can be in a frequent itemset (Apriori): the joins see those alone
        kept = scratch.keep(lines.semi_join(frequent, lines.item == frequent.item_1))
        occurrences = kept.select("basket", item_1="item")
        for k in range(2, max_length + 1):
            extended = _extend(occurrences, kept, k - 1)
            items = [f"item_{j}" for j in range(1, k + 1)]
            counted = extended.group_by(items).aggregate(count=extended.count())
            level = scratch.keep(counted.filter(counted["count"] >= min_count))
            yield level
            if k < max_length:
                occurrences = scratch.keep(extended.semi_join(level, items))


def itemset_counts(
    lines: ir.Table,
    min_support: float,
    *,
    max_length: int = DEFAULT_MAX_LENGTH,
    basket: str = "basket",
    item: str = "item",
) -> Counts:
    """The frequent itemsets of up to ``max_length`` items in ``lines`` (one row per basket and item)
    at ``min_support``, counted where ``lines`` lives (DuckDB or Spark); as the miner counts them."""
    import numpy as np
    import pandas as pd

    if max_length < 1:
        raise BasketInputError(
            None, "the longest itemset must hold at least one item, not {value}", {"value": max_length}
        )
    distinct = basket_lines(lines, basket, item)
    n_baskets = int(distinct.basket.nunique().execute())
    if n_baskets == 0:
        raise BasketInputError(None, "there are no baskets to count (no line names an item)")
    min_count = min_count_for(min_support, n_baskets)
    parts: list[pd.DataFrame] = []
    for k, level in enumerate(level_counts(distinct, min_count, max_length), start=1):
        df = level.execute()
        if df.empty:
            break
        columns = [f"item_{j}" for j in range(1, k + 1)]
        labels = zip(*(df[c].astype(str).tolist() for c in columns), strict=True)
        parts.append(
            pd.DataFrame(
                {
                    "items": [json.dumps(list(row), ensure_ascii=False) for row in labels],
                    "length": k,
                    "count": df["count"].to_numpy(dtype=np.int64),
                }
            )
        )
    frame = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame({"items": [], "length": [], "count": []}).astype({"length": int, "count": int})
    )
    frame["support"] = frame["count"] / n_baskets
    frame = frame.sort_values(["length", "items"], kind="stable").reset_index(drop=True)
    return Counts(frame, n_baskets, min_count)
