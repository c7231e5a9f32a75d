"""Churn propensity and the next purchase date: a supervised model beside the purchase model's P(alive).

A member *churns* after a day when they make no purchase in the horizon after it (90 days by
default). The churn model is gradient boosting (:mod:`.model`) on each member's behaviour as of a
cutoff (:mod:`.features`: recency, frequency, spend, tenure, the gaps between purchase days, the
last 90 days against before, category breadth, returns, redemptions), trained with the labels of the
latest complete horizon and checked out of time against 1 − P(alive) and recency (:mod:`.run`, by
AUC: :mod:`.evaluate`). The next purchase date comes from the purchase model's expected purchases
(:mod:`.purchase`); the run's words are :mod:`.words`.

>>> import datetime as dt, pandas as pd
>>> from loyalty.analytics.churn import member_features, churned
>>> visits = pd.DataFrame({"member_id": [1, 1, 2], "total_minor": [500, 700, 900],
...                        "day": [dt.date(2026, 1, 5), dt.date(2026, 3, 2), dt.date(2026, 1, 20)]})
>>> f = member_features(visits, cutoff=dt.date(2026, 1, 31))
>>> f["recency_days"].tolist(), f["spend_minor"].tolist()
([26.0, 11.0], [500.0, 900.0])
>>> churned(visits, f.index, cutoff=dt.date(2026, 1, 31), horizon_days=30).tolist()
[False, True]
"""

from __future__ import annotations

from loyalty.analytics.churn.errors import ChurnInputError, TooLittleHistory
from loyalty.analytics.churn.evaluate import ROC_GRID, auc, roc_points, roc_table
from loyalty.analytics.churn.features import FEATURES, churned, first_purchase_after, member_features
from loyalty.analytics.churn.model import SEED, SETTINGS, ChurnModel, Importance
from loyalty.analytics.churn.purchase import MAX_DAYS, days_by_rhythm, days_to_next_purchase
from loyalty.analytics.churn.run import (
    HORIZON_DAYS,
    HORIZON_RANGE,
    SCORES,
    ChurnResult,
    History,
    NextPurchaseCheck,
    Validation,
    check_horizon,
    run_churn,
)

__all__ = [
    "FEATURES",
    "HORIZON_DAYS",
    "HORIZON_RANGE",
    "MAX_DAYS",
    "ROC_GRID",
    "SCORES",
    "SEED",
    "SETTINGS",
    "ChurnInputError",
    "ChurnModel",
    "ChurnResult",
    "History",
    "Importance",
    "NextPurchaseCheck",
    "TooLittleHistory",
    "Validation",
    "auc",
    "check_horizon",
    "churned",
    "days_by_rhythm",
    "days_to_next_purchase",
    "first_purchase_after",
    "member_features",
    "roc_points",
    "roc_table",
    "run_churn",
]
