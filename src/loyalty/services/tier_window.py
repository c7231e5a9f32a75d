"""A member's qualifying spend: net spend (paid total minus refunds) in the rolling tier window."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, bindparam, func, select

from loyalty.db.core_tables import purchases
from loyalty.db.prepared import Pending, Prepared

#: the net spend of member `member_id` in the window (`since`, `as_of`], as one statement's parameters
SPEND_IN_WINDOW = select(
    func.coalesce(func.sum(purchases.c.total_minor - purchases.c.refunded_minor), 0)
).where(
    purchases.c.member_id == bindparam("member_id"),
    purchases.c.occurred_at > bindparam("since"),
    purchases.c.occurred_at <= bindparam("as_of"),
)
# Every member sale below the top tier runs it: compiled once and run on the driver (`db.prepared`).
_QUALIFYING_SPEND = Prepared(SPEND_IN_WINDOW)


def window_bounds(as_of: datetime, window_days: int) -> dict[str, datetime]:
    """`SPEND_IN_WINDOW`'s window parameters."""
    return {"since": as_of - timedelta(days=window_days), "as_of": as_of}


def qualifying_spend(conn: Connection, member_id: int, as_of: datetime, window_days: int) -> int:
    """Net spend (paid total minus refunds) in the window (as_of − window_days, as_of]."""
    return int(send_qualifying_spend(conn, member_id, as_of, window_days).scalar())


def send_qualifying_spend(conn: Connection, member_id: int, as_of: datetime, window_days: int) -> Pending:
    """`qualifying_spend` sent now and read later (`.scalar()`), e.g. in the round trip of a lock."""
    return _QUALIFYING_SPEND.send(conn, {"member_id": member_id, **window_bounds(as_of, window_days)})
