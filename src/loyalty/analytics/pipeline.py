"""End-to-end CLV: summary → purchase model → Gamma-Gamma → per-customer scores, plus table I/O.

Kept apart from the CLI so ``loyalty analytics refresh`` and Python users run exactly the same steps.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Literal

import ibis
import numpy as np
import pandas as pd

from loyalty.analytics.errors import InputError
from loyalty.analytics.features import Columns, TimeUnit, summary
from loyalty.analytics.models import BetaGeo, GammaGamma, ParetoNBD, clv

ModelName = Literal["bgnbd", "pareto"]
PER_MONTH = {"week": 4.345, "day": 30.0}
CLV_COLUMNS = [
    "customer_id",
    "frequency",
    "recency",
    "T",
    "monetary_value",
    "p_alive",
    "expected_purchases",
    "expected_avg_value",
    "clv",
]


def read_table(path: str | Path) -> pd.DataFrame:
    """Read CSV (optionally .gz) or Parquet by extension, everything as text for CSV (validated later)."""
    p = Path(path)
    name = p.name.lower()
    if name.endswith((".parquet", ".pq")):
        return pd.read_parquet(p)
    if name.endswith((".csv", ".csv.gz")):
        return pd.read_csv(p, dtype=str, keep_default_na=False, na_values=[""])
    raise InputError(f"{p}: unsupported file type (use .csv, .csv.gz or .parquet)")


def write_table(df: pd.DataFrame, path: str | Path) -> None:
    """Write CSV (optionally .gz) or Parquet by extension."""
    p = Path(path)
    name = p.name.lower()
    if name.endswith((".parquet", ".pq")):
        df.to_parquet(p, index=False)
    elif name.endswith((".csv", ".csv.gz")):
        df.to_csv(p, index=False)
    else:
        raise InputError(f"{p}: unsupported output type (use .csv, .csv.gz or .parquet)")


def fit_clv(
    source: Any,
    columns: Columns | None = None,
    *,
    calibration_end: dt.date | str,
    time_unit: TimeUnit = "week",
    model: ModelName = "bgnbd",
    horizon_months: int = 12,
    discount_rate: float = 0.01,
    returns: Literal["reject", "net"] = "reject",
    con: ibis.BaseBackend | None = None,
) -> tuple[pd.DataFrame, dict[str, Any], pd.DataFrame]:
    """Fit on the calibration period and score every customer seen in it.

    Returns ``(scores, params, summary)``: the CLI ``clv`` table, the PARAMS.json dict, and the full
    summary (with holdout columns) for the calibration/holdout check.
    """
    s = summary(
        source, columns, calibration_end=calibration_end, time_unit=time_unit, returns=returns, con=con
    )
    x, tx, tt, m = (s[c].to_numpy(dtype=np.float64) for c in ("frequency", "recency", "T", "monetary_value"))
    purchases: BetaGeo | ParetoNBD = BetaGeo() if model == "bgnbd" else ParetoNBD()
    purchases.fit(x, tx, tt)
    spend = GammaGamma().fit(x, m)
    horizon = horizon_months * PER_MONTH[time_unit]
    out = s[["customer_id", "frequency", "recency", "T", "monetary_value"]].copy()
    out["p_alive"] = purchases.predict_p_alive(x, tx, tt)
    out["expected_purchases"] = purchases.predict_purchases(horizon, x, tx, tt)
    out["expected_avg_value"] = spend.predict_spend(x, m)
    out["clv"] = clv(
        purchases,
        spend,
        x,
        tx,
        tt,
        m,
        months=horizon_months,
        discount_rate=discount_rate,
        time_unit=time_unit,
    )
    params: dict[str, Any] = {"model": model, **purchases.params_}
    params["log_likelihood"] = purchases.log_likelihood_
    params["n_customers"] = purchases.n_customers_
    params["standard_errors"] = purchases.standard_errors_
    params["gamma_gamma"] = {**spend.params_, "log_likelihood": spend.log_likelihood_}
    params["time_unit"] = time_unit
    params["calibration_end"] = str(pd.Timestamp(calibration_end).date())
    return out[CLV_COLUMNS], params, s


def holdout_by_frequency(
    s: pd.DataFrame, purchases: BetaGeo | ParetoNBD, max_bucket: int = 7
) -> pd.DataFrame:
    """Mean predicted vs actual holdout repeat purchases per calibration-frequency bucket.

    This is the papers' calibration/holdout check (FHL 2005, figure 4).
    """
    if "frequency_holdout" not in s:
        raise InputError("summary has no holdout columns (give a calibration end)")
    pred = purchases.predict_purchases(
        float(s["duration_holdout"].iloc[0]), s["frequency"], s["recency"], s["T"]
    )
    bucket = np.minimum(s["frequency"].to_numpy(), max_bucket).astype(int)
    df = pd.DataFrame({"bucket": bucket, "actual": s["frequency_holdout"], "predicted": pred})
    out = df.groupby("bucket").agg(
        customers=("actual", "size"), actual=("actual", "mean"), predicted=("predicted", "mean")
    )
    return out.reset_index()


def tracking(
    source: Any,
    model: BetaGeo,
    columns: Columns | None = None,
    *,
    calibration_end: dt.date | str,
    returns: Literal["reject", "net"] = "reject",
) -> pd.DataFrame:
    """Cumulative repeat purchases per week, actual vs BG/NBD-predicted, across calibration and holdout.

    The papers' tracking plot (FHL 2005, figure 2): each customer contributes E[X(t − first purchase)]
    from the new-customer formula, summed per distinct first-purchase day, so the cost is
    (distinct first days × weeks), not customers × weeks. Requires a model fitted in weeks.
    """
    from loyalty.analytics.features import daily, transactions

    d = daily(transactions(source, columns, returns=returns)).execute()
    first = d.groupby("customer_id")["day"].transform("min")
    start = int(d["day"].min())
    repeat_days = np.sort((d.loc[d["day"] > first, "day"].to_numpy() - start) / 7.0)
    weeks = np.arange(1, int(np.ceil((int(d["day"].max()) - start + 1) / 7.0)) + 1, dtype=np.float64)
    first_week, n_first = np.unique(
        (first.groupby(d["customer_id"]).first().to_numpy() - start) / 7.0, return_counts=True
    )
    age = np.clip(weeks[:, None] - first_week[None, :], 0.0, None)
    predicted = model.predict_purchases_new(age) @ n_first
    actual = np.searchsorted(repeat_days, weeks, side="left")
    cal_week = (pd.Timestamp(calibration_end).normalize().value // 86_400_000_000_000 - start + 1) / 7.0
    return pd.DataFrame(
        {"week": weeks.astype(int), "actual": actual, "predicted": predicted, "holdout": weeks > cal_week}
    )
