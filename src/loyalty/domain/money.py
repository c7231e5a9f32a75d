"""Amounts people type (a CLI option, a search filter): read as Decimal, never float, and held to
the decimals of their currency instead of rounded, so that what is stored is exactly what was meant.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation


def parse_amount(text: str) -> Decimal | None:
    """`text` (spaces around allowed) as a finite Decimal; None when it is not a number."""
    try:
        amount = Decimal(text.strip())
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


def minor_units(amount: Decimal, currency: str) -> int | None:
    """`amount` in `currency`'s minor units (59.90 CNY → 5990); None when it has more decimals than the
    currency has, or is not finite."""
    from babel.numbers import get_currency_precision  # Babel only when an amount is read

    if not amount.is_finite():
        return None
    value = amount.scaleb(get_currency_precision(currency))
    return int(value) if value == value.to_integral_value() else None
