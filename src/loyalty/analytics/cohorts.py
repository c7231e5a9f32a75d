"""Cohort retention: customers grouped by the month of their first purchase, and who came back when.

For each cohort: its size, the share who ever bought on a second day (repeat rate), and for month
offsets 1, 2, … the share who bought in that calendar month after their first. A cell is empty
(NaN) where the data ends before that month does (a month the data only half covers included), so a
young cohort is not read as lost. Works on the
per-day table (:func:`loyalty.analytics.features.daily`), vectorised over all purchase days.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def cohort_table(daily: pd.DataFrame, *, offsets: tuple[int, ...] = (1, 2, 3, 6, 12)) -> pd.DataFrame:
    """One row per first-purchase month: ``cohort`` (month start), ``customers``, ``repeat_rate`` and
    ``m1, m2, …`` retention shares for the given month offsets.

    ``daily`` has one row per (customer, purchase day): ``customer_id`` and ``day`` (days since the
    epoch), as :func:`~loyalty.analytics.features.daily` returns it.
    """
    columns = ["cohort", "customers", "repeat_rate", *[f"m{k}" for k in offsets]]
    if daily.empty:
        return pd.DataFrame(columns=columns)
    day = daily["day"].to_numpy(dtype=np.int64)
    month = day.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    customer = pd.factorize(daily["customer_id"])[0]
    first_month = np.full(customer.max() + 1, np.iinfo(np.int64).max)
    np.minimum.at(first_month, customer, month)
    n_days = np.bincount(customer)
    offset = month - first_month[customer]
    # the last month counts only when the data runs to its end: a half-observed month reads as churn
    complete_through = (
        int(np.datetime64(int(day.max()) + 1, "D").astype("datetime64[M]").astype(np.int64)) - 1
    )

    cohorts, size = np.unique(first_month, return_counts=True)
    repeaters = np.bincount(
        np.searchsorted(cohorts, first_month), weights=(n_days > 1).astype(np.float64), minlength=cohorts.size
    )
    out = pd.DataFrame(
        {
            "cohort": cohorts.astype("datetime64[M]").astype("datetime64[ns]"),
            "customers": size.astype(np.int64),
            "repeat_rate": repeaters / size,
        }
    )
    for k in offsets:
        # distinct customers of each cohort with a purchase day k months after their first month
        hit = np.unique(customer[offset == k])
        counts = np.bincount(np.searchsorted(cohorts, first_month[hit]), minlength=cohorts.size)
        share = counts / size
        out[f"m{k}"] = np.where(cohorts + k <= complete_through, share, np.nan)
    return out[columns]
