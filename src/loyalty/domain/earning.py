"""Earning rules: N points per currency unit of eligible spend, times the tier multiplier.

Rounding policy ROUND_DOWN_PER_LINE: each line earns floor(amount × N × multiplier / (100 × minor per
unit)); the purchase earns the sum. Per-line rounding makes per-line reversal exact (a line returned in
full takes back exactly what it earned) and never pays out a fraction the member did not earn.

The rules are written once (`line_points`, `line_eligible`, `lot_times`, `debt_paid`) as arithmetic
that means the same on Python integers and on NumPy arrays: the live path calls them with one line's
integers (no array set-up per sale), the bulk import with a whole batch's arrays, so a point earned
through either path is the same point. Conditions are multiplied in as 0/1 (`x * (cond)`), which is
what both integers and arrays do with a boolean.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

MINOR_PER_UNIT = 100
#: the rule an anonymous sale records: none earned it anything (a claim writes the one it then earns by)
ANONYMOUS_RULE = "anonymous"
US_PER_DAY = 86_400 * 1_000_000


def line_amount(quantity: Any, unit_price_minor: Any, discount_minor: Any) -> Any:
    """What a line costs: quantity × unit price, less its discount (integers or arrays)."""
    return quantity * unit_price_minor - discount_minor


def line_points(amount_minor: Any, excluded: Any, points_per_unit: Any, multiplier_pct: Any) -> Any:
    """Points each line earns (ROUND_DOWN_PER_LINE); excluded categories and non-positive amounts earn 0.

    Integers for one line, or arrays (scalars broadcast) for many: the same formula either way.
    """
    raw = (amount_minor * points_per_unit * multiplier_pct) // (100 * MINOR_PER_UNIT)
    return raw * ((excluded == 0) & (amount_minor > 0))


def line_eligible(amount_minor: Any, excluded: Any) -> Any:
    """Spend that counts towards earning: the line amount unless its category is excluded (never < 0)."""
    return amount_minor * ((excluded == 0) & (amount_minor > 0))


@lru_cache(maxsize=1024)
def rule_label(points_per_unit: int, tier_code: str, multiplier_pct: int, excluded: frozenset[str]) -> str:
    """Human-readable rule id stored on every earning entry (a handful of distinct ones: cached, as every
    sale asks for its own)."""
    excl = ",".join(sorted(excluded)) or "-"
    return f"base:{points_per_unit}/unit;tier:{tier_code}x{multiplier_pct}%;excl:{excl}"


def lot_times(occurred_us: Any, return_window_days: Any, expiry_days: Any) -> tuple[Any, Any]:
    """(available_at, expires_at) of earned lots, in epoch microseconds (UTC); integers or arrays.

    Points stay pending for the return window after the sale and expire `expiry_days` after it.
    """
    return (
        occurred_us + return_window_days * US_PER_DAY,
        occurred_us + expiry_days * US_PER_DAY,
    )


def debt_paid(points: Any, debt_before: Any) -> Any:
    """New points pay existing debt first: the part of each credit that goes to the debt (integers or arrays).

    ``min(points, max(debt, 0))`` written as arithmetic so that it means the same on both.
    """
    owed = debt_before * (debt_before > 0)
    return owed + (points - owed) * (points < owed)


@dataclass(frozen=True)
class LineIn:
    amount_minor: int
    category: str | None


@dataclass(frozen=True)
class EarningRule:
    points_per_unit: int
    multiplier_pct: int
    excluded_categories: frozenset[str]
    tier_code: str

    @property
    def label(self) -> str:
        """Human-readable rule id stored on every earning entry."""
        return rule_label(self.points_per_unit, self.tier_code, self.multiplier_pct, self.excluded_categories)

    def is_excluded(self, line: LineIn) -> bool:
        return line.category is not None and line.category in self.excluded_categories

    def line_points(self, line: LineIn) -> int:
        """Points of one line, by the same rule the bulk import applies to arrays."""
        return int(
            line_points(line.amount_minor, self.is_excluded(line), self.points_per_unit, self.multiplier_pct)
        )

    def eligible(self, line: LineIn) -> int:
        return int(line_eligible(line.amount_minor, self.is_excluded(line)))


def cumulative_share(total: int, part_before: int, part_after: int, whole: int) -> int:
    """Points to reverse when the returned part grows from `part_before` to `part_after` of `whole`.

    Using floor of the cumulative share telescopes: returning everything in any number of steps reverses
    exactly `total`, and no step reverses more than the proportional amount.
    """
    if whole <= 0:
        return 0
    return (total * part_after) // whole - (total * part_before) // whole
