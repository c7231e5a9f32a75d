"""Read the product database's purchases and returns; write member scores back (``analytics refresh``).

Reads go through SQLAlchemy Core by table name (the core tables are owned by the core area), then into
DuckDB for the feature expressions; writes replace ``member_scores`` and append ``member_score_history``
in one transaction, so segments never see a half-written refresh.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, MetaData, Table, case, delete, func, insert, select

from loyalty.analytics.errors import InputError
from loyalty.analytics.rfm import rfm_from_summary, score


def load_transactions(engine: Engine) -> pd.DataFrame:
    """Member purchases (positive, minor units) and their returns (negative refunds), one row each.

    Anonymous sales are left out: the member models need a member. A return is dated at the
    purchase it refunds, so it nets against that purchase's day (a refund a week later lowers what
    the member spent then, rather than making a return-only day the models would drop). Dates are
    the store's local time (business days), without a zone.
    """
    md = MetaData()
    try:
        purchases = Table("purchases", md, autoload_with=engine)
        returns = Table("returns", md, autoload_with=engine)
        stores = Table("stores", md, autoload_with=engine)
    except Exception as exc:  # NoSuchTableError and driver errors alike mean "not a product database"
        raise InputError(f"the database has no purchases/returns tables: {exc}") from exc
    columns = ["customer_id", "date", "amount", "timezone"]
    buy = (
        select(
            purchases.c.member_id.label("customer_id"),
            purchases.c.occurred_at.label("date"),
            purchases.c.total_minor.label("amount"),
            stores.c.timezone,
        )
        .select_from(purchases.join(stores, stores.c.id == purchases.c.store_id))
        .where(purchases.c.member_id.is_not(None))
    )
    ret = (
        select(
            purchases.c.member_id.label("customer_id"),
            purchases.c.occurred_at.label("date"),
            (-returns.c.refund_minor).label("amount"),
            stores.c.timezone,
        )
        .select_from(
            returns.join(purchases, returns.c.purchase_id == purchases.c.id).join(
                stores, stores.c.id == purchases.c.store_id
            )
        )
        .where(purchases.c.member_id.is_not(None))
    )
    with engine.connect() as conn:
        frames = [pd.DataFrame(conn.execute(q).all(), columns=columns) for q in (buy, ret)]
    df = pd.concat(frames, ignore_index=True)
    utc = pd.to_datetime(df["date"], utc=True)
    local = pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns]")
    for zone, rows in df.groupby("timezone").groups.items():  # a handful of zones, not a call per row
        local[rows] = utc[rows].dt.tz_convert(str(zone)).dt.tz_localize(None).astype("datetime64[ns]")
    df["date"] = local
    df["amount"] = df["amount"].astype("float64")
    df["customer_id"] = df["customer_id"].astype("int64")
    return df[["customer_id", "date", "amount"]]


def erased_member_ids(engine: Engine) -> list[int]:
    """Members whose personal data was erased (services.privacy): nothing is scored about them."""
    members = Table("members", MetaData(), autoload_with=engine)
    if "erased_at" not in members.c:  # a database from before erasure existed
        return []
    with engine.connect() as conn:
        return [
            int(i)
            for i in conn.execute(select(members.c.id).where(members.c.erased_at.is_not(None))).scalars()
        ]


def sales_by_channel(engine: Engine) -> pd.DataFrame:
    """All sales, members' and anonymous, net of refunds: one row per (channel, is_member).

    Columns ``channel`` (None where the database records no channel), ``is_member``, ``orders`` and
    ``net_minor`` (integer minor units). The report's member sales share and channel table come from
    here; the member models never see anonymous sales.
    """
    md = MetaData()
    try:
        purchases = Table("purchases", md, autoload_with=engine)
    except Exception as exc:  # NoSuchTableError and driver errors alike mean "not a product database"
        raise InputError(f"the database has no purchases table: {exc}") from exc
    is_member = case((purchases.c.member_id.is_(None), 0), else_=1)
    keys = [is_member.label("is_member")]
    if "channel" in purchases.c:
        keys.append(purchases.c.channel.label("channel"))
    q = select(
        *keys,
        func.count().label("orders"),
        func.coalesce(func.sum(purchases.c.total_minor - purchases.c.refunded_minor), 0).label("net_minor"),
    ).group_by(*keys)
    with engine.connect() as conn:
        df = pd.DataFrame([r._asdict() for r in conn.execute(q)])
    if df.empty:
        return pd.DataFrame(columns=["channel", "is_member", "orders", "net_minor"])
    if "channel" not in df:
        df["channel"] = None
    df = df[["channel", "is_member", "orders", "net_minor"]]
    df["is_member"] = df["is_member"].astype(bool)
    df["orders"] = df["orders"].astype("int64")
    df["net_minor"] = df["net_minor"].astype("int64")
    return df


def member_cards(engine: Engine, member_ids: list[int]) -> dict[int, str]:
    """Card numbers of a few members (the report's at-risk list masks them before showing)."""
    if not member_ids:
        return {}
    md = MetaData()
    members = Table("members", md, autoload_with=engine)
    q = select(members.c.id, members.c.card_no).where(members.c.id.in_([int(i) for i in member_ids]))
    with engine.connect() as conn:
        return {int(i): str(card) for i, card in conn.execute(q).all()}


def business_day(moment: dt.datetime) -> pd.Timestamp:
    """The programme's calendar day at `moment` (its LOYALTY_TIMEZONE), as the transactions' dates are."""
    stamp = pd.Timestamp(moment)
    if stamp.tzinfo is None:
        return stamp.normalize()
    from loyalty.config import get_settings

    return stamp.tz_convert(get_settings().timezone).tz_localize(None).normalize()


def compute_scores(tx: pd.DataFrame, *, as_of: dt.datetime, model: str = "bgnbd") -> pd.DataFrame:
    """Binary RFM plus CLV for every member with a purchase, as of `as_of`'s business day.

    The purchase and spend models are fitted on all the history up to that day, and every member is
    scored as of it (a member who last bought a month ago has had a month to come back). CLV columns
    are empty when no model fits.
    """
    from loyalty.analytics.errors import ConvergenceError
    from loyalty.analytics.features import summary
    from loyalty.analytics.pipeline import fit_summary, score_summary

    day = business_day(as_of)
    s = summary(tx, observation_end=day, time_unit="day", returns="net")
    rfm = score(rfm_from_summary(s), scheme="binary").set_index("customer_id")
    out = rfm[["rfm_code", "segment", "recency_days", "frequency", "monetary"]].copy()
    out["p_alive"] = np.nan
    out["expected_purchases"] = np.nan
    out["clv"] = np.nan
    weeks = s.assign(recency=s["recency"] / 7.0, T=s["T"] / 7.0)
    try:
        fitted = fit_summary(weeks, time_unit="week", model=model)  # type: ignore[arg-type]
    except (ConvergenceError, InputError):
        return out.reset_index()  # too little history for a purchase model: RFM scores are still written
    sc = score_summary(weeks, fitted).set_index("customer_id")
    out.loc[sc.index, "p_alive"] = sc["p_alive"]
    out.loc[sc.index, "expected_purchases"] = sc["expected_purchases"]
    out.loc[sc.index, "clv"] = sc["clv"]
    return out.reset_index()


#: the stages of a refresh, in order, as its `progress` callback names them
REFRESH_STAGES = ("load", "score", "check", "write")

#: told `(stages done, stages in all, the stage starting)`; after the last, the stage is "done"
StageProgress = Callable[[int, int, str], None]


def refresh(
    engine: Engine,
    *,
    now: dt.datetime,
    model: str = "bgnbd",
    progress: StageProgress | None = None,
) -> int:
    """Recompute every member's scores and store them; returns the number of members scored.

    Four stages (`REFRESH_STAGES`): read the purchases, score (RFM and the model fitted on the whole
    history), check the model on a holdout period (`analytics.fit_check`), write. Everything is
    written at the end in one transaction: the scores, their history and the refresh's row in
    `analytics_refreshes` (with the check), so a refresh that fails writes nothing. `progress`, when
    given, hears of each stage as it starts; it changes nothing of what is computed.

    Raises :class:`InputError` when the purchases mix currencies: money scores need one.
    """
    from loyalty.analytics.currency import database_currency
    from loyalty.analytics.fit_check import check_fit
    from loyalty.db.analytics_tables import analytics_refreshes, member_score_history, member_scores

    def stage(number: int) -> None:
        if progress is not None:
            total = len(REFRESH_STAGES)
            progress(number, total, REFRESH_STAGES[number] if number < total else "done")

    stage(0)
    currency = database_currency(engine)
    tx = load_transactions(engine)
    if tx.empty:
        stage(len(REFRESH_STAGES))
        return 0
    stage(1)
    sc = compute_scores(tx, as_of=now, model=model)
    # An erased member's purchases stay in the books (and in the fit), but no score is kept about them.
    sc = sc[~sc["customer_id"].isin(erased_member_ids(engine))]
    stage(2)
    check = check_fit(tx, model=model)  # type: ignore[arg-type]

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
    stage(3)
    with engine.begin() as conn:
        conn.execute(delete(member_scores))
        conn.execute(insert(member_scores), rows)
        conn.execute(insert(member_score_history), [{k: row[k] for k in keep} for row in rows])
        conn.execute(
            insert(analytics_refreshes),
            {
                "computed_at": now,
                "model": model,
                "members": len(rows),
                "currency": currency,
                "calibration_end": dt.date.fromisoformat(check.calibration_end)
                if check.calibration_end
                else None,
                "holdout_weeks": check.holdout_weeks,
                "holdout": check.holdout,
                "tracking": check.tracking,
                "params": check.params,
                "problem": check.problem,
            },
        )
    stage(len(REFRESH_STAGES))
    return len(rows)
