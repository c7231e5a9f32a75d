"""Instants and dates in the form our columns store them, for statements that bypass SQLAlchemy.

`UTCDateTime` stores UTC text on SQLite ('YYYY-MM-DD HH:MM:SS.ffffff'); PostgreSQL parses the same text
with '+00' appended. The raw writers (`db.rows`, `db.ledger_writer`) and the set-based posting bind
these strings directly, so a batch of a million rows never goes through a per-value bind processor.
Instants travel between the two as epoch microseconds (UTC), the unit of the columnar batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from loyalty.db.core_tables import utc_text

IntArray = npt.NDArray[np.int64]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = _EPOCH.replace(tzinfo=None)  # UTC wall time, for text
# Up to this many instants are formatted in Python: an Arrow call costs tens of microseconds whatever
# the length.
_FEW_TIMES = 64


def epoch_us(at: datetime) -> int:
    """An aware instant as epoch microseconds (UTC), exactly (no float on the way)."""
    delta = at.astimezone(UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def instant(us: int) -> datetime:
    """Epoch microseconds back to an aware UTC instant."""
    return _EPOCH + timedelta(microseconds=us)


@lru_cache(maxsize=256)
def stored_instant(us: int, pg: bool) -> str:
    """Epoch microseconds (one instant) as the `UTCDateTime` column stores it (six fraction digits).

    Cached as `core_tables.utc_text` is: the sales a till sends together share their instants."""
    text = (_NAIVE_EPOCH + timedelta(microseconds=us)).isoformat(" ", "microseconds")
    return text + "+00" if pg else text


def stored_texts(us: IntArray, pg: bool) -> list[str]:
    """Epoch microseconds as the `UTCDateTime` column stores them (always six fraction digits)."""
    if len(us) <= _FEW_TIMES:
        return [stored_instant(v, pg) for v in us.tolist()]
    text = pc.cast(pa.array(us, pa.timestamp("us")), pa.string())
    if pg:
        text = pc.binary_join_element_wise(text, pa.scalar("+00"), "")
    out: list[str] = text.to_pylist()
    return out


def stored_text(at: datetime, pg: bool) -> str:
    """One aware instant as its column stores it (`UTCDateTime`'s own text)."""
    text = utc_text(at)
    return text + "+00" if pg else text


def stored_times(times: Sequence[datetime], pg: bool) -> list[str]:
    """Aware instants as `UTCDateTime` columns store them, for `db.rows.write_rows`."""
    return stored_texts(np.array([epoch_us(t) for t in times], dtype=np.int64), pg)


def stored_date(value: date | None) -> str | None:
    """A date as the `Date` column stores it on SQLite ('YYYY-MM-DD'); PostgreSQL parses the same text."""
    return value.isoformat() if value is not None else None


def bound_instant(us: int, pg: bool) -> Any:
    """Epoch microseconds as a bound parameter of a raw statement compares with a stored instant: an
    aware datetime for PostgreSQL's driver, the stored text on SQLite."""
    if pg:
        return instant(us)
    return stored_instant(us, False)


def read_instants(values: list[Any]) -> IntArray:
    """Instants as a raw statement reads them (stored text on SQLite, datetimes on PostgreSQL) as
    epoch microseconds."""
    if not values:
        return np.zeros(0, dtype=np.int64)
    if isinstance(values[0], str):
        out: IntArray = np.array(values, dtype="datetime64[us]").astype(np.int64)
        return out
    return np.array([epoch_us(v) for v in values], dtype=np.int64)
