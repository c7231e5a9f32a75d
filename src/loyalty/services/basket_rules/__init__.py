"""Market-basket rules of the chain's purchases: which products (or categories) sell together.

Read by the API (``GET /api/v1/analytics/basket-rules``), the CLI (``loyalty analytics basket``
without a file) and the console's basket-rules browser; campaigns can call :func:`basket_rules` for
cross-sell offers. The mining itself is :mod:`loyalty.analytics.basket`.
"""

from __future__ import annotations

from loyalty.services.basket_rules.baskets import ITEM_COLUMNS, BasketScope, LoadedBaskets, load_baskets
from loyalty.services.basket_rules.rules import (
    MAX_ITEMSETS,
    MAX_LIMIT,
    MAX_LINES,
    SORTS,
    BasketRules,
    RuleRow,
    Thresholds,
    basket_rules,
    select_rules,
)

__all__ = [
    "ITEM_COLUMNS",
    "MAX_ITEMSETS",
    "MAX_LIMIT",
    "MAX_LINES",
    "SORTS",
    "BasketRules",
    "BasketScope",
    "LoadedBaskets",
    "RuleRow",
    "Thresholds",
    "basket_rules",
    "load_baskets",
    "select_rules",
]
