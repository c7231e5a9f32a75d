"""Earning rules: N points per currency unit of eligible spend, times the tier multiplier.

Rounding policy ROUND_DOWN_PER_LINE: each line earns floor(amount × N × multiplier / (100 × minor per
unit)); the purchase earns the sum. Per-line rounding makes per-line reversal exact (a line returned in
full takes back exactly what it earned) and never pays out a fraction the member did not earn.
"""

from __future__ import annotations

from dataclasses import dataclass

MINOR_PER_UNIT = 100


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
        excl = ",".join(sorted(self.excluded_categories)) or "-"
        return f"base:{self.points_per_unit}/unit;tier:{self.tier_code}x{self.multiplier_pct}%;excl:{excl}"

    def line_points(self, line: LineIn) -> int:
        if line.category is not None and line.category in self.excluded_categories:
            return 0
        if line.amount_minor <= 0:
            return 0
        return (line.amount_minor * self.points_per_unit * self.multiplier_pct) // (100 * MINOR_PER_UNIT)

    def eligible(self, line: LineIn) -> int:
        if line.category is not None and line.category in self.excluded_categories:
            return 0
        return max(line.amount_minor, 0)


def cumulative_share(total: int, part_before: int, part_after: int, whole: int) -> int:
    """Points to reverse when the returned part grows from `part_before` to `part_after` of `whole`.

    Using floor of the cumulative share telescopes: returning everything in any number of steps reverses
    exactly `total`, and no step reverses more than the proportional amount.
    """
    if whole <= 0:
        return 0
    return (total * part_after) // whole - (total * part_before) // whole
