"""Association rules from frequent itemsets: support, confidence, lift, leverage, conviction.

A rule X ⇒ Y comes from the frequent itemset Z = X ∪ Y; its antecedent's count is read through the
itemsets' subset links (no search), so all rules of a level are computed in a few array operations.
Consequents have one item by default, as in R's arules (``apriori``); ``max_consequent`` allows more.
The length of a rule is the number of items of X ∪ Y, as arules' ``minlen`` / ``maxlen`` count it;
with a minimum length of 1 a rule may have an empty antecedent (∅ ⇒ {y}, confidence = support of y).

Measures, for N baskets and counts n(·):

* support = n(X ∪ Y) / N
* confidence = n(X ∪ Y) / n(X)
* lift = confidence / (n(Y) / N)
* leverage = support − n(X) n(Y) / N²
* conviction = (1 − n(Y) / N) / (1 − confidence), infinite for a rule that always holds

A rule is *redundant* (``prune_redundant``) when a more general rule — the same consequent and a
proper, non-empty subset of the antecedent — has at least its confidence: arules' ``is.redundant``
taken over every frequent subset, so the answer does not depend on which general rules the
thresholds kept.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from loyalty.analytics.basket.errors import BasketInputError
from loyalty.analytics.basket.itemsets import Itemsets

if TYPE_CHECKING:
    import pandas as pd

Int64s = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]

#: the columns of a rules table, in order (the stable output of `loyalty analytics basket`)
COLUMNS = ("antecedent", "consequent", "support", "confidence", "lift", "leverage", "conviction")
SORT_KEYS = ("lift", "confidence", "support", "leverage", "conviction")


@dataclass(frozen=True)
class Rules:
    """Rules as arrays: rule r comes from row ``row[r]`` of level ``length[r]`` of ``itemsets``, its
    consequent being the items at the positions set in ``consequent_mask[r]``."""

    itemsets: Itemsets
    length: Int64s
    row: Int64s
    consequent_mask: Int64s
    count: Int64s
    antecedent_count: Int64s
    consequent_count: Int64s

    def __len__(self) -> int:
        return len(self.count)

    @property
    def support(self) -> Floats:
        return self.count / self.itemsets.baskets

    @property
    def confidence(self) -> Floats:
        return self.count / self.antecedent_count

    @property
    def lift(self) -> Floats:
        n = self.itemsets.baskets
        return self.count * n / (self.antecedent_count * self.consequent_count.astype(np.float64))

    @property
    def leverage(self) -> Floats:
        n = float(self.itemsets.baskets)
        return self.count / n - (self.antecedent_count / n) * (self.consequent_count / n)

    @property
    def conviction(self) -> Floats:
        n = float(self.itemsets.baskets)
        misses = (self.antecedent_count - self.count).astype(np.float64)
        with np.errstate(divide="ignore"):
            return np.where(
                misses > 0,
                (n - self.consequent_count) * self.antecedent_count / (n * np.maximum(misses, 1)),
                np.inf,
            )

    def measure(self, name: str) -> Floats:
        if name not in SORT_KEYS:
            raise BasketInputError(
                None,
                "unknown measure {name}: use one of {names}",
                {"name": name, "names": ", ".join(SORT_KEYS)},
            )
        return np.asarray(getattr(self, name), dtype=np.float64)

    def take(self, index: Int64s) -> Rules:
        """The rules at ``index``, in that order."""
        return Rules(
            self.itemsets,
            self.length[index],
            self.row[index],
            self.consequent_mask[index],
            self.count[index],
            self.antecedent_count[index],
            self.consequent_count[index],
        )

    def sorted(self, by: str = "lift") -> Rules:
        """Best first by ``by``, then by confidence, support and the rule's items (a stable order)."""
        keys = [self.measure(k) for k in (by, "confidence", "support")]
        order = np.lexsort((self.consequent_mask, self.row, self.length, *[-k for k in reversed(keys)]))
        return self.take(order)

    def _item_columns(self, render: list[str]) -> tuple[list[list[str]], list[list[str]]]:
        """Antecedents and consequents as lists of ``render[label]``, sorted by label: one array
        gather per (length, consequent) group of rules rather than a Python loop over items."""
        its = self.itemsets
        order = sorted(range(its.n_items), key=lambda i: its.labels[its.item_of[i]])
        rank = np.empty(its.n_items, dtype=np.int64)
        rank[order] = np.arange(its.n_items)
        shown = np.array([render[its.item_of[i]] for i in order], dtype=object)
        antecedents: list[list[str]] = [[] for _ in range(len(self))]
        consequents: list[list[str]] = [[] for _ in range(len(self))]
        group = self.length * (1 << 40) + self.consequent_mask
        for key in np.unique(group).tolist():
            at = np.flatnonzero(group == key)
            k, mask = key >> 40, key & ((1 << 40) - 1)
            items = rank[its.levels[k].items[self.row[at]]]
            for side, take in ((antecedents, False), (consequents, True)):
                cols = [p for p in range(k) if bool((mask >> p) & 1) == take]
                if not cols:
                    continue
                lists = shown[np.sort(items[:, cols], axis=1)].tolist()
                for r, names in zip(at.tolist(), lists, strict=True):
                    side[r] = names
        return antecedents, consequents

    def item_lists(self) -> tuple[list[list[str]], list[list[str]]]:
        """Antecedent and consequent of every rule as lists of item labels, each sorted by label."""
        return self._item_columns(list(self.itemsets.labels))

    def to_frame(self) -> pd.DataFrame:
        """One rule per row: ``antecedent, consequent`` as JSON arrays of labels, then the measures."""
        import pandas as pd

        quoted = [json.dumps(label, ensure_ascii=False) for label in self.itemsets.labels]
        ante, cons = self._item_columns(quoted)
        return pd.DataFrame(
            {
                "antecedent": ["[" + ", ".join(a) + "]" for a in ante],
                "consequent": ["[" + ", ".join(c) + "]" for c in cons],
                "support": self.support,
                "confidence": self.confidence,
                "lift": self.lift,
                "leverage": self.leverage,
                "conviction": self.conviction,
            },
            columns=list(COLUMNS),
        )


def check_thresholds(
    min_confidence: float, min_length: int, max_length: int | None, max_consequent: int
) -> None:
    if not 0 <= min_confidence <= 1 or np.isnan(min_confidence):
        raise BasketInputError(
            None, "the minimum confidence must be between 0 and 1, not {value}", {"value": min_confidence}
        )
    if min_length < 1:
        raise BasketInputError(
            None, "the minimum length must be at least 1, not {value}", {"value": min_length}
        )
    if max_length is not None and max_length < min_length:
        raise BasketInputError(
            None,
            "the maximum length ({maximum}) is below the minimum length ({minimum})",
            {"maximum": max_length, "minimum": min_length},
        )
    if max_consequent < 1:
        raise BasketInputError(
            None, "a consequent needs at least one item, not {value}", {"value": max_consequent}
        )


def _drop(itemsets: Itemsets, k: int, rows: Int64s, positions: tuple[int, ...]) -> Int64s:
    """Row numbers (in level k − len(positions)) of the k-itemsets ``rows`` without ``positions``."""
    idx = rows
    level = k
    for p in sorted(positions, reverse=True):  # dropping the last first keeps the others in place
        idx = itemsets.levels[level].sub[idx, p]
        level -= 1
    return idx


def association_rules(
    itemsets: Itemsets,
    min_confidence: float,
    *,
    min_length: int = 1,
    max_length: int | None = None,
    max_consequent: int = 1,
    prune_redundant: bool = False,
) -> Rules:
    """Every rule X ⇒ Y, X ∪ Y frequent, of at least ``min_confidence`` and of ``min_length`` to
    ``max_length`` items in all, with up to ``max_consequent`` items in Y (in mining order)."""
    check_thresholds(min_confidence, min_length, max_length, max_consequent)
    levels = itemsets.levels
    top = len(levels) - 1 if max_length is None else min(max_length, len(levels) - 1)
    parts: list[tuple[int, Int64s, Int64s, Int64s, Int64s, Int64s]] = []
    single = levels[1].counts if len(levels) > 1 else np.zeros(0, dtype=np.int64)
    best = _best_general(itemsets, top) if prune_redundant else None
    for k in range(max(min_length, 1), top + 1):
        level = levels[k]
        if not len(level):
            continue
        rows = np.arange(len(level), dtype=np.int64)
        for h in range(1, (min(max_consequent, k - 1) if k > 1 else 1) + 1):
            for positions in itertools.combinations(range(k), h):
                ante_rows = _drop(itemsets, k, rows, positions)
                ante = levels[k - h].counts[ante_rows]
                # conf ≥ c written without a division: n(Z) ≥ c·n(X), up to the rounding of c·n(X)
                ok = level.counts / ante >= min_confidence
                if best is not None and h == 1 and k >= 3:
                    ok &= best[k][:, positions[0]] < level.counts / ante
                if not ok.any():
                    continue
                others = tuple(p for p in range(k) if p not in positions)
                if h == 1:
                    cons = single[level.items[ok, positions[0]]]
                else:
                    cons = levels[h].counts[_drop(itemsets, k, rows[ok], others)]
                mask = sum(1 << p for p in positions)
                parts.append(
                    (
                        k,
                        rows[ok],
                        np.full(int(ok.sum()), mask, dtype=np.int64),
                        level.counts[ok],
                        ante[ok],
                        cons,
                    )
                )
    if not parts:
        e = np.zeros(0, dtype=np.int64)
        return Rules(itemsets, e, e, e, e, e, e)
    return Rules(
        itemsets,
        np.concatenate([np.full(len(p[1]), p[0], dtype=np.int64) for p in parts]),
        np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] for p in parts]),
        np.concatenate([p[3] for p in parts]),
        np.concatenate([p[4] for p in parts]),
        np.concatenate([p[5] for p in parts]),
    )


def _best_general(itemsets: Itemsets, top: int) -> dict[int, Floats]:
    """For every k-itemset Z and position j: the highest confidence of X' ⇒ {z_j} over the proper,
    non-empty subsets X' of Z \\ {z_j}, level by level (−∞ where there are none, k = 2)."""
    levels = itemsets.levels
    best: dict[int, Floats] = {}
    conf: dict[int, Floats] = {}
    for k in range(2, top + 1):
        level = levels[k]
        below = levels[k - 1]
        conf[k] = (
            np.column_stack([level.counts / below.counts[level.sub[:, j]] for j in range(k)])
            if len(level)
            else np.zeros((0, k))
        )
        b = np.full((len(level), k), -np.inf)
        if k >= 3:
            for j in range(k):
                for i in range(k):
                    if i == j:
                        continue
                    smaller = level.sub[:, i]  # Z without z_i still holds z_j, at position j or j − 1
                    jj = j if i > j else j - 1
                    b[:, j] = np.maximum(
                        b[:, j], np.maximum(conf[k - 1][smaller, jj], best[k - 1][smaller, jj])
                    )
        best[k] = b
    return best
