"""Market-basket analysis: frequent itemsets and association rules over purchases' items or categories.

Exact (the published Groceries and Online Retail results are reproduced in the tests) and fast:
a level-wise, vectorised Eclat over projected bit tidsets (:mod:`.itemsets`), rules read through the
itemsets' subset links (:mod:`.rules`). A support so low that the itemsets would explode is refused
with an estimate of their number before it exhausts the machine (:mod:`.estimate`).

>>> from loyalty.analytics.basket import from_lists, mine
>>> baskets = from_lists([["milk", "bread"], ["milk", "bread", "eggs"], ["milk"]])
>>> rules = mine(baskets, 0.5, 0.9, min_length=2)
>>> rules.to_frame()[["antecedent", "consequent", "confidence"]].to_dict("records")
[{'antecedent': '["bread"]', 'consequent': '["milk"]', 'confidence': 1.0}]
"""

from __future__ import annotations

from loyalty.analytics.basket.errors import BasketInputError, TooManyItemsets
from loyalty.analytics.basket.files import FORMATS, read_baskets
from loyalty.analytics.basket.itemsets import DEFAULT_LIMIT, Itemsets, frequent_itemsets, min_count_for
from loyalty.analytics.basket.rules import COLUMNS, SORT_KEYS, Rules, association_rules
from loyalty.analytics.basket.transactions import (
    Baskets,
    from_basket_lines,
    from_columns,
    from_lists,
    from_pairs,
)


def mine(
    baskets: Baskets,
    min_support: float,
    min_confidence: float,
    *,
    min_length: int = 1,
    max_length: int | None = None,
    max_consequent: int = 1,
    prune_redundant: bool = False,
    limit: int = DEFAULT_LIMIT,
) -> Rules:
    """Frequent itemsets of ``baskets`` at ``min_support``, then their rules at ``min_confidence``."""
    itemsets = frequent_itemsets(baskets, min_support, max_length=max_length, limit=limit)
    return association_rules(
        itemsets,
        min_confidence,
        min_length=min_length,
        max_length=max_length,
        max_consequent=max_consequent,
        prune_redundant=prune_redundant,
    )


__all__ = [
    "COLUMNS",
    "DEFAULT_LIMIT",
    "FORMATS",
    "SORT_KEYS",
    "BasketInputError",
    "Baskets",
    "Itemsets",
    "Rules",
    "TooManyItemsets",
    "association_rules",
    "frequent_itemsets",
    "from_basket_lines",
    "from_columns",
    "from_lists",
    "from_pairs",
    "min_count_for",
    "mine",
    "read_baskets",
]
