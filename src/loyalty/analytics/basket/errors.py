"""Errors of basket analysis: domain errors with English templates (translated in ``errors.po``).

They subclass :class:`~loyalty.domain.errors.InvalidInput`, so the API answers 422 and the CLI names
the code, and they carry their figures in ``details`` so that a caller can act on them: the estimated
number of itemsets of a refused support, the row of a bad input line. Raise them with ``None`` as the
code (the class's own) and a literal template: ``BasketInputError(None, "row {row}: …", {"row": 3})``.
"""

from __future__ import annotations

from loyalty.domain.errors import InvalidInput


class BasketInputError(InvalidInput):
    """The baskets cannot be mined as given: no baskets, a missing column, a bad row, a bad threshold."""

    default_code = "BASKET_INPUT_INVALID"


class TooManyItemsets(InvalidInput):
    """The support is so low that the frequent itemsets would pass the limit: refused before mining
    them. ``details``: ``estimated`` (itemsets), ``limit``, ``min_support``, ``min_count`` (baskets)."""

    default_code = "BASKET_TOO_MANY_ITEMSETS"

    @property
    def estimated(self) -> int:
        return int((self.details or {}).get("estimated", 0))


class ScopeTooLarge(InvalidInput):
    """More purchase lines than a request may mine in bounded time (``details``: lines, limit)."""

    default_code = "BASKET_SCOPE_TOO_LARGE"
