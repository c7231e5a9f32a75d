"""The largest sale the ledger takes.

A sale's total and the points it earns are stored in 64-bit columns, and the set-based posting sums
them in 64-bit arrays, where an overflow wraps around silently. A sale over `MAX_SALE_MINOR`
(¥10 trillion in fen) is refused before either can happen: every other sum the ledger keeps stays
far from the limit.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from loyalty.domain.earning import line_amount

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
