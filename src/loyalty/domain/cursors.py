"""Pagination cursors: what a listing hands out as `next_cursor` and reads back as `cursor`.

One codec for every listing, so that a cursor no listing handed out is refused the same way
everywhere (FILTER_INVALID naming `cursor`; the API says `query.cursor`) instead of being read as "the
page after nothing", an empty page that looks like the end of the data. Two shapes: an id (`"1234"`,
for listings newest id first) and a time with an id (`"<µs since the epoch>_<id>"`, for listings in
time order, where ids break ties).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from loyalty.domain.errors import InvalidInput

#: the largest id a cursor may carry (a 64-bit key; larger numbers name no row)
MAX_ID = 2**63 - 1

_ID = re.compile(r"[0-9]{1,19}")
_TIME_ID = re.compile(r"(-?[0-9]{1,19})_([0-9]{1,19})")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def invalid_cursor() -> InvalidInput:
    """The error for a cursor that no listing handed out."""
    return InvalidInput.field("cursor", "pass back a next_cursor this listing returned", "FILTER_INVALID")


def id_cursor(last_id: int) -> str:
    """The cursor of the page after the row with id `last_id` (ids descending)."""
    return str(last_id)


def before_id(cursor: str | None) -> int | None:
    """The id an id cursor carries (the next page holds the ids below it); None for the first page."""
    if not cursor:
        return None
    if _ID.fullmatch(cursor) is None or int(cursor) > MAX_ID:
        raise invalid_cursor()
    return int(cursor)


def time_id_cursor(at: datetime, last_id: int) -> str:
    """The cursor of the page after the row at (`at`, `last_id`)."""
    return f"{(at - _EPOCH) // _MICROSECOND}_{last_id}"


def after_time_id(cursor: str | None) -> tuple[datetime, int] | None:
    """The (time, id) a time cursor carries; None for the first page."""
    if not cursor:
        return None
    found = _TIME_ID.fullmatch(cursor)
    if found is None or int(found[2]) > MAX_ID:
        raise invalid_cursor()
    try:
        return _EPOCH + int(found[1]) * _MICROSECOND, int(found[2])
    except OverflowError:  # a time outside what a datetime holds
        raise invalid_cursor() from None
