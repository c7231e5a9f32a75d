# ruff: noqa: S608
# SQL here is assembled from our own column names and integer ids only; instants are bound.
"""Each sale's number among its member's purchases in a period, for rules on purchase frequency.

A sale's number in a period (the store's calendar: day, ISO week, month, year, or ever) is one more
than the member's purchases made in that period before it, by time: the database's (anonymous sales
claimed later included, as they are the member's now) and, in a batch, the batch's earlier sales.
Counting by time makes the number the same whichever path posts the sale and in whatever order an
import brings history. Sales at the very same instant share a number.

An import's session (`posting.import_session.BulkSession`) remembers what it posted, so only the
purchases the database held before it began are read (by id range: the purchases-by-member index
may be deferred during a large import).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection

from loyalty.db.prepared import send_sql
from loyalty.db.rows import among, is_postgres, placeholder
from loyalty.db.stored_time import bound_instant, read_instants
from loyalty.domain.earning import US_PER_DAY
from loyalty.domain.programme.engine import LocalDays
from loyalty.services.earning_rules.frames import Column, utc_offsets
from loyalty.services.posting.import_session import BulkSession

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
_FOREVER = np.iinfo(np.int64).min // 2


def period_starts(period: str, local: LocalDays, zone: Column) -> IntArray:
    """When each sale's period began, epoch microseconds (UTC; the store's midnight)."""
    if period == "ever":
        return np.full(len(local.days), _FOREVER, dtype=np.int64)
    days = local.days
    if period == "week":
        days = days - (local.weekday - 1)
    elif period == "month":
        days = days - (local.day - 1)
    elif period == "year":
        days = days.astype("datetime64[D]").astype("datetime64[Y]").astype("datetime64[D]").astype(np.int64)
    midnight = days * US_PER_DAY
    first_guess = midnight - utc_offsets(midnight, zone)
    starts: IntArray = midnight - utc_offsets(first_guess, zone)
    return starts


def send_purchase_times(
    conn: Connection, member_ids: IntArray, lo: int, hi: int, session: BulkSession | None
) -> Callable[[], tuple[IntArray, IntArray]]:
    """(member, time) of the purchases held for `member_ids` (sorted) with lo <= time < hi."""
    known = session is not None and session.key is not None
    remembered = (
        session.posted_spend(member_ids, lo - 1, hi - 1)[:2] if session is not None and known else None
    )
    if remembered is not None and session is not None and session.before == 0:
        return lambda: remembered
    pg, mark = is_postgres(conn), placeholder(conn)
    held = f" AND id <= {int(session.before)}" if session is not None and known else ""
    since = "" if lo <= _FOREVER else f" AND occurred_at >= {mark}"
    bounds = [bound_instant(hi, pg)] if lo <= _FOREVER else [bound_instant(lo, pg), bound_instant(hi, pg)]
    sent = [
        send_sql(
            conn,
            f"SELECT member_id, occurred_at FROM purchases WHERE {condition}{since} "
            f"AND occurred_at < {mark}{held}",
            [*params, *bounds],
        )
        for condition, params in among("member_id", member_ids, pg)
    ]

    def read() -> tuple[IntArray, IntArray]:
        rows = [row for rows in sent for row in rows()]
        members = np.array([int(r[0]) for r in rows], dtype=np.int64)
        times = read_instants([r[1] for r in rows])
        if remembered is not None:
            members = np.concatenate([members, remembered[0]])
            times = np.concatenate([times, remembered[1]])
        return members, times

    return read


def purchase_numbers(
    conn: Connection,
    periods: set[str],
    member_id: IntArray,
    member: BoolArray,
    occurred_us: IntArray,
    local: LocalDays,
    zone: Column,
    session: BulkSession | None = None,
) -> dict[str, IntArray]:
    """Per period, each sale's number among its member's purchases there (0 for an anonymous sale)."""
    out: dict[str, IntArray] = {}
    if not periods:
        return out
    sales = np.flatnonzero(member)
    members = np.unique(member_id[sales])
    hi = int(occurred_us.max()) if len(occurred_us) else 0
    for period in sorted(periods):
        starts = period_starts(period, local, zone)
        numbers = np.zeros(len(occurred_us), dtype=np.int64)
        if len(sales):
            lo = int(starts[sales].min())
            held_members, held_times = send_purchase_times(conn, members, lo, hi, session)()
            times: dict[int, list[int]] = defaultdict(list)
            for m, t in zip(held_members.tolist(), held_times.tolist(), strict=True):
                times[m].append(t)
            for i in sales.tolist():  # the batch's own sales count too
                times[int(member_id[i])].append(int(occurred_us[i]))
            for held in times.values():
                held.sort()
            for i in sales.tolist():
                held = times[int(member_id[i])]
                numbers[i] = bisect_left(held, int(occurred_us[i])) - bisect_left(held, int(starts[i])) + 1
        out[period] = numbers
    return out
