"""Read the product database's purchases and returns; write member scores back (``analytics refresh``).

Reads go through SQLAlchemy Core by table name (the core tables are owned by the core area), then into
DuckDB for the feature expressions; writes replace ``member_scores`` and append ``member_score_history``
in one transaction, so segments never see a half-written refresh.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, MetaData, Table, delete, insert, select

from loyalty.analytics.errors import InputError
from loyalty.analytics.pipeline import fit_clv
from loyalty.analytics.rfm import rfm_from_summary, score


def load_transactions(engine: Engine) -> pd.DataFrame:
    """Member purchases (positive, minor units) and their returns (negative refunds), one row each."""
    md = MetaData()
    try:
        purchases = Table("purchases", md, autoload_with=engine)
        returns = Table("returns", md, autoload_with=engine)
    except Exception as exc:  # NoSuchTableError and driver errors alike mean "not a product database"
        raise InputError(f"the database has no purchases/returns tables: {exc}") from exc
    buy = select(
        purchases.c.member_id.label("customer_id"),
        purchases.c.occurred_at.label("date"),
        purchases.c.total_minor.label("amount"),
    ).where(purchases.c.member_id.is_not(None))
    ret = (
        select(
            purchases.c.member_id.label("customer_id"),
            returns.c.occurred_at.label("date"),
            (-returns.c.refund_minor).label("amount"),
        )
        .select_from(returns.join(purchases, returns.c.purchase_id == purchases.c.id))
        .where(purchases.c.member_id.is_not(None))
    )
    with engine.connect() as conn:
        frames = [
            pd.DataFrame(conn.execute(q).all(), columns=["customer_id", "date", "amount"]) for q in (buy, ret)
        ]
    df = pd.concat(frames, ignore_index=True)
    df["date"] = pd.to_datetime(df["date"], utc=True).dt.tz_localize(None)
    df["amount"] = df["amount"].astype("float64")
    df["customer_id"] = df["customer_id"].astype("int64")
    return df


def compute_scores(tx: pd.DataFrame, *, as_of: dt.datetime, model: str = "bgnbd") -> pd.DataFrame:
    """Binary RFM plus CLV for every member with a purchase; CLV columns are empty when no model fits."""
    from loyalty.analytics.errors import ConvergenceError
    from loyalty.analytics.features import summary

    day = (
        pd.Timestamp(as_of).tz_localize(None).normalize()
        if pd.Timestamp(as_of).tzinfo
        else pd.Timestamp(as_of)
    )
    s = summary(tx, observation_end=day, time_unit="day", returns="net")
    rfm = score(rfm_from_summary(s), scheme="binary").set_index("customer_id")
    out = rfm[["rfm_code", "segment", "recency_days", "frequency", "monetary"]].copy()
    out["p_alive"] = np.nan
    out["expected_purchases"] = np.nan
    out["clv"] = np.nan
    try:
        first_day = pd.to_datetime(tx["date"]).min().normalize()
        cal_end = day - pd.Timedelta(days=1) if day > first_day else day
        scores, _, _ = fit_clv(tx, calibration_end=cal_end, time_unit="week", model=model, returns="net")  # type: ignore[arg-type]
        sc = scores.set_index("customer_id")
        out.loc[sc.index, "p_alive"] = sc["p_alive"]
        out.loc[sc.index, "expected_purchases"] = sc["expected_purchases"]
        out.loc[sc.index, "clv"] = sc["clv"]
    except (ConvergenceError, InputError):
        pass  # too little history for a purchase model: RFM scores are still written
    return out.reset_index()


def refresh(engine: Engine, *, now: dt.datetime, model: str = "bgnbd") -> int:
    """Recompute every member's scores and store them; returns the number of members scored."""
    from loyalty.db.analytics_tables import member_score_history, member_scores

    tx = load_transactions(engine)
    if tx.empty:
        return 0
    sc = compute_scores(tx, as_of=now, model=model)

    def _opt(v: Any) -> Any:
        return None if pd.isna(v) else float(v)

    rows = [
        {
            "member_id": int(r["customer_id"]),
            "rfm_code": str(r["rfm_code"]),
            "segment": str(r["segment"]),
            "recency_days": int(r["recency_days"]),
            "frequency": int(r["frequency"]),
            "monetary_minor": round(float(r["monetary"])),
            "p_alive": _opt(r["p_alive"]),
            "expected_purchases": _opt(r["expected_purchases"]),
            "clv_minor": None if pd.isna(r["clv"]) else round(float(r["clv"])),
            "model": model,
            "computed_at": now,
        }
        for r in sc.to_dict("records")
    ]
    keep = ("member_id", "computed_at", "rfm_code", "segment", "p_alive", "expected_purchases", "clv_minor")
    with engine.begin() as conn:
        conn.execute(delete(member_scores))
        conn.execute(insert(member_scores), rows)
        conn.execute(insert(member_score_history), [{k: row[k] for k in keep} for row in rows])
    return len(rows)
