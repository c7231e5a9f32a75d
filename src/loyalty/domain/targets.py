"""Store targets: a chain's monthly target shared among its stores, and a store's month against time.

Pure arithmetic, no I/O and no clock: the services give the figures (each store's basis, its days'
actuals, how much of the month has gone in its time zone) and get exact integers back.

* `apportion` shares a whole (money in minor units, or members) in proportion to weights by the
  largest remainder method (Hamilton's): each part gets the whole number below its quota, and the
  units left go one each to the parts with the largest fractional remainders, so the parts always sum
  to the whole exactly. Ties go to the larger weight, then the smaller key.
* `weekday_rates` and `forecast`: a month's outcome as what was done so far plus, for each day (or
  part of today) still to come, the mean of that weekday over the store's recent weeks.
* `Month`: a calendar month ("2026-03"), its days and its neighbours.
"""

from __future__ import annotations

import re
from calendar import monthrange
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month; each store counts it on its own business days."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not (1 <= self.month <= 12 and 1 <= self.year <= 9998):
            raise ValueError(f"no month {self.year}-{self.month}")

    @classmethod
    def parse(cls, text: str) -> Month:
        """'2026-03' → Month(2026, 3); ValueError for anything else."""
        found = _MONTH.match(text.strip())
        if found is None:
            raise ValueError(f"{text!r} is not a month such as 2026-03")
        return cls(int(found[1]), int(found[2]))

    @classmethod
    def of(cls, day: date) -> Month:
        return cls(day.year, day.month)

    @property
    def first(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last(self) -> date:
        # from the month's own length: the month after December 9998 is past what `date` holds
        return date(self.year, self.month, monthrange(self.year, self.month)[1])

    @property
    def days(self) -> int:
        return self.last.day

    def shift(self, months: int) -> Month:
        """The month `months` later (earlier when negative)."""
        index = self.year * 12 + self.month - 1 + months
        return Month(index // 12, index % 12 + 1)

    def each_day(self) -> Iterable[date]:
        day = self.first
        while day.month == self.month:
            yield day
            day += timedelta(days=1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def apportion(total: int, weights: Mapping[int, int], step: int = 1) -> dict[int, int]:
    """`total` shared among the keys of `weights` in proportion to them, in multiples of `step`, by
    the largest remainder method (keys are store ids); the parts sum to `total` exactly.

    `total` must be a multiple of `step` (≥ 1), the weights non-negative with a positive sum. Ties
    between equal remainders go to the larger weight, then to the smaller key.
    """
    if step < 1:
        raise ValueError("step must be at least 1")
    if total < 0 or total % step:
        raise ValueError("total must be a non-negative multiple of step")
    if any(w < 0 for w in weights.values()):
        raise ValueError("weights must not be negative")
    whole = sum(weights.values())
    if whole <= 0:
        raise ValueError("the weights must have a positive sum")
    units = total // step
    parts = {k: units * w // whole for k, w in weights.items()}
    left = units - sum(parts.values())
    order = sorted(weights, key=lambda k: (-(units * weights[k] % whole), -weights[k], k))
    for k in order[:left]:
        parts[k] += 1
    return {k: p * step for k, p in parts.items()}


def weekday_rates(daily: Mapping[date, int], window: Iterable[date]) -> dict[int, Decimal] | None:
    """The mean figure of each weekday (0 Monday … 6 Sunday) over the days of `window` (a day with
    nothing in `daily` counts as 0); None unless every weekday occurs in the window."""
    totals = [0] * 7
    counts = [0] * 7
    for day in window:
        totals[day.weekday()] += daily.get(day, 0)
        counts[day.weekday()] += 1
    if not all(counts):
        return None
    return {w: Decimal(totals[w]) / Decimal(counts[w]) for w in range(7)}


def forecast(actual: int, rates: Mapping[int, Decimal], still_to_come: Iterable[tuple[date, Decimal]]) -> int:
    """`actual` so far plus, for each (day, share of it still to come), that share of its weekday's
    rate; rounded half to even to a whole unit."""
    ahead = sum((rates[day.weekday()] * share for day, share in still_to_come), Decimal(0))
    return actual + int(ahead.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def linear_forecast(actual: int, elapsed_days: Decimal, days: int) -> int | None:
    """`actual` carried on at the same daily pace to the end of a month of `days` days; None when no
    time has passed yet."""
    if elapsed_days <= 0:
        return None
    return int((Decimal(actual) * days / elapsed_days).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


__all__ = ["Month", "apportion", "forecast", "linear_forecast", "weekday_rates"]
