"""The calendar of a KPI report: its period (day, week, month), its range of business days, its buckets.

Business days are the store's: a sale at 23:30 in Shanghai on the 3rd is the 3rd's, whatever the UTC
date. A report covers whole buckets from its first day (a week starts on Monday, a month on its first
day, so `from` is moved back to the start of its bucket) up to its last day, which may end a bucket
early (this week so far). Nothing here touches the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Literal, get_args
from zoneinfo import ZoneInfo

from loyalty.domain.errors import InvalidInput

Period = Literal["day", "week", "month"]
PERIODS: tuple[str, ...] = get_args(Period)

#: how many buckets a report may hold (a year of days, three years of weeks, five of months)
MAX_BUCKETS: dict[str, int] = {"day": 366, "week": 157, "month": 60}
#: the buckets a report shows when no `from` is given
DEFAULT_BUCKETS: dict[str, int] = {"day": 30, "week": 12, "month": 12}
#: the error code of a bad period, range or option (the API reports it as a query field)
CODE = "KPI_QUERY_INVALID"
#: the first business day a report may cover: nothing was sold before, and a range reaching back to
#: year 1 would start before the first instant a date and time can hold in a zone east of UTC
EARLIEST = date(1900, 1, 1)


def check_day(name: str, day: date | None) -> None:
    """INVALID_INPUT naming `name` ("from" or "to") when `day` is before `EARLIEST`."""
    if day is None or day >= EARLIEST:
        return
    values = {"day": day.isoformat(), "earliest": EARLIEST.isoformat()}
    if name == "from":
        raise InvalidInput.field("from", "from ({day}) is before {earliest}", CODE, values)
    raise InvalidInput.field(name, "to ({day}) is before {earliest}", CODE, values)


def bucket_start(day: date, period: str) -> date:
    """The first day of the bucket `day` falls in."""
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day


def next_bucket(start: date, period: str) -> date:
    """The first day of the bucket after the one starting on `start`."""
    if period == "week":
        return start + timedelta(days=7)
    if period == "month":
        return date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return start + timedelta(days=1)


def _back(start: date, period: str, buckets: int) -> date:
    """The start of the bucket `buckets` buckets before the one starting on `start`."""
    if period == "week":
        return start - timedelta(days=7 * buckets)
    if period == "month":
        months = start.year * 12 + start.month - 1 - buckets
        return date(months // 12, months % 12 + 1, 1)
    return start - timedelta(days=buckets)


@dataclass(frozen=True)
class Bucket:
    """One bucket of the report: its first and last business day (the last clipped to the report's)."""

    start: date
    end: date


@dataclass(frozen=True)
class Calendar:
    """A report's period and range of business days [first, last], and its buckets in order."""

    period: str
    first: date
    last: date

    @property
    def buckets(self) -> list[Bucket]:
        out = []
        start = self.first
        while start <= self.last:
            after = next_bucket(start, self.period)
            out.append(Bucket(start, min(after - timedelta(days=1), self.last)))
            start = after
        return out

    def bucket_of(self, day: date) -> date:
        return bucket_start(day, self.period)


def calendar(period: str, first: date | None, last: date | None, today: date) -> Calendar:
    """The report's calendar, or INVALID_INPUT naming the bad field (`period`, `from` or `to`).

    `last` defaults to `today`; `first` to the start of the range that shows the period's default
    number of buckets up to `last`. `first` is moved back to the start of its bucket; a range after
    today, ending before it starts or holding more buckets than the period allows is refused.
    """
    if period not in PERIODS:
        raise InvalidInput.field(
            "period", "period must be one of {choices}", CODE, {"choices": ", ".join(PERIODS)}
        )
    last = range_end(first, last, today)
    if first is None:
        first = max(_back(bucket_start(last, period), period, DEFAULT_BUCKETS[period] - 1), EARLIEST)
    check_order(first, last)
    first = bucket_start(first, period)
    cal = Calendar(period, first, last)
    count = len(cal.buckets)
    if count > MAX_BUCKETS[period]:
        raise InvalidInput.field(
            "from",
            "the range holds {count} buckets; at most {max} are allowed for this period",
            CODE,
            {"count": count, "period": period, "max": MAX_BUCKETS[period]},
        )
    return cal


def range_end(first: date | None, last: date | None, today: date) -> date:
    """The range's last day (`today` when `last` is None), both days checked: INVALID_INPUT naming
    `to` or `from` for a day out of the KPIs' years, `to` for a day after today."""
    check_day("to", last)
    check_day("from", first)
    last = today if last is None else last
    if last > today:
        raise InvalidInput.field(
            "to",
            "to ({to}) is after today ({today})",
            CODE,
            {"to": last.isoformat(), "today": today.isoformat()},
        )
    return last


def check_order(first: date, last: date) -> None:
    """INVALID_INPUT naming `from` when the range ends before it starts."""
    if first > last:
        raise InvalidInput.field(
            "from",
            "from ({from_}) is after to ({to})",
            CODE,
            {"from_": first.isoformat(), "to": last.isoformat()},
        )


def check_range(name: str, value: int, low: int, high: int) -> None:
    """INVALID_INPUT naming `name` unless `low` ≤ `value` ≤ `high`."""
    if not low <= value <= high:
        raise InvalidInput.field(
            name, "{name} must be between {low} and {high}", CODE, {"name": name, "low": low, "high": high}
        )


def today_in(zone: str, now: datetime) -> date:
    """The business day `now` falls on in `zone`."""
    return now.astimezone(ZoneInfo(zone)).date()


def day_start(day: date, zone: str) -> datetime:
    """The instant (UTC) a business day starts in `zone`.

    A day whose midnight does not exist (a DST gap at midnight) starts when its clocks jump, which is
    what Python's zone arithmetic gives for a nonexistent local time (its fold=0 reading).
    """
    return _day_start(day, zone)


@cache
def _zone(zone: str) -> ZoneInfo:
    return ZoneInfo(zone)


def _day_start(day: date, zone: str) -> datetime:
    return datetime.combine(day, time(), _zone(zone)).astimezone(UTC)


@dataclass(frozen=True)
class Piece:
    """A stretch of UTC time [.., until) whose instants all fall on their business day by one shift:
    `offset` seconds added to the UTC time give the local date, or, on a day of 23 or 25 hours that
    no shift covers, the `day` itself."""

    until: datetime
    offset: int | None
    day: date | None


@cache
def pieces(zone: str, first: date, last: date) -> tuple[Piece, ...]:
    """The business days [first, last] of `zone` as stretches of UTC time, for `kpis.local_days`.

    A zone without daylight saving time in the range is one piece; each change of offset adds the day
    it happens on as a piece of its own and a new stretch after it.
    """
    out: list[Piece] = []
    day = first
    start = _day_start(day, zone)
    while day <= last:
        following = day + timedelta(days=1)
        end = _day_start(following, zone)
        offset = _offset(day, start)
        regular = _offset(following, end) == offset
        if regular and out and out[-1].offset == offset:
            out[-1] = Piece(end, offset, None)
        elif regular:
            out.append(Piece(end, offset, None))
        else:
            out.append(Piece(end, None, day))
        day, start = following, end
    return tuple(out)


def _offset(day: date, start: datetime) -> int:
    """Seconds from the UTC instant a day starts at to its local midnight."""
    return int((datetime.combine(day, time()) - start.replace(tzinfo=None)).total_seconds())
