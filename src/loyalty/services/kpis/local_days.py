"""The business day of a stored UTC instant, as an SQL expression that both backends group by.

PostgreSQL knows time zones: `timezone(zone, t)::date`. SQLite does not, so the range is cut into
stretches of one UTC offset (`periods.pieces`): `date(t, '+28800 seconds')` over the whole range in a
zone without daylight saving time, a `CASE` on the stretch's end otherwise, and a day of 23 or 25 hours
(which no single shift maps onto one date) named outright. The expression is only valid for instants
in the range it was made for, which every query using it also filters on.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Date, case, cast, func, literal
from sqlalchemy.sql.elements import ColumnElement

from loyalty.services.kpis.periods import pieces


def local_day(column: Any, zone: str, first: date, last: date, dialect: str) -> ColumnElement[Any]:
    """The business day in `zone` of `column` (a UTC instant between the start of `first` and the
    end of `last` in that zone): a date on PostgreSQL, 'YYYY-MM-DD' text on SQLite (`as_date`)."""
    if dialect == "postgresql":
        return cast(func.timezone(zone, column), Date)
    parts = pieces(zone, first, last)
    if len(parts) == 1:
        return _shifted(column, parts[0].offset, parts[0].day)
    whens = [(column < part.until, _shifted(column, part.offset, part.day)) for part in parts[:-1]]
    return case(*whens, else_=_shifted(column, parts[-1].offset, parts[-1].day))


def _shifted(column: Any, offset: int | None, day: date | None) -> ColumnElement[Any]:
    if offset is None:
        assert day is not None
        return literal(day.isoformat())
    return func.date(column, f"{offset:+d} seconds")


def as_date(value: Any) -> date:
    """A business day as the database gave it back (a date, or ISO text from SQLite)."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))
