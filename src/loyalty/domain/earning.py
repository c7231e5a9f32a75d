"""Earning rules: N points per currency unit of eligible spend, times the tier multiplier.

Rounding policy ROUND_DOWN_PER_LINE: each line earns floor(amount × N × multiplier / (100 × minor per
unit)); the purchase earns the sum. Per-line rounding makes per-line reversal exact (a line returned in
full takes back exactly what it earned) and never pays out a fraction the member did not earn.

The rules are written once, on NumPy arrays (`line_points`, `line_eligible`, `lot_times`,
`debt_paid`): the live path calls them with one purchase's lines, the bulk import with a whole batch's,
so a point earned through either path is the same point.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

MINOR_PER_UNIT = 100
US_PER_DAY = 86_400 * 1_000_000

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def line_points(amount_minor: Any, excluded: Any, points_per_unit: Any, multiplier_pct: Any) -> IntArray:
    """Points each line earns (ROUND_DOWN_PER_LINE); excluded categories and non-positive amounts earn 0.

    Every argument is an array (or a scalar that broadcasts): one entry per line.
    """
    amount = np.asarray(amount_minor, dtype=np.int64)
    raw = (
        amount * np.asarray(points_per_unit, dtype=np.int64) * np.asarray(multiplier_pct, dtype=np.int64)
    ) // (100 * MINOR_PER_UNIT)
    out: IntArray = np.where(np.asarray(excluded, dtype=bool) | (amount <= 0), 0, raw).astype(np.int64)
    return out


def line_eligible(amount_minor: Any, excluded: Any) -> IntArray:
    """Spend that counts towards earning: the line amount unless its category is excluded (never < 0)."""
    amount = np.asarray(amount_minor, dtype=np.int64)
    out: IntArray = np.where(np.asarray(excluded, dtype=bool), 0, np.maximum(amount, 0)).astype(np.int64)
    return out


def rule_label(points_per_unit: int, tier_code: str, multiplier_pct: int, excluded: frozenset[str]) -> str:
    """Human-readable rule id stored on every earning entry."""
    excl = ",".join(sorted(excluded)) or "-"
    return f"base:{points_per_unit}/unit;tier:{tier_code}x{multiplier_pct}%;excl:{excl}"


def lot_times(occurred_us: Any, return_window_days: Any, expiry_days: Any) -> tuple[IntArray, IntArray]:
    """(available_at, expires_at) of earned lots, in epoch microseconds (UTC).

    Points stay pending for the return window after the sale and expire `expiry_days` after it.
    """
    t = np.asarray(occurred_us, dtype=np.int64)
    available: IntArray = t + np.asarray(return_window_days, dtype=np.int64) * US_PER_DAY
    expires: IntArray = t + np.asarray(expiry_days, dtype=np.int64) * US_PER_DAY
    return available, expires


def debt_paid(points: Any, debt_before: Any) -> IntArray:
    """New points pay existing debt first: the part of each credit that goes to the debt."""
    out: IntArray = np.minimum(
        np.asarray(points, dtype=np.int64), np.maximum(np.asarray(debt_before, dtype=np.int64), 0)
    )
    return out


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

    def excluded(self, lines: list[LineIn]) -> BoolArray:
        return np.array([ln.category is not None and ln.category in self.excluded_categories for ln in lines])

    def points(self, lines: list[LineIn]) -> IntArray:
        """Points of each line, by the same array rule the bulk import uses."""
        amounts = np.array([ln.amount_minor for ln in lines], dtype=np.int64)
        return line_points(amounts, self.excluded(lines), self.points_per_unit, self.multiplier_pct)

    def eligibles(self, lines: list[LineIn]) -> IntArray:
        amounts = np.array([ln.amount_minor for ln in lines], dtype=np.int64)
        return line_eligible(amounts, self.excluded(lines))

    def line_points(self, line: LineIn) -> int:
        return int(self.points([line])[0])

    def eligible(self, line: LineIn) -> int:
        return int(self.eligibles([line])[0])


def cumulative_share(total: int, part_before: int, part_after: int, whole: int) -> int:
    """Points to reverse when the returned part grows from `part_before` to `part_after` of `whole`.

    Using floor of the cumulative share telescopes: returning everything in any number of steps reverses
    exactly `total`, and no step reverses more than the proportional amount.
    """
    if whole <= 0:
        return 0
    return (total * part_after) // whole - (total * part_before) // whole
