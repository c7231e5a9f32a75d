"""Each member's behaviour as of a cutoff day, and whether they churned in the days after it.

Input (pandas frames or Arrow tables; the product database's are read by ``services.churn``):

* ``visits``: one row per purchase: ``member_id``, ``day`` (the store's business day), ``total_minor``
  (what the purchase came to when it was made, minor units) and optionally ``redeemed_points``;
* ``returns`` (optional): one row per return: ``member_id``, ``day`` (the day of the *return*, not of
  the purchase it refunds) and ``refund_minor``;
* ``lines`` (optional): ``member_id``, ``category``, ``day``: a day the member bought the category
  (any granularity: the first such day per member and category is what counts);
* ``joined`` (optional): ``member_id``, ``day`` the member registered.

**No look-ahead.** :func:`member_features` keeps only what happened on or before the cutoff day in
every table (a refund made after the cutoff does not lower the spend before it; a purchase's refunded
total today is not read at all), so the features of a past cutoff are what the chain knew that night.

Per member with a purchase on or before the cutoff (the model's features, in the units people read):

====================  =================================================================================
``recency_days``      days from the last purchase day to the cutoff
``visit_days``        distinct purchase days
``orders``            purchases
``spend_minor``       spend less the refunds made by the cutoff (minor units, at least 0)
``ticket_minor``      that spend per purchase
``customer_days``     days from the first purchase day to the cutoff
``tenure_days``       days from registration (or the first purchase, if earlier) to the cutoff
``gap_mean_days``     mean days between consecutive purchase days (none below two of them)
``gap_sd_days``       their standard deviation (none below three purchase days)
``gap_last_days``     the last of those gaps
``overdue_ratio``     ``recency_days`` ÷ ``gap_mean_days``: above 1, later than the member's own rhythm
``visits_90``         purchase days in the last 90 days (the cutoff included)
``spend_90_minor``    spend on them
``visit_trend``       purchase days per 30 days in the last 90, less the same rate before them (none for
                      a member whose first purchase falls in the last 90 days)
``spend_trend``       the same for spend (minor units per 30 days)
``categories``        distinct categories bought (category breadth)
``returns``           returns made by the cutoff
``returned_share``    refunds ÷ spend before refunds
``redemptions``       purchases that redeemed points
====================  =================================================================================

Three GROUP BYs and one window in DuckDB, then joins on the member id: never a loop per member.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from loyalty.analytics.churn.errors import ChurnInputError

#: the recent window of the trend features, in days
RECENT_DAYS = 90
#: a rate's unit: per 30 days
PER_DAYS = 30.0

FEATURES: tuple[str, ...] = (
    "recency_days",
    "visit_days",
    "orders",
    "spend_minor",
    "ticket_minor",
    "customer_days",
    "tenure_days",
    "gap_mean_days",
    "gap_sd_days",
    "gap_last_days",
    "overdue_ratio",
    "visits_90",
    "spend_90_minor",
    "visit_trend",
    "spend_trend",
    "categories",
    "returns",
    "returned_share",
    "redemptions",
)

_VISITS = {"member_id", "day", "total_minor"}
_RETURNS = {"member_id", "day", "refund_minor"}
_LINES = {"member_id", "category", "day"}
_JOINED = {"member_id", "day"}


def _arrow(data: Any, name: str, needed: set[str], optional: frozenset[str] = frozenset()) -> pa.Table:
    if isinstance(data, pd.DataFrame):
        data = pa.Table.from_pandas(data, preserve_index=False)
    if not isinstance(data, pa.Table):
        raise ChurnInputError.field(
            name, "{table} must be a table (pandas or Arrow)", ChurnInputError.default_code, {"table": name}
        )
    missing = sorted(needed - set(data.column_names))
    if missing:
        raise ChurnInputError.field(
            name,
            "{table} lacks the columns {columns}",
            ChurnInputError.default_code,
            {"table": name, "columns": ", ".join(missing)},
        )
    return data.select(sorted(needed | (optional & set(data.column_names))))


def member_features(
    visits: Any,
    *,
    cutoff: dt.date,
    returns: Any | None = None,
    lines: Any | None = None,
    joined: Any | None = None,
) -> pd.DataFrame:
    """The :data:`FEATURES` of every member with a purchase on or before ``cutoff``, indexed by
    ``member_id`` in ascending order (see the module). Nothing after ``cutoff`` is read."""
    import duckdb

    v = _arrow(visits, "visits", _VISITS, frozenset({"redeemed_points"}))
    if "redeemed_points" not in v.column_names:
        v = v.append_column("redeemed_points", pa.array(np.zeros(v.num_rows, dtype=np.int64)))
    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")
        con.register("v", v)
        day = cutoff.isoformat()
        # one row per purchase day, then one window over them: the gaps between distinct days
        base = con.execute(
            """
            WITH vis AS (
                SELECT CAST(member_id AS BIGINT) AS member_id, CAST(day AS DATE) AS day,
                       CAST(total_minor AS DOUBLE) AS total,
                       coalesce(CAST(redeemed_points AS DOUBLE), 0) > 0 AS redeemed
                FROM v WHERE CAST(day AS DATE) <= CAST($cutoff AS DATE)),
            days AS (
                SELECT member_id, day, count(*) AS orders, sum(total) AS total,
                       count(*) FILTER (redeemed) AS redemptions
                FROM vis GROUP BY member_id, day),
            gaps AS (
                SELECT *, day - lag(day) OVER (PARTITION BY member_id ORDER BY day) AS gap FROM days)
            SELECT member_id,
                   count(*) AS visit_days,
                   sum(orders) AS orders,
                   CAST($cutoff AS DATE) - max(day) AS recency_days,
                   CAST($cutoff AS DATE) - min(day) AS customer_days,
                   sum(total) AS gross,
                   avg(gap) AS gap_mean,
                   stddev_pop(gap) AS gap_sd,
                   count(gap) AS gaps,
                   arg_max(gap, day) AS gap_last,
                   count(*) FILTER (day > CAST($cutoff AS DATE) - $recent) AS visits_90,
                   coalesce(sum(total) FILTER (day > CAST($cutoff AS DATE) - $recent), 0) AS gross_90,
                   sum(redemptions) AS redemptions
            FROM gaps GROUP BY member_id ORDER BY member_id
            """,
            {"cutoff": day, "recent": RECENT_DAYS},
        ).fetch_df()
        refunds = None
        if returns is not None:
            con.register("r", _arrow(returns, "returns", _RETURNS))
            refunds = con.execute(
                """
                SELECT CAST(member_id AS BIGINT) AS member_id, count(*) AS returns,
                       sum(CAST(refund_minor AS DOUBLE)) AS refunded,
                       coalesce(sum(CAST(refund_minor AS DOUBLE))
                                FILTER (CAST(day AS DATE) > CAST($cutoff AS DATE) - $recent), 0)
                           AS refunded_90
                FROM r WHERE CAST(day AS DATE) <= CAST($cutoff AS DATE) GROUP BY 1
                """,
                {"cutoff": day, "recent": RECENT_DAYS},
            ).fetch_df()
        breadth = None
        if lines is not None:
            con.register("l", _arrow(lines, "lines", _LINES))
            breadth = con.execute(
                """
                SELECT CAST(member_id AS BIGINT) AS member_id,
                       count(DISTINCT CAST(category AS VARCHAR)) AS categories
                FROM l WHERE CAST(day AS DATE) <= CAST($cutoff AS DATE)
                         AND category IS NOT NULL AND CAST(category AS VARCHAR) <> ''
                GROUP BY 1
                """,
                {"cutoff": day},
            ).fetch_df()
        registered = None
        if joined is not None:
            con.register("j", _arrow(joined, "joined", _JOINED))
            registered = con.execute(
                "SELECT CAST(member_id AS BIGINT) AS member_id, "
                "CAST($cutoff AS DATE) - min(CAST(day AS DATE)) AS joined_days FROM j GROUP BY 1",
                {"cutoff": day},
            ).fetch_df()
    finally:
        con.close()
    return _assemble(base, refunds, breadth, registered)


def _column(frame: pd.DataFrame | None, ids: pd.Index, name: str, fill: float) -> npt.NDArray[np.float64]:
    """``frame[name]`` aligned on ``ids`` (``fill`` for a member without a row)."""
    if frame is None or frame.empty:
        return np.full(len(ids), fill, dtype=np.float64)
    values = frame.set_index("member_id")[name].astype("float64")
    return np.asarray(values.reindex(ids).fillna(fill), dtype=np.float64)


def _assemble(
    base: pd.DataFrame,
    refunds: pd.DataFrame | None,
    breadth: pd.DataFrame | None,
    registered: pd.DataFrame | None,
) -> pd.DataFrame:
    ids = pd.Index(base["member_id"].to_numpy(dtype=np.int64), name="member_id")

    def col(name: str) -> npt.NDArray[np.float64]:
        return base[name].to_numpy(dtype=np.float64, na_value=np.nan)

    visit_days, orders, recency, customer = (
        col(c) for c in ("visit_days", "orders", "recency_days", "customer_days")
    )
    gross, gross_90 = col("gross"), col("gross_90")
    refunded = _column(refunds, ids, "refunded", 0.0)
    refunded_90 = _column(refunds, ids, "refunded_90", 0.0)
    spend = np.clip(gross - refunded, 0.0, None)
    gaps = col("gaps")
    gap_mean = np.where(gaps >= 1, col("gap_mean"), np.nan)
    gap_sd = np.where(gaps >= 2, col("gap_sd"), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        overdue = np.where(gap_mean > 0, recency / gap_mean, np.nan)
        returned_share = np.where(gross > 0, np.clip(refunded / gross, 0.0, 1.0), 0.0)
    visits_90 = col("visits_90")
    spend_90 = np.clip(gross_90 - refunded_90, 0.0, None)
    # the days before the recent window on which the member was already a customer
    before = customer + 1.0 - RECENT_DAYS
    has_before = before > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        visit_trend = np.where(
            has_before,
            (visits_90 / RECENT_DAYS - (visit_days - visits_90) / before) * PER_DAYS,
            np.nan,
        )
        spend_trend = np.where(
            has_before,
            (spend_90 / RECENT_DAYS - np.clip(spend - spend_90, 0.0, None) / before) * PER_DAYS,
            np.nan,
        )
    joined_days = _column(registered, ids, "joined_days", -np.inf)
    out = {
        "recency_days": recency,
        "visit_days": visit_days,
        "orders": orders,
        "spend_minor": spend,
        "ticket_minor": spend / np.maximum(orders, 1.0),
        "customer_days": customer,
        "tenure_days": np.clip(np.maximum(customer, joined_days), 0.0, None),
        "gap_mean_days": gap_mean,
        "gap_sd_days": gap_sd,
        "gap_last_days": np.where(gaps >= 1, col("gap_last"), np.nan),
        "overdue_ratio": overdue,
        "visits_90": visits_90,
        "spend_90_minor": spend_90,
        "visit_trend": visit_trend,
        "spend_trend": spend_trend,
        "categories": _column(breadth, ids, "categories", 0.0),
        "returns": _column(refunds, ids, "returns", 0.0),
        "returned_share": returned_share,
        "redemptions": col("redemptions"),
    }
    return pd.DataFrame(out, index=ids)[list(FEATURES)]


def _member_days(visits: Any) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.datetime64]]:
    v = _arrow(visits, "visits", {"member_id", "day"})
    owners = v.column("member_id").to_numpy().astype(np.int64)
    days = v.column("day").cast(pa.date32()).to_numpy()
    return owners, days


def churned(visits: Any, member_ids: Any, *, cutoff: dt.date, horizon_days: int) -> npt.NDArray[np.bool_]:
    """The label of each of ``member_ids``: True when the member made no purchase in the
    ``horizon_days`` days after ``cutoff`` (days cutoff+1 … cutoff+horizon, both included)."""
    owners, days = _member_days(visits)
    start = np.datetime64(cutoff, "D")
    end = start + np.timedelta64(horizon_days, "D")
    inside = (days > start) & (days <= end)
    buyers = np.unique(owners[inside])
    return ~np.isin(np.asarray(member_ids, dtype=np.int64), buyers)


def first_purchase_after(visits: Any, member_ids: Any, *, cutoff: dt.date, horizon_days: int) -> pd.Series:
    """Days from ``cutoff`` to each member's first purchase in the horizon after it (NaN: none)."""
    owners, days = _member_days(visits)
    ahead = (days - np.datetime64(cutoff, "D")).astype(np.int64)
    inside = (ahead > 0) & (ahead <= horizon_days)
    first = pd.Series(ahead[inside], index=owners[inside]).groupby(level=0).min()
    return first.reindex(np.asarray(member_ids, dtype=np.int64)).astype("float64")
