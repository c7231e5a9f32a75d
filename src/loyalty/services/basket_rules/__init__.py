"""Market-basket rules of the chain's purchases: which products (or categories) sell together.

Two ways in. Stored (`refresh`, `stored`): the basket-rules job mines the chain and each store over
the last 90 days and keeps the rules; the console's basket page, ``GET
/api/v1/analytics/basket-rules/stored``, ``loyalty analytics basket-rules show`` and the programme
till's quote (:func:`cross_sell`, :func:`suggest`) read them without mining. On request (`rules`): any scope,
period and thresholds mined within bounds (``GET /api/v1/analytics/basket-rules``, the console's
custom scope, ``loyalty analytics basket`` without a file). The mining itself is
:mod:`loyalty.analytics.basket`.
"""

from __future__ import annotations

from loyalty.services.basket_rules.baskets import (
    ITEM_COLUMNS,
    BasketScope,
    LoadedBaskets,
    PeriodLines,
    load_baskets,
    load_period_lines,
)
from loyalty.services.basket_rules.cross_sell import CrossSell, Suggestion, cross_sell, suggest
from loyalty.services.basket_rules.refresh import (
    DEFAULT_DAYS,
    DEFAULT_THRESHOLDS,
    MinedSet,
    RefreshResult,
    RefreshThresholds,
    mine_set,
    refresh_basket_rules,
    write_sets,
)
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
from loyalty.services.basket_rules.stored import RuleSet, StoredRules, rule_sets, stored_rules

__all__ = [
    "DEFAULT_DAYS",
    "DEFAULT_THRESHOLDS",
    "ITEM_COLUMNS",
    "MAX_ITEMSETS",
    "MAX_LIMIT",
    "MAX_LINES",
    "SORTS",
    "BasketRules",
    "BasketScope",
    "CrossSell",
    "LoadedBaskets",
    "MinedSet",
    "PeriodLines",
    "RefreshResult",
    "RefreshThresholds",
    "RuleRow",
    "RuleSet",
    "StoredRules",
    "Suggestion",
    "Thresholds",
    "basket_rules",
    "cross_sell",
    "load_baskets",
    "load_period_lines",
    "mine_set",
    "refresh_basket_rules",
    "rule_sets",
    "select_rules",
    "stored_rules",
    "suggest",
    "write_sets",
]
