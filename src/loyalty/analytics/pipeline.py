"""End-to-end CLV: summary → purchase model → Gamma-Gamma → per-customer scores.

Kept apart from the CLI so ``loyalty analytics refresh`` and Python users run exactly the same steps.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from loyalty.analytics.errors import InputError
from loyalty.analytics.features import Columns, TimeUnit, summary
from loyalty.analytics.files import read_table as read_table
from loyalty.analytics.files import write_table as write_table
from loyalty.analytics.models import BetaGeo, GammaGamma, ParetoNBD, clv

if TYPE_CHECKING:
    import ibis

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


def fit_clv(
    source: Any,
    columns: Columns | None = None,
    *,
    calibration_end: dt.date | str | None,
    time_unit: TimeUnit = "week",
    model: ModelName = "bgnbd",
    horizon_months: int = 12,
    discount_rate: float = 0.01,
    returns: Literal["reject", "net"] = "reject",
    con: ibis.BaseBackend | None = None,
) -> tuple[pd.DataFrame, dict[str, Any], pd.DataFrame]:
    """Fit on the calibration period and score every customer seen in it.

    Returns ``(scores, params, summary)``: the CLI ``clv`` table, the PARAMS.json dict, and the full
    summary (with holdout columns) for the calibration/holdout check. Without a calibration end the
    models are fitted on all the data and customers are scored as of its last purchase day.
    """
    s = summary(
        source, columns, calibration_end=calibration_end, time_unit=time_unit, returns=returns, con=con
    )
    fitted = fit_summary(s, time_unit=time_unit, model=model)
    out = score_summary(s, fitted, horizon_months=horizon_months, discount_rate=discount_rate)
    end = calibration_end if calibration_end is not None else s["last_purchase"].max()
    params = fitted.params()
    params["calibration_end"] = str(pd.Timestamp(end).date())
    return out, params, s


@dataclass(frozen=True)
class FittedModels:
    """A purchase model and the Gamma-Gamma spend model, fitted on one summary in one time unit."""

    purchases: BetaGeo | ParetoNBD
    spend: GammaGamma
    model: ModelName
    time_unit: TimeUnit

    def params(self) -> dict[str, Any]:
        """The PARAMS.json dict: purchase-model parameters, log-likelihood, standard errors, Gamma-Gamma."""
        out: dict[str, Any] = {"model": self.model, **self.purchases.params_}
        out["log_likelihood"] = self.purchases.log_likelihood_
        out["n_customers"] = self.purchases.n_customers_
        out["standard_errors"] = self.purchases.standard_errors_
        out["gamma_gamma"] = {**self.spend.params_, "log_likelihood": self.spend.log_likelihood_}
        out["gamma_gamma_standard_errors"] = self.spend.standard_errors_
        out["gamma_gamma_n_customers"] = self.spend.n_customers_
        out["time_unit"] = self.time_unit
        return out


def fit_summary(s: pd.DataFrame, *, time_unit: TimeUnit = "week", model: ModelName = "bgnbd") -> FittedModels:
    """Fit the purchase model and Gamma-Gamma on a customer summary (``frequency, recency, T, monetary``)."""
    x, tx, tt, m = (s[c].to_numpy(dtype=np.float64) for c in ("frequency", "recency", "T", "monetary_value"))
    purchases: BetaGeo | ParetoNBD = BetaGeo() if model == "bgnbd" else ParetoNBD()
    purchases.fit(x, tx, tt)
    return FittedModels(purchases, GammaGamma().fit(x, m), model, time_unit)


def score_summary(
    s: pd.DataFrame, fitted: FittedModels, *, horizon_months: int = 12, discount_rate: float = 0.01
) -> pd.DataFrame:
    """The ``clv`` table for every customer of a summary: P(alive), expected purchases, spend and CLV."""
    x, tx, tt, m = (s[c].to_numpy(dtype=np.float64) for c in ("frequency", "recency", "T", "monetary_value"))
    horizon = horizon_months * PER_MONTH[fitted.time_unit]
    out = s[["customer_id", "frequency", "recency", "T", "monetary_value"]].copy()
    out["p_alive"] = fitted.purchases.predict_p_alive(x, tx, tt)
    out["expected_purchases"] = fitted.purchases.predict_purchases(horizon, x, tx, tt)
    out["expected_avg_value"] = fitted.spend.predict_spend(x, m)
    out["clv"] = clv(
        fitted.purchases,
        fitted.spend,
        x,
        tx,
        tt,
        m,
        months=horizon_months,
        discount_rate=discount_rate,
        time_unit=fitted.time_unit,
    )
    return out[CLV_COLUMNS]


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
