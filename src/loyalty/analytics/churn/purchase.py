"""P(alive), expected purchases and the next purchase date, from the purchase model (BG/NBD).

The same model and conventions as ``analytics refresh`` (:class:`~loyalty.analytics.models.BetaGeo`,
time in weeks, a purchase period is a day): fitted on the members' history up to a day, from the
features of that day: ``x`` = purchase days − 1, ``t_x`` = days from the first purchase day to the
last, ``T`` = days from the first purchase day to the day, both ÷ 7.

**Next purchase date.** The first day ``d`` ≥ 1 after the day by which the model expects one
purchase: E[X(d) | x, t_x, T] ≥ 1, where X(d) counts the member's purchase days in the next ``d``
days (FHL 2005, eq. 10, which weighs the purchase rate by P(alive)). For a member buying at a steady
rate λ and surely alive, that is 1/λ, the expected wait; doubt about being alive pushes it later;
none when fewer than one purchase is expected in :data:`MAX_DAYS` days (a member who has most likely
left). Found by bisection on whole days, all members at once.

**The member's own rhythm** (the baseline it is compared with, and what a person would guess): the
last purchase day plus the mean gap between the member's purchase days, or the next day if that is
already past; none below two purchase days.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.special import hyp2f1

from loyalty.analytics.models import BetaGeo

Floats = npt.NDArray[np.float64]

#: the furthest next purchase date, in days
MAX_DAYS = 365


def summary_of(features: pd.DataFrame) -> tuple[Floats, Floats, Floats]:
    """(x, t_x, T) in weeks from :func:`~loyalty.analytics.churn.features.member_features`."""
    x = features["visit_days"].to_numpy(dtype=np.float64) - 1.0
    big_t = features["customer_days"].to_numpy(dtype=np.float64)
    tx = big_t - features["recency_days"].to_numpy(dtype=np.float64)
    return x, tx / 7.0, big_t / 7.0


def fit_purchases(features: pd.DataFrame) -> BetaGeo:
    """BG/NBD fitted on the members of ``features`` (ConvergenceError with too few repeat buyers)."""
    return BetaGeo().fit(*summary_of(features))


def p_alive(model: BetaGeo, features: pd.DataFrame) -> Floats:
    return np.asarray(model.predict_p_alive(*summary_of(features)), dtype=np.float64)


def expected_purchases(model: BetaGeo, days: npt.ArrayLike, x: Floats, tx: Floats, big_t: Floats) -> Floats:
    """E[X(t) | x, t_x, T] with ``t`` = ``days`` ÷ 7 weeks, one horizon per member (or one for all)."""
    r, alpha, a, b = (model.params_[k] for k in ("r", "alpha", "a", "b"))
    t = np.broadcast_to(np.asarray(days, dtype=np.float64) / 7.0, x.shape)
    z = t / (alpha + big_t + t)
    log_ratio = (r + x) * (np.log(alpha + big_t) - np.log(alpha + big_t + t))
    if_alive = (
        (a + b + x - 1.0) / (a - 1.0) * (1.0 - np.exp(log_ratio) * hyp2f1(r + x, b + x, a + b + x - 1.0, z))
    )
    alive = np.asarray(model.predict_p_alive(x, tx, big_t), dtype=np.float64)
    return np.where(t > 0, if_alive * alive, 0.0)


def days_to_next_purchase(model: BetaGeo, features: pd.DataFrame, max_days: int = MAX_DAYS) -> Floats:
    """Per member, the days from the features' day to the model's next purchase date (NaN: none in
    ``max_days``)."""
    x, tx, big_t = summary_of(features)
    reached = expected_purchases(model, max_days, x, tx, big_t) >= 1.0
    lo = np.zeros(len(x), dtype=np.int64)  # E[X(lo)] < 1 (E[X(0)] = 0)
    hi = np.full(len(x), max_days, dtype=np.int64)  # E[X(hi)] ≥ 1, where reached
    while True:
        open_ = reached & (hi - lo > 1)
        if not open_.any():
            break
        mid = (lo + hi) // 2
        e = expected_purchases(model, mid[open_], x[open_], tx[open_], big_t[open_])
        idx = np.flatnonzero(open_)
        hit = e >= 1.0
        hi[idx[hit]] = mid[idx[hit]]
        lo[idx[~hit]] = mid[idx[~hit]]
    return np.where(reached, hi.astype(np.float64), np.nan)


def days_by_rhythm(features: pd.DataFrame) -> Floats:
    """The member's own rhythm: days to (last purchase day + mean gap), at least 1; NaN below two
    purchase days."""
    gap = features["gap_mean_days"].to_numpy(dtype=np.float64)
    recency = features["recency_days"].to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.where(np.isnan(gap), np.nan, np.maximum(np.round(gap - recency), 1.0))
