"""How far through a month a store is, on its own business days, at a given instant.

A month in a store's zone runs from the start of its first business day to the end of its last. At an
instant inside it, the time elapsed is the days already over plus the part of today gone by the clock
(today's length in that zone: 23 or 25 hours on a day the clocks change), over the month's days. A
month that ended there is wholly elapsed, one still to come not at all. Two stores in different zones
are at different points of the same month: at 2026-03-31 20:00 UTC Shanghai is already in April while
Berlin still has two hours of March.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from loyalty.domain.targets import Month
from loyalty.services.kpis.periods import day_start, today_in
from loyalty.services.targets.schemas import MonthState

#: the share of today gone, to the millionth
_PLACES = Decimal("0.000001")


@dataclass(frozen=True)
class MonthClock:
    month: Month
    state: MonthState
    #: the store's business day now
    today: date
    #: the share of today gone (0 outside the month)
    today_done: Decimal

    @property
    def days(self) -> int:
        return self.month.days

    @property
    def elapsed_days(self) -> Decimal:
        if self.state == "past":
            return Decimal(self.days)
        if self.state == "future":
            return Decimal(0)
        return Decimal(self.today.day - 1) + self.today_done

    @property
    def elapsed(self) -> Decimal:
        """The share of the month gone, 0 to 1."""
        return self.elapsed_days / Decimal(self.days)

    @property
    def through(self) -> date | None:
        """The last business day whose figures count so far (None: the month has not begun)."""
        if self.state == "past":
            return self.month.last
        return self.today if self.state == "current" else None

    def still_to_come(self) -> list[tuple[date, Decimal]]:
        """Each day of the month not over yet, with the share of it still to come."""
        if self.state == "past":
            return []
        if self.state == "future":
            return [(d, Decimal(1)) for d in self.month.each_day()]
        out = [(self.today, Decimal(1) - self.today_done)]
        day = self.today + timedelta(days=1)
        while day <= self.month.last:
            out.append((day, Decimal(1)))
            day += timedelta(days=1)
        return out


def month_clock(month: Month, zone: str, now: datetime) -> MonthClock:
    """Where `month` stands in `zone` at the instant `now`."""
    today = today_in(zone, now)
    if today > month.last:
        return MonthClock(month, "past", today, Decimal(0))
    if today < month.first:
        return MonthClock(month, "future", today, Decimal(0))
    start = day_start(today, zone)
    length = (day_start(today + timedelta(days=1), zone) - start).total_seconds()
    done = (Decimal((now - start).total_seconds()) / Decimal(length)).quantize(_PLACES)
    return MonthClock(month, "current", today, min(max(done, Decimal(0)), Decimal(1)))
