# ruff: noqa: S608
# SQL here is assembled from our own column names and integer ids only; instants are bound.
"""Each sale's number among its member's purchases in a period, and its visit streak, for rules on
purchase frequency.

A sale's number in a period (the store's calendar: day, ISO week, month, year, or ever) is one more
than the member's purchases made in that period before it, by time: the database's (anonymous sales
claimed later included, as they are the member's now) and, in a batch, the batch's earlier sales.
Counting by time makes the number the same whichever path posts the sale and in whatever order an
import brings history. Sales at the very same instant share a number. A visit streak
(`engine.visit_streaks`) counts the periods in a row, up to the sale's own, with a purchase of the
member (all of whose purchases are before the sale's period began), at the member's first purchase of
its period; every period is read in the sale's store's calendar.

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
from loyalty.domain.programme.engine import LocalDays, Sales, Vocabulary, period_numbers, visit_streaks
from loyalty.services.earning_rules.frames import Column, utc_offsets, vocabulary
from loyalty.services.posting.import_session import BulkSession

IntArray = npt.NDArray[np.int64]
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


def _member_times(
    held: tuple[IntArray, IntArray], member_id: IntArray, occurred_us: IntArray, sales: IntArray
) -> dict[int, list[int]]:
    """Each member's purchase times, sorted: those `held` (member, time) and the batch's own sales."""
    times: dict[int, list[int]] = defaultdict(list)
    for m, t in zip(held[0].tolist(), held[1].tolist(), strict=True):
        times[m].append(t)
    for i in sales.tolist():  # the batch's own sales count too
        times[int(member_id[i])].append(int(occurred_us[i]))
    for each in times.values():
        each.sort()
    return times


def _numbered(
    times: dict[int, list[int]], member_id: IntArray, occurred_us: IntArray, starts: IntArray, sales: IntArray
) -> IntArray:
    """Each sale's number among its member's `times` since its period's start (0: anonymous)."""
    numbers = np.zeros(len(occurred_us), dtype=np.int64)
    for i in sales.tolist():
        held = times[int(member_id[i])]
        numbers[i] = bisect_left(held, int(occurred_us[i])) - bisect_left(held, int(starts[i])) + 1
    return numbers


def purchase_numbers(
    conn: Connection, periods: set[str], frame: Sales, zone: Column, session: BulkSession | None = None
) -> dict[str, IntArray]:
    """Per period, each sale's number among its member's purchases there (0 for an anonymous sale);
    `zone`: each sale's store's time zone."""
    member_id, member, occurred_us, local = frame.member_id, frame.member, frame.occurred_us, frame.local
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
            held = send_purchase_times(conn, members, lo, hi, session)()
            times = _member_times(held, member_id, occurred_us, sales)
            numbers = _numbered(times, member_id, occurred_us, starts, sales)
        out[period] = numbers
    return out


def streaks(
    conn: Connection, periods: set[str], frame: Sales, zone: Column, session: BulkSession | None = None
) -> dict[str, IntArray]:
    """Per period, each sale's visit streak (`engine.visit_streaks`; 0 for an anonymous sale), from
    every purchase its member made before it: the database's and the batch's earlier ones."""
    member_id, member, occurred_us, local = frame.member_id, frame.member, frame.occurred_us, frame.local
    out = {period: np.zeros(len(occurred_us), dtype=np.int64) for period in periods}
    sales = np.flatnonzero(member)
    if not periods or not len(sales):
        return out
    held = send_purchase_times(conn, np.unique(member_id[sales]), _FOREVER, int(occurred_us.max()), session)()
    times = _member_times(held, member_id, occurred_us, sales)
    every_member = np.concatenate([held[0], member_id[sales]])
    every_time = np.concatenate([held[1], occurred_us[sales]])
    firsts = {
        period: _numbered(times, member_id, occurred_us, period_starts(period, local, zone), sales) == 1
        for period in periods
    }
    zones = vocabulary(zone)
    for code in np.unique(zones.codes[sales]).tolist():
        # every purchase's period in this zone's calendar (a streak counts in the sale's store's)
        here = Vocabulary.encoded((zones.labels[code],), np.zeros(len(every_time), dtype=np.int64))
        every_local = LocalDays.of(every_time, utc_offsets(every_time, here))
        in_zone = sales[zones.codes[sales] == code]
        for period in sorted(periods):
            out[period][in_zone] = visit_streaks(
                every_member,
                period_numbers(every_local, period),
                member_id[in_zone],
                period_numbers(local, period)[in_zone],
                firsts[period][in_zone],
            )
    return out
