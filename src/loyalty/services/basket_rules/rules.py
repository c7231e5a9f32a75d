"""Association rules of a store's (or the chain's) purchases, mined on request within set bounds.

Why on request and not stored: a chain asks about one store, one season, SKUs or categories, at the
thresholds of the question at hand; the rules change with each, and mining is fast. The time is
bounded instead: a scope of more than
``MAX_LINES`` purchase lines is refused before it is read (``BASKET_SCOPE_TOO_LARGE``), and a
support whose itemsets would pass ``MAX_ITEMSETS`` before they are mined (``BASKET_TOO_MANY_ITEMSETS``,
with the estimate). Larger jobs run with ``loyalty analytics basket``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from loyalty.analytics.basket.errors import BasketInputError
from loyalty.services.basket_rules.baskets import BasketScope, load_baskets
from loyalty.services.kpis.schemas import StoreRef

if TYPE_CHECKING:
    from loyalty.analytics.basket import Rules
    from loyalty.bootstrap import Context

#: purchase lines one request may read (a few seconds of SQL at most)
MAX_LINES = 1_000_000
#: frequent itemsets one request may mine
MAX_ITEMSETS = 200_000
#: rules one answer may list (``total`` still counts them all)
MAX_LIMIT = 1000
SORTS: tuple[str, ...] = ("lift", "confidence", "support", "leverage", "conviction")


@dataclass(frozen=True)
class Thresholds:
    """What a rule must reach to be listed, and how the list is ordered and cut."""

    min_support: float = 0.01
    min_confidence: float = 0.5
    min_length: int = 2
    max_length: int | None = None
    min_lift: float | None = None
    contains: str | None = None
    sort: str = "lift"
    limit: int = 100
    prune_redundant: bool = False


@dataclass(frozen=True)
class RuleRow:
    """One rule: item labels sorted, measures as floats; ``conviction`` None when the rule always holds."""

    antecedent: tuple[str, ...]
    consequent: tuple[str, ...]
    count: int
    support: float
    confidence: float
    lift: float
    leverage: float
    conviction: float | None


@dataclass(frozen=True)
class BasketRules:
    """The rules of a scope: what was mined (baskets, items, itemsets) and the best ``rules``."""

    scope: BasketScope
    store: StoreRef | None
    thresholds: Thresholds
    baskets: int
    lines: int
    items: int
    frequent_items: int
    itemsets: int
    min_count: int
    total: int
    rules: list[RuleRow]


def _check(t: Thresholds) -> None:
    code = BasketInputError.default_code
    if t.sort not in SORTS:
        raise BasketInputError.field(
            "sort", "sort must be one of {choices}", code, {"choices": ", ".join(SORTS)}
        )
    if not 1 <= t.limit <= MAX_LIMIT:
        raise BasketInputError.field("limit", "limit must be between 1 and {max}", code, {"max": MAX_LIMIT})
    if t.min_lift is not None and (math.isnan(t.min_lift) or t.min_lift < 0):
        raise BasketInputError.field("min_lift", "min_lift must not be negative", code)


def select_rules(rules: Rules, t: Thresholds) -> tuple[int, list[RuleRow]]:
    """The rules that pass ``min_lift`` and hold an item whose label contains ``contains`` (any case),
    ordered by ``sort``: (how many, the first ``limit``)."""
    keep = np.ones(len(rules), dtype=bool)
    if t.min_lift is not None:
        keep &= rules.lift >= t.min_lift
    if t.contains:
        wanted = t.contains.casefold()
        its = rules.itemsets
        hit = np.array([wanted in its.labels[c].casefold() for c in its.item_of.tolist()], dtype=bool)
        for k in np.unique(rules.length).tolist():
            at = np.flatnonzero(rules.length == k)
            keep[at] &= hit[its.levels[k].items[rules.row[at]]].any(axis=1)
    chosen = rules.take(np.flatnonzero(keep)).sorted(t.sort)
    shown = chosen.take(np.arange(min(t.limit, len(chosen))))
    return len(chosen), rule_rows(shown)


def rule_rows(rules: Rules) -> list[RuleRow]:
    """Each of `rules`, in their order, from the miner's arrays: its item labels and measures (what a
    request is answered and what the refresh stores)."""
    ante, cons = rules.item_lists()
    return [
        RuleRow(
            antecedent=tuple(a),
            consequent=tuple(c),
            count=int(n),
            support=float(s),
            confidence=float(cf),
            lift=float(li),
            leverage=float(le),
            conviction=None if math.isinf(cv) else float(cv),  # always holds
        )
        for a, c, n, s, cf, li, le, cv in zip(
            ante,
            cons,
            rules.count.tolist(),
            rules.support.tolist(),
            rules.confidence.tolist(),
            rules.lift.tolist(),
            rules.leverage.tolist(),
            rules.conviction.tolist(),
            strict=True,
        )
    ]


def basket_rules(
    ctx: Context,
    scope: BasketScope,
    thresholds: Thresholds,
    *,
    max_lines: int = MAX_LINES,
    max_itemsets: int = MAX_ITEMSETS,
) -> BasketRules:
    """Mine the scope's purchases at ``thresholds``. A scope without purchases answers no rules (not
    an error); bad thresholds are BASKET_INPUT_INVALID naming the field."""
    from loyalty.analytics.basket import association_rules, frequent_itemsets, min_count_for
    from loyalty.analytics.basket.rules import check_thresholds

    _check(thresholds)
    min_count_for(thresholds.min_support, 1)
    check_thresholds(thresholds.min_confidence, thresholds.min_length, thresholds.max_length, 1)
    loaded = load_baskets(ctx, scope, max_lines=max_lines)
    b = loaded.baskets
    if b.count == 0:
        return BasketRules(scope, loaded.store, thresholds, 0, 0, 0, 0, 0, 0, 0, [])
    itemsets = frequent_itemsets(
        b, thresholds.min_support, max_length=thresholds.max_length, limit=max_itemsets
    )
    rules = association_rules(
        itemsets,
        thresholds.min_confidence,
        min_length=thresholds.min_length,
        max_length=thresholds.max_length,
        prune_redundant=thresholds.prune_redundant,
    )
    total, rows = select_rules(rules, thresholds)
    return BasketRules(
        scope=scope,
        store=loaded.store,
        thresholds=thresholds,
        baskets=b.count,
        lines=loaded.lines,
        items=len(b.labels),
        frequent_items=itemsets.n_items,
        itemsets=itemsets.count(),
        min_count=itemsets.min_count,
        total=total,
        rules=rows,
    )
