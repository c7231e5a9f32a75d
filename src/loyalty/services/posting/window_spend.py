# ruff: noqa: S608
# SQL here is assembled from our own column names and integer ids only; times are bound parameters.
"""Each member's qualifying spend in the rolling tier window at each of their orders in a batch.

A member's tier moves up at the sale whose window spend reaches a higher tier, and their later
orders earn with the new multiplier, so the spend is wanted at every order, in posting order: the
spend the database already holds that a window of the batch can see (`send_held_spend`, one event
per purchase or summed per member), plus the member's earlier orders of the batch; one sort, one
cumulative sum and a `searchsorted` for each window's start give it for all orders at once
(`spend_at_orders`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection

from loyalty.db.prepared import send_sql
from loyalty.db.rows import among, is_postgres, placeholder
from loyalty.db.stored_time import bound_instant, read_instants
from loyalty.services.posting.import_session import BulkSession, SpendEvents

IntArray = npt.NDArray[np.int64]


def send_held_spend(
    conn: Connection,
    member_ids: IntArray,
    first_us: int,
    last_us: int,
    shortest_window_us: int,
    longest_window_us: int,
    session: BulkSession,
) -> Callable[[], SpendEvents]:
    """Qualifying spend already held for `member_ids` that any window of orders made between
    `first_us` and `last_us` can see, read later (see `db.prepared.send_sql`).

    Purchases inside every such window ((last − shortest window, first]) come summed per member as
    one event at `first_us`; the rest one event per member and instant, all in one statement. Orders
    an unbroken session posted itself come from its memory (`BulkSession.posted_spend`), so the
    database is only asked for what it held before: the read no longer grows with the import. The
    events serve any sub-batch too: its windows see no less of the summed range.
    """
    pg = is_postgres(conn)
    known = session.key is not None
    remembered = session.posted_spend(member_ids, first_us - longest_window_us, last_us) if known else None
    if remembered is not None and session.before == 0:  # the database held nothing before the session
        return lambda: remembered
    if last_us - shortest_window_us < first_us:
        common_lo, common_hi = last_us - shortest_window_us, first_us
    else:  # no range every window sees: every purchase one by one
        common_lo = common_hi = first_us
    mark = placeholder(conn)
    net = "total_minor - refunded_minor"
    held = f" AND id <= {int(session.before)}" if known else ""
    lo, hi = bound_instant(first_us - longest_window_us, pg), bound_instant(last_us, pg)
    bounds: tuple[object, ...] = ()
    if common_lo == first_us - longest_window_us and common_hi == last_us:
        # Every window sees the same range (one instant, one window length: a sale alone): a sum per
        # member, read from the member-and-time index in order, without sorting events by instant.
        held_at, group = "NULL", "member_id"
    else:
        # The range every window sees summed per member (its time read as null), the edges on either
        # side of it one event per member and instant.
        held_at = f"CASE WHEN occurred_at > {mark} AND occurred_at <= {mark} THEN NULL ELSE occurred_at END"
        group, bounds = "member_id, held_at", (bound_instant(common_lo, pg), bound_instant(common_hi, pg))
    sent = [
        send_sql(
            conn,
            f"SELECT member_id, {held_at} AS held_at, sum({net}) FROM purchases WHERE {condition} "
            f"AND occurred_at > {mark} AND occurred_at <= {mark}{held} GROUP BY {group}",
            (*bounds, *params, lo, hi),
        )
        for condition, params in among("member_id", member_ids, pg)
    ]

    def read() -> SpendEvents:
        rows = [row for rows in sent for row in rows()]
        summed = [r for r in rows if r[1] is None]
        single = [r for r in rows if r[1] is not None]
        times = np.full(len(summed), first_us, dtype=np.int64)
        if single:  # (a sale alone has none: its window is the summed range)
            times = np.concatenate([times, read_instants([r[1] for r in single])])
        found = (
            np.array([int(r[0]) for r in (*summed, *single)], dtype=np.int64),
            times,
            np.array([int(r[2]) for r in (*summed, *single)], dtype=np.int64),
        )
        if remembered is None:
            return found
        return (
            np.concatenate([found[0], remembered[0]]),
            np.concatenate([found[1], remembered[1]]),
            np.concatenate([found[2], remembered[2]]),
        )

    return read


#: up to this many orders (a few tills' sales) `spend_at_orders` sums in Python: its array form's
#: two dozen NumPy calls cost more than the sums at that size
FEW_ORDERS_SUMMED = 8


def held_in_window(held: tuple[list[int], list[int], list[int]], member_id: int, start: int, end: int) -> int:
    """What `held` (member, time, amount events, as lists) holds of `member_id`'s in (start, end]."""
    return sum(a for m, t, a in zip(*held, strict=True) if m == member_id and start < t <= end)


def spend_at_orders(
    held: SpendEvents,
    members: IntArray,
    orders: IntArray,
    member_of_order: IntArray,
    occurred_us: IntArray,
    totals: IntArray,
    window_us: IntArray,
) -> IntArray:
    """Window spend right after each of `orders` (indexes into the batch's order arrays): what the
    database held (`held` events) and the member's orders of the batch up to this one, in the window
    (occurred − window, occurred] of this order. Each member's spend depends on their own only.
    `held` names members of `members` only.
    """
    if len(orders) <= FEW_ORDERS_SUMMED:  # the same events in the same window, summed one by one
        each_member, each_time, each_amount = (column.tolist() for column in held)
        index = orders.tolist()
        member = member_of_order[orders].tolist()
        member_id = members[member_of_order[orders]].tolist()
        time = occurred_us[orders].tolist()
        amount = totals[orders].tolist()
        out = []
        for o, m, mid, t, w in zip(index, member, member_id, time, window_us[orders].tolist(), strict=True):
            start = t - w
            before = held_in_window((each_member, each_time, each_amount), mid, start, t)
            batch = sum(
                a
                for p, pm, pt, a in zip(index, member, time, amount, strict=True)
                if pm == m and start < pt and (pt, p) <= (t, o)
            )
            out.append(before + batch)
        summed: IntArray = np.array(out, dtype=np.int64)
        return summed
    held_member, held_time, held_amount = held
    order_member, order_time = member_of_order[orders], occurred_us[orders]
    held_index = np.searchsorted(members, held_member)
    event_member = np.concatenate([held_index, order_member])
    event_time = np.concatenate([held_time, order_time])
    event_amount = np.concatenate([held_amount, totals[orders]])
    # At one instant, held spend before the batch's orders, and those in posting order.
    is_order = np.concatenate([np.zeros(len(held_index), np.int64), np.ones(len(orders), np.int64)])
    sequence = np.concatenate([np.zeros(len(held_index), np.int64), orders])
    ranked = np.lexsort((sequence, is_order, event_time, event_member))
    running = np.cumsum(event_amount[ranked])
    instants = np.unique(event_time)
    width = len(instants) + 1
    key = event_member[ranked] * width + np.searchsorted(instants, event_time[ranked])
    position = np.empty(len(ranked), dtype=np.int64)
    position[ranked] = np.arange(len(ranked))
    order_position = position[len(held_index) :]
    window_start = np.searchsorted(instants, order_time - window_us[orders], side="right")
    first_in_window = np.searchsorted(key, order_member * width + window_start, side="left")
    spend: IntArray = running[order_position] - np.where(
        first_in_window > 0, running[np.maximum(first_in_window - 1, 0)], 0
    )
    return spend
