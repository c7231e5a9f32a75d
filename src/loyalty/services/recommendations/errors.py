"""Errors of the recommendations refresh (English templates, translated in ``errors.po``)."""

from __future__ import annotations

from loyalty.domain.errors import InvalidInput


class NoSales(InvalidInput):
    """Nothing was ever sold: there is nothing to learn from or to call popular."""

    default_code = "RECOMMENDATIONS_NO_SALES"
