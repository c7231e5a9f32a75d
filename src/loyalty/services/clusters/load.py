"""The product database's purchases as the clustering's input: visits, line spend and registrations.

Three reads, each one statement on SQLite and PostgreSQL: the members' purchases (one row each, with
the store's time zone for the business day, the channel and what the purchase came to after
refunds); their lines' spend grouped by member and category in the database (net of the quantities
returned, and the part sold at a discount); and when each member registered. Anonymous sales are left
out (clustering is about members), and so is every member whose personal data was erased
(`services.privacy`): nothing is computed about them. The features themselves are
:func:`loyalty.analytics.clusters.member_features` (DuckDB).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import pandas as pd
from sqlalchemy import Float, case, cast, func, select

from loyalty.db.core_tables import members, purchase_lines, purchases, stores
from loyalty.services.common import read

if TYPE_CHECKING:
    from loyalty.analytics.clusters import MemberFeatures
    from loyalty.bootstrap import Context


def _local_days(utc: pd.Series, zones: pd.Series) -> pd.Series:
    """UTC instants as calendar days in their zones (one conversion per zone, not per row)."""
    stamps = pd.to_datetime(utc, utc=True)
    out = pd.Series(pd.NaT, index=utc.index, dtype="datetime64[ns]")
    for zone, rows in zones.groupby(zones).groups.items():
        out[rows] = stamps[rows].dt.tz_convert(str(zone)).dt.tz_localize(None).dt.normalize()
    days: pd.Series = out.dt.date
    return days


def load_tables(ctx: Context) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(visits, spend, joined) as :func:`~loyalty.analytics.clusters.member_features` reads them."""
    kept = members.c.erased_at.is_(None)
    visits_q = (
        select(
            purchases.c.member_id,
            purchases.c.occurred_at,
            stores.c.timezone,
            purchases.c.channel,
            (purchases.c.total_minor - purchases.c.refunded_minor).label("net_minor"),
        )
        .select_from(
            purchases.join(stores, stores.c.id == purchases.c.store_id).join(
                members, members.c.id == purchases.c.member_id
            )
        )
        .where(kept)
    )
    line_net = (
        cast(purchase_lines.c.amount_minor, Float)
        * (purchase_lines.c.quantity - purchase_lines.c.returned_quantity)
        / purchase_lines.c.quantity
    )
    spend_q = (
        select(
            purchases.c.member_id,
            purchase_lines.c.category,
            func.sum(line_net).label("net_minor"),
            func.sum(case((purchase_lines.c.discount_minor > 0, line_net), else_=0.0)).label(
                "discounted_minor"
            ),
        )
        .select_from(
            purchase_lines.join(purchases, purchases.c.id == purchase_lines.c.purchase_id).join(
                members, members.c.id == purchases.c.member_id
            )
        )
        .where(kept)
        .group_by(purchases.c.member_id, purchase_lines.c.category)
    )
    joined_q = select(members.c.id.label("member_id"), members.c.created_at).where(kept)
    with read(ctx) as conn:
        raw = pd.DataFrame(
            conn.execute(visits_q).all(),
            columns=["member_id", "occurred_at", "timezone", "channel", "net_minor"],
        )
        spend = pd.DataFrame(
            conn.execute(spend_q).all(), columns=["member_id", "category", "net_minor", "discounted_minor"]
        )
        registered = pd.DataFrame(conn.execute(joined_q).all(), columns=["member_id", "created_at"])
    visits = pd.DataFrame(
        {
            "member_id": raw["member_id"].astype("int64"),
            "day": _local_days(raw["occurred_at"], raw["timezone"].astype(str)),
            "channel": raw["channel"].astype(object),
            "net_minor": raw["net_minor"].astype("float64"),
        }
    )
    spend = spend.astype(
        {"member_id": "int64", "category": object, "net_minor": "float64", "discounted_minor": "float64"}
    )
    zone = pd.Series([ctx.settings.timezone] * len(registered), index=registered.index, dtype=object)
    joined = pd.DataFrame(
        {
            "member_id": registered["member_id"].astype("int64"),
            "day": _local_days(registered["created_at"], zone),
        }
    )
    return visits, spend, joined


def load_features(ctx: Context, as_of: date) -> MemberFeatures:
    """Every member's features as of the business day ``as_of`` (erased members left out)."""
    from loyalty.analytics.clusters import member_features

    visits, spend, joined = load_tables(ctx)
    return member_features(visits, spend, as_of=as_of, joined=joined)
