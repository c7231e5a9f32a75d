"""What a sale's lines must be: the checks a posting and a quote refuse alike, and the largest sale.

A sale's total and the points it earns are stored in 64-bit columns, and the set-based posting sums
them in 64-bit arrays, where an overflow wraps around silently. A sale over `MAX_SALE_MINOR`
(¥10 trillion in fen) is refused before either can happen: every other sum the ledger keeps stays
far from the limit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from loyalty.domain.earning import line_amount
from loyalty.domain.errors import InvalidInput, field_error

MAX_SALE_MINOR = 10**15


class Line(Protocol):
    """A receipt line in minor units."""

    @property
    def quantity(self) -> int: ...

    @property
    def unit_price_minor(self) -> int: ...

    @property
    def discount_minor(self) -> int: ...


def lines_total(lines: Iterable[Line]) -> int:
    """The lines' amounts added up: quantity × unit price, less the discount, per line."""
    return sum(line_amount(line.quantity, line.unit_price_minor, line.discount_minor) for line in lines)


def within_limit(lines: Iterable[Line]) -> bool:
    """Whether the lines add up to no more than a sale may be."""
    return lines_total(lines) <= MAX_SALE_MINOR


def line_faults(
    quantity: Any, unit_price_minor: Any, discount_minor: Any, amount_minor: Any
) -> tuple[Any, ...]:
    """The ways a line is refused, each a condition on one line's integers or on a batch's arrays: a
    quantity that is not positive, a negative price, a negative discount, a discount over the line's
    amount. A posting checks a sale's lines and the set-based routine a batch's by these very
    conditions."""
    return quantity <= 0, unit_price_minor < 0, discount_minor < 0, amount_minor < 0


def checked_amounts(lines: Sequence[Line], errors: list[dict[str, Any]]) -> list[int]:
    """Each line's amount; what the lines are refused for goes into `errors`, each field named as the
    API names it (`lines.0.discount`, not the column's `discount_minor`): no line, a quantity that is
    not positive, a negative price or discount, a discount over the line's amount, or lines adding up
    to more than a sale may be. A posting and a quote call it alike, so a cart is refused for the same
    reasons in both."""
    if not lines:
        errors.append(field_error("lines", "a purchase needs at least one line"))
    amounts = []
    for i, line in enumerate(lines):
        amount = line_amount(line.quantity, line.unit_price_minor, line.discount_minor)
        quantity, price, discount, over = line_faults(
            line.quantity, line.unit_price_minor, line.discount_minor, amount
        )
        if quantity:
            errors.append(field_error(f"lines.{i}.quantity", "quantity must be positive"))
        if price:
            errors.append(field_error(f"lines.{i}.unit_price", "price must not be negative"))
        if discount:
            errors.append(field_error(f"lines.{i}.discount", "discount must not be negative"))
        if over:
            errors.append(field_error(f"lines.{i}.discount", "discount exceeds line amount"))
        amounts.append(amount)
    if sum(amounts) > MAX_SALE_MINOR:
        errors.append(field_error("lines", "the lines add up to more than a sale may be"))
    return amounts


def refusal(errors: list[dict[str, Any]]) -> InvalidInput:
    """The error of a sale or cart refused for `errors` (at least one): QUANTITY_INVALID when a
    quantity is among them, else PURCHASE_INVALID; its message is the first one's."""
    code = "QUANTITY_INVALID" if any("quantity" in e["field"] for e in errors) else "PURCHASE_INVALID"
    return InvalidInput(code, errors[0]["message"], {"errors": errors})
