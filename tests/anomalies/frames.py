"""Hand-built activity for the detection tests: rows written out one by one, times in the store's zone."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

import pandas as pd

from loyalty.analytics.anomalies import Activity, StoreLabel

SHANGHAI = timezone(timedelta(hours=8))
URUMQI = timezone(timedelta(hours=6))
ZONES = {1: SHANGHAI, 2: URUMQI, 3: SHANGHAI}
STORES = {
    1: StoreLabel("SH", "Shanghai store", "上海"),
    2: StoreLabel("UR", "Urumqi store", "乌鲁木齐"),
    3: StoreLabel("HZ", "Hangzhou store", "杭州"),
}
START, END = date(2026, 3, 1), date(2026, 3, 31)


def _times(store_id: int, local: str) -> dict[str, Any]:
    naive = datetime.fromisoformat(local)
    return {
        "at": pd.Timestamp(naive.replace(tzinfo=ZONES[store_id])).tz_convert("UTC"),
        "local": pd.Timestamp(naive),
    }


def purchases(*rows: tuple[Any, ...]) -> pd.DataFrame:
    """(member_id, store_id, local time, total_minor, refunded_minor, points[, channel])"""
    out = []
    for row in rows:
        member_id, store_id, local, total, refunded, points = row[:6]
        channel = row[6] if len(row) > 6 else "store"
        out.append(
            {
                "member_id": member_id,
                "store_id": store_id,
                **_times(store_id, local),
                "channel": channel,
                "total_minor": total,
                "refunded_minor": refunded,
                "points": points,
            }
        )
    cols = ["member_id", "store_id", "at", "local", "channel", "total_minor", "refunded_minor", "points"]
    return _typed(pd.DataFrame(out, columns=cols))


def redemptions(*rows: tuple[int, int, str, int]) -> pd.DataFrame:
    """(member_id, store_id, local time, points)"""
    out = [{"member_id": m, "store_id": s, **_times(s, t), "points": p} for m, s, t, p in rows]
    return _typed(pd.DataFrame(out, columns=["member_id", "store_id", "at", "local", "points"]))


def adjustments(*rows: tuple[str, int, str, int]) -> pd.DataFrame:
    """(operator, member_id, local time in Shanghai, signed points)"""
    out = [{"operator": o, "member_id": m, **_times(1, t), "points": p} for o, m, t, p in rows]
    return _typed(pd.DataFrame(out, columns=["operator", "member_id", "at", "local", "points"]))


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    df["at"] = pd.to_datetime(df["at"], utc=True)
    df["local"] = pd.to_datetime(df["local"]).astype("datetime64[ns]")
    for col in ("member_id", "store_id", "total_minor", "refunded_minor", "points"):
        if col in df:
            df[col] = df[col].astype("int64")
    return df


def activity(
    p: pd.DataFrame | None = None, r: pd.DataFrame | None = None, a: pd.DataFrame | None = None
) -> Activity:
    return Activity(
        START,
        END,
        p if p is not None else purchases(),
        r if r is not None else redemptions(),
        a if a is not None else adjustments(),
        STORES,
        "CNY",
    )


def ordinary(members: range, day: str = "2026-03-05") -> list[tuple[Any, ...]]:
    """One ordinary ¥100 purchase (100 points) for each of `members` at the Shanghai store."""
    return [(m, 1, f"{day} 12:00", 10_000, 0, 100) for m in members]
