"""The model's calibration/holdout check, made at refresh time and kept for the analyst's page.

The scores of `analytics refresh` come from a model fitted on the whole history, which says nothing
of how well it predicts. The check fits the same model on the history up to a calibration end (three
quarters of the way from the first purchase day to the last, as the HTML report does) and sets its
predictions for the weeks after beside what the members actually did: mean repeat purchases per
calibration-frequency bucket (FHL 2005, figure 4) and, for BG/NBD, cumulative repeat purchases week by
week (figure 2). Both are small tables, stored as JSON in `analytics_refreshes` with the refresh.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from loyalty.analytics.errors import AnalyticsError
from loyalty.analytics.features import summary
from loyalty.analytics.models import BetaGeo, ParetoNBD
from loyalty.analytics.pipeline import ModelName, holdout_by_frequency, tracking


@dataclass
class FitCheck:
    """The check, or why there is none (`problem`: too little history, no repeat purchases …)."""

    calibration_end: str | None = None
    holdout_weeks: float | None = None
    holdout: list[dict[str, Any]] | None = None
    tracking: list[dict[str, Any]] | None = None
    params: dict[str, Any] | None = None
    problem: str | None = None


def _finite(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def _plain(value: Any) -> Any:
    """A JSON-storable copy of fitted parameters (NumPy scalars and non-finite numbers made plain)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, str | bool) or value is None:
        return value
    if isinstance(value, int):
        return value
    try:
        return _finite(value)
    except (TypeError, ValueError):
        return str(value)


def check_fit(tx: pd.DataFrame, *, model: ModelName = "bgnbd") -> FitCheck:
    """The calibration/holdout check of `model` on member transactions (`customer_id, date, amount`,
    returns netted as `load_transactions` gives them)."""
    dates = pd.to_datetime(tx["date"])
    first, last = dates.min().normalize(), dates.max().normalize()
    cal_end = str((first + (last - first) * 0.75).date())
    try:
        s_cal = summary(tx, calibration_end=cal_end, time_unit="week", returns="net")
        # the purchase model only: the check is about purchases, and spend (Gamma-Gamma) plays no part
        x, t_x, t = (s_cal[c].to_numpy(dtype=np.float64) for c in ("frequency", "recency", "T"))
        fitted = (BetaGeo() if model == "bgnbd" else ParetoNBD()).fit(x, t_x, t)
        by_frequency = holdout_by_frequency(s_cal, fitted)
        weekly = None
        if isinstance(fitted, BetaGeo):
            weekly = tracking(tx, fitted, calibration_end=cal_end, returns="net")
    except AnalyticsError as exc:
        return FitCheck(calibration_end=cal_end, problem=exc.message)
    holdout = [
        {
            "bucket": int(r["bucket"]),
            "customers": int(r["customers"]),
            "actual": _finite(r["actual"]),
            "predicted": _finite(r["predicted"]),
        }
        for r in by_frequency.to_dict("records")
    ]
    track = (
        [
            {
                "week": int(r["week"]),
                "actual": _finite(r["actual"]),
                "predicted": _finite(r["predicted"]),
                "holdout": bool(r["holdout"]),
            }
            for r in weekly.to_dict("records")
        ]
        if weekly is not None
        else None
    )
    # The parameters without their standard errors: those cost as much again as the fit's last steps.
    params: dict[str, Any] = {
        "model": model,
        **fitted.params_,
        "log_likelihood": fitted.log_likelihood_,
        "n_customers": fitted.n_customers_,
        "time_unit": "week",
        "calibration_end": cal_end,
    }
    return FitCheck(
        calibration_end=cal_end,
        holdout_weeks=_finite(s_cal["duration_holdout"].iloc[0]),
        holdout=holdout,
        tracking=track,
        params=_plain(params),
    )
