"""The product database's history as the churn model's input: purchases, returns, categories, joins.

Four reads, each one statement on SQLite and PostgreSQL, each dated by when it happened in the store's
time zone (business days): the members' purchases (their total when made and the points they
redeemed: never today's refunded total, which would tell a past cutoff of refunds still to come);
their returns, dated at the return; the first time each member bought each category; and when each
member registered. Anonymous sales are left out (churn is about members), and so is every member
whose personal data was erased (`services.privacy`, `analytics.store.erased_member_ids`): nothing is
computed about them. The features themselves are :func:`loyalty.analytics.churn.member_features`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
from sqlalchemy import func, select

from loyalty.db.core_tables import members, purchase_lines, purchases, returns, stores
from loyalty.services.common import read

if TYPE_CHECKING:
    from loyalty.analytics.churn import History
    from loyalty.bootstrap import Context


def _local_days(utc: pd.Series, zones: pd.Series) -> pd.Series:
    """UTC instants as calendar days in their zones (one conversion per zone, not per row)."""
    stamps = pd.to_datetime(utc, utc=True)
    out = pd.Series(pd.NaT, index=utc.index, dtype="datetime64[ns]")
    for zone, rows in zones.groupby(zones).groups.items():
        out[rows] = stamps[rows].dt.tz_convert(str(zone)).dt.tz_localize(None).dt.normalize()
    days: pd.Series = out.dt.date
    return days


def load_history(ctx: Context) -> History:
    """Every member's purchases, returns, first day per category and registration day."""
    from loyalty.analytics.churn import History
    from loyalty.analytics.store import erased_member_ids

    erased = erased_member_ids(ctx.engine)
    member = purchases.c.member_id.is_not(None)
    visits_q = (
        select(
            purchases.c.member_id,
            purchases.c.occurred_at,
            stores.c.timezone,
            purchases.c.total_minor,
            purchases.c.redeemed_points,
        )
        .select_from(purchases.join(stores, stores.c.id == purchases.c.store_id))
        .where(member)
    )
    returns_q = (
        select(purchases.c.member_id, returns.c.occurred_at, stores.c.timezone, returns.c.refund_minor)
        .select_from(
            returns.join(purchases, purchases.c.id == returns.c.purchase_id).join(
                stores, stores.c.id == returns.c.store_id
            )
        )
        .where(member)
    )
    lines_q = (
        select(
            purchases.c.member_id,
            purchase_lines.c.category,
            stores.c.timezone,
            func.min(purchases.c.occurred_at).label("occurred_at"),
        )
        .select_from(
            purchase_lines.join(purchases, purchases.c.id == purchase_lines.c.purchase_id).join(
                stores, stores.c.id == purchases.c.store_id
            )
        )
        .where(member, purchase_lines.c.category.is_not(None))
        .group_by(purchases.c.member_id, purchase_lines.c.category, stores.c.timezone)
    )
    joined_q = select(members.c.id.label("member_id"), members.c.created_at)
    with read(ctx) as conn:
        raw_visits = pd.DataFrame(
            conn.execute(visits_q).all(),
            columns=["member_id", "occurred_at", "timezone", "total_minor", "redeemed_points"],
        )
        raw_returns = pd.DataFrame(
            conn.execute(returns_q).all(), columns=["member_id", "occurred_at", "timezone", "refund_minor"]
        )
        raw_lines = pd.DataFrame(
            conn.execute(lines_q).all(), columns=["member_id", "category", "timezone", "occurred_at"]
        )
        registered = pd.DataFrame(conn.execute(joined_q).all(), columns=["member_id", "created_at"])

    def kept(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.astype({"member_id": "int64"})
        return frame[~frame["member_id"].isin(erased)].reset_index(drop=True)

    def dated(frame: pd.DataFrame, zones: pd.Series) -> pd.Series:
        return _local_days(frame["occurred_at"], zones.astype(str))

    raw_visits, raw_returns, raw_lines = kept(raw_visits), kept(raw_returns), kept(raw_lines)
    registered = kept(registered)
    visits = pd.DataFrame(
        {
            "member_id": raw_visits["member_id"],
            "day": dated(raw_visits, raw_visits["timezone"]),
            "total_minor": raw_visits["total_minor"].astype("float64"),
            "redeemed_points": raw_visits["redeemed_points"].astype("float64"),
        }
    )
    returned = pd.DataFrame(
        {
            "member_id": raw_returns["member_id"],
            "day": dated(raw_returns, raw_returns["timezone"]),
            "refund_minor": raw_returns["refund_minor"].astype("float64"),
        }
    )
    lines = pd.DataFrame(
        {
            "member_id": raw_lines["member_id"],
            "category": raw_lines["category"].astype(object),
            "day": dated(raw_lines, raw_lines["timezone"]),
        }
    )
    zone = pd.Series([ctx.settings.timezone] * len(registered), index=registered.index, dtype=object)
    joined = pd.DataFrame(
        {"member_id": registered["member_id"], "day": _local_days(registered["created_at"], zone)}
    )
    return History(visits=visits, returns=returned, lines=lines, joined=joined)
