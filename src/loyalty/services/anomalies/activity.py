"""A period's activity, read from the ledger's own tables for the anomaly scan.

Three reads, each one statement on SQLite and PostgreSQL, bounded by time (a day's margin either side
of the period in UTC, then cut to the period's business days in each store's own zone): the members'
purchases (with what was refunded of them since), their redemptions (`transfers` of kind redeem) and
the staff's manual adjustments (`transfers` of kind adjust with the rule `adjust:manual`: opening
balances an import granted are adjustments too, but not anyone's hand at work). Anonymous sales are
left out, and so is every member whose personal data was erased (`services.privacy`).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import case, func, select

from loyalty.db.core_tables import accounts, members, purchases, stores, transfers
from loyalty.services.common import read

if TYPE_CHECKING:
    from loyalty.analytics.anomalies import Activity
    from loyalty.bootstrap import Context

MANUAL_RULE = "adjust:manual"


def _local(at: pd.Series, zones: pd.Series) -> pd.Series:
    """UTC instants as naive local times in their zones (one conversion per zone, not per row)."""
    stamps = pd.to_datetime(at, utc=True)
    out = pd.Series(pd.NaT, index=at.index, dtype="datetime64[ns]")
    for zone, rows in zones.groupby(zones).groups.items():
        out[rows] = stamps[rows].dt.tz_convert(str(zone)).dt.tz_localize(None).astype("datetime64[ns]")
    return out


def _frame(rows: list[Any], columns: list[str], zone_default: str) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=columns)
    df["timezone"] = df["timezone"].fillna(zone_default).astype(object) if len(df) else df["timezone"]
    df["at"] = pd.to_datetime(df["at"], utc=True) if len(df) else pd.Series([], dtype="datetime64[ns, UTC]")
    df["local"] = _local(df["at"], df["timezone"]) if len(df) else pd.Series([], dtype="datetime64[ns]")
    return df


def _in_period(df: pd.DataFrame, start: date, end: date) -> pd.DataFrame:
    if df.empty:
        return df.drop(columns=["timezone"])
    days = df["local"].dt.date
    kept: pd.DataFrame = df[(days >= start) & (days <= end)].drop(columns=["timezone"])
    return kept.reset_index(drop=True)


def utc_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """Instants that hold the period's business days in every zone (a day's margin either side)."""
    utc = ZoneInfo("UTC")
    return (
        datetime.combine(start - timedelta(days=1), time(0), tzinfo=utc),
        datetime.combine(end + timedelta(days=2), time(0), tzinfo=utc),
    )


def load_activity(ctx: Context, start: date, end: date) -> Activity:
    """The activity of business days `start`…`end` (both included), as the detection reads it."""
    from loyalty.analytics.anomalies import Activity, StoreLabel

    since, until = utc_bounds(start, end)
    kept = members.c.erased_at.is_(None)
    bought = (
        select(
            purchases.c.member_id,
            purchases.c.store_id,
            purchases.c.occurred_at.label("at"),
            stores.c.timezone,
            purchases.c.channel,
            purchases.c.total_minor,
            purchases.c.refunded_minor,
            purchases.c.points_earned.label("points"),
        )
        .select_from(
            purchases.join(stores, stores.c.id == purchases.c.store_id).join(
                members, members.c.id == purchases.c.member_id
            )
        )
        .where(kept, purchases.c.occurred_at >= since, purchases.c.occurred_at < until)
    )
    redeemed = (
        select(
            transfers.c.member_id,
            transfers.c.store_id,
            transfers.c.created_at.label("at"),
            stores.c.timezone,
            transfers.c.amount.label("points"),
        )
        .select_from(
            transfers.join(members, members.c.id == transfers.c.member_id).outerjoin(
                stores, stores.c.id == transfers.c.store_id
            )
        )
        .where(
            kept,
            transfers.c.kind == "redeem",
            transfers.c.created_at >= since,
            transfers.c.created_at < until,
        )
    )
    credited = accounts.alias("credited")
    adjusted = (
        select(
            func.coalesce(transfers.c.operator, "unknown").label("operator"),
            transfers.c.member_id,
            transfers.c.created_at.label("at"),
            stores.c.timezone,
            case((credited.c.kind == "member", transfers.c.amount), else_=-transfers.c.amount).label(
                "points"
            ),
        )
        .select_from(
            transfers.join(members, members.c.id == transfers.c.member_id)
            .join(credited, credited.c.id == transfers.c.credit_account_id)
            .outerjoin(stores, stores.c.id == transfers.c.store_id)
        )
        .where(
            kept,
            transfers.c.kind == "adjust",
            transfers.c.rule == MANUAL_RULE,
            transfers.c.created_at >= since,
            transfers.c.created_at < until,
        )
    )
    zone = ctx.settings.timezone
    with read(ctx) as conn:
        p = _frame(
            list(conn.execute(bought)),
            ["member_id", "store_id", "at", "timezone", "channel", "total_minor", "refunded_minor", "points"],
            zone,
        )
        r = _frame(list(conn.execute(redeemed)), ["member_id", "store_id", "at", "timezone", "points"], zone)
        a = _frame(list(conn.execute(adjusted)), ["operator", "member_id", "at", "timezone", "points"], zone)
        labels = {
            int(s.id): StoreLabel(str(s.code), str(s.name), s.city)
            for s in conn.execute(select(stores.c.id, stores.c.code, stores.c.name, stores.c.city))
        }
    p = _in_period(p, start, end).astype(
        {
            "member_id": "int64",
            "store_id": "int64",
            "total_minor": "int64",
            "refunded_minor": "int64",
            "points": "int64",
        }
    )
    r = _in_period(r, start, end)
    r["store_id"] = r["store_id"].fillna(0)
    r = r.astype({"member_id": "int64", "store_id": "int64", "points": "int64"})
    a = _in_period(a, start, end).astype({"member_id": "int64", "points": "int64"})
    a["operator"] = a["operator"].astype(object)
    return Activity(
        start=start,
        end=end,
        purchases=p,
        redemptions=r,
        adjustments=a,
        stores=labels,
        currency=ctx.settings.currency,
    )
