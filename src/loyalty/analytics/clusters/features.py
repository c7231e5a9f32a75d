"""Each member's behaviour as numbers: what clustering sees, computed in DuckDB from two tables.

Input (pyarrow tables or pandas frames; the product database's are read by ``services.clusters``):

* ``visits``: one row per purchase: ``member_id``, ``day`` (the store's business day), ``channel``
  (``store`` or another: ``online``, ``mini_program``, ``delivery``; null counts as ``store``) and
  ``net_minor`` (what the purchase came to after refunds, minor units);
* ``spend``: line spend, any granularity: ``member_id``, ``category`` (null: none),
  ``net_minor`` (lines net of what was returned) and ``discounted_minor`` (the part of it on lines
  sold with a discount, ``discount_minor > 0``);
* optionally ``joined``: ``member_id``, ``day`` the member registered.

Per member (the raw features, in the units people read):

==================  =====================================================================================
``recency_days``    days from the last purchase day to ``as_of``
``visit_days``      distinct purchase days (several purchases on one day are one visit)
``orders``          purchases
``spend_minor``     net spend over the whole history (minor units)
``ticket_minor``    net spend per purchase (minor units)
``online_share``    share of net spend through a channel other than the store
``discount_share``  share of line spend on discounted lines
``cat:<name>``      share of line spend in each of the chain's top categories (by chain-wide spend)
``gap_mean_days``   mean days between consecutive visit days (none below two visit days)
``gap_cv``          the gaps' coefficient of variation, standard deviation / mean (none below three)
``tenure_days``     days from registration (or the first purchase, if earlier) to ``as_of``
==================  =====================================================================================

A share is 0 where its denominator is (a member whose every line went back). Everything is one
GROUP BY per table and one window over distinct visit days, never a Python loop per member.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from loyalty.analytics.clusters.errors import ClusterInputError

Floats = npt.NDArray[np.float64]

#: the chain's categories with a share column of their own (by chain-wide spend)
TOP_CATEGORIES = 6
#: the prefix of a category share's column
CATEGORY_PREFIX = "cat:"
#: the channel that counts as the store; every other one is online (online, mini-program, delivery)
STORE_CHANNEL = "store"

RAW_COLUMNS = (
    "recency_days",
    "visit_days",
    "orders",
    "spend_minor",
    "ticket_minor",
    "online_share",
    "discount_share",
    "gap_mean_days",
    "gap_cv",
    "tenure_days",
)
_VISITS = {"member_id", "day", "channel", "net_minor"}
_SPEND = {"member_id", "category", "net_minor", "discounted_minor"}
_JOINED = {"member_id", "day"}


@dataclass(frozen=True)
class MemberFeatures:
    """The raw features of every member with a purchase up to ``as_of``, by ascending member id.

    ``table`` holds :data:`RAW_COLUMNS` then one ``cat:<name>`` share per name in ``categories``
    (the chain's top categories, biggest first), indexed by ``member_id``.
    """

    table: pd.DataFrame
    categories: tuple[str, ...]
    as_of: dt.date

    @property
    def member_ids(self) -> npt.NDArray[np.int64]:
        return self.table.index.to_numpy(dtype=np.int64)

    def __len__(self) -> int:
        return len(self.table)


def _arrow(data: Any, name: str, needed: set[str]) -> pa.Table:
    if isinstance(data, pd.DataFrame):
        data = pa.Table.from_pandas(data, preserve_index=False)
    if not isinstance(data, pa.Table):
        raise ClusterInputError.field(
            name, "{table} must be a table (pandas or Arrow)", ClusterInputError.default_code, {"table": name}
        )
    missing = sorted(needed - set(data.column_names))
    if missing:
        raise ClusterInputError.field(
            name,
            "{table} lacks the columns {columns}",
            ClusterInputError.default_code,
            {"table": name, "columns": ", ".join(missing)},
        )
    return data.select(sorted(needed))


def category_column(name: str) -> str:
    return CATEGORY_PREFIX + name


def member_features(
    visits: Any,
    spend: Any,
    *,
    as_of: dt.date,
    joined: Any | None = None,
    top_categories: int = TOP_CATEGORIES,
) -> MemberFeatures:
    """The raw features of every member with a visit on or before ``as_of`` (see the module)."""
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")
        con.register("v", _arrow(visits, "visits", _VISITS))
        con.register("s", _arrow(spend, "spend", _SPEND))
        day = as_of.isoformat()
        # one window over the purchases in member and day order: the gap to the previous purchase is
        # 0 on a day already counted, so the gaps above 0 are those between distinct visit days
        base = con.execute(
            """
            WITH vis AS (
                SELECT CAST(member_id AS BIGINT) AS member_id, CAST(day AS DATE) AS day,
                       CAST(net_minor AS DOUBLE) AS net,
                       CASE WHEN coalesce(CAST(channel AS VARCHAR), ?) = ? THEN 0.0
                            ELSE CAST(net_minor AS DOUBLE) END AS online
                FROM v WHERE CAST(day AS DATE) <= CAST(? AS DATE)),
            gaps AS (
                SELECT *, day - lag(day) OVER (PARTITION BY member_id ORDER BY day) AS gap FROM vis)
            SELECT member_id,
                   count(*) AS orders,
                   count(*) FILTER (gap > 0) + 1 AS visit_days,
                   CAST(? AS DATE) - max(day) AS recency_days,
                   min(day) AS first_day,
                   greatest(sum(net), 0) AS spend,
                   sum(online) AS online,
                   avg(gap) FILTER (gap > 0) AS gap_mean,
                   stddev_pop(gap) FILTER (gap > 0) AS gap_sd,
                   count(*) FILTER (gap > 0) AS gaps
            FROM gaps GROUP BY member_id ORDER BY member_id
            """,
            [STORE_CHANNEL, STORE_CHANNEL, day, day],
        ).fetch_df()
        top = con.execute(
            """
            SELECT CAST(category AS VARCHAR) AS category, sum(CAST(net_minor AS DOUBLE)) AS net FROM s
            WHERE category IS NOT NULL AND CAST(category AS VARCHAR) <> ''
            GROUP BY 1 HAVING sum(CAST(net_minor AS DOUBLE)) > 0 ORDER BY 2 DESC, 1 LIMIT ?
            """,
            [top_categories],
        ).fetchall()
        categories = tuple(str(r[0]) for r in top)
        # code 0: any other category (or none); 1…C: the top categories in order
        lines = con.execute(
            """
            SELECT CAST(member_id AS BIGINT) AS member_id,
                   coalesce(list_position(CAST(? AS VARCHAR[]), CAST(category AS VARCHAR)), 0) AS code,
                   sum(CAST(net_minor AS DOUBLE)) AS net,
                   sum(CAST(discounted_minor AS DOUBLE)) AS discounted
            FROM s GROUP BY ALL
            """,
            [list(categories)],
        ).fetch_df()
        joined_days = None
        if joined is not None:
            con.register("j", _arrow(joined, "joined", _JOINED))
            joined_days = con.execute(
                "SELECT CAST(member_id AS BIGINT) AS member_id, min(CAST(day AS DATE)) AS day "
                "FROM j GROUP BY member_id"
            ).fetch_df()
    finally:
        con.close()
    return _assemble(base, lines, joined_days, as_of, categories)


def _days(values: pd.Series) -> npt.NDArray[np.int64]:
    return pd.to_datetime(values).to_numpy().astype("datetime64[D]").astype(np.int64)


def _assemble(
    base: pd.DataFrame,
    lines: pd.DataFrame,
    joined: pd.DataFrame | None,
    as_of: dt.date,
    categories: tuple[str, ...],
) -> MemberFeatures:
    ids = base["member_id"].to_numpy(dtype=np.int64)
    n = len(ids)
    spend = base["spend"].to_numpy(dtype=np.float64)
    orders = base["orders"].to_numpy(dtype=np.float64)
    out: dict[str, Any] = {
        "recency_days": base["recency_days"].to_numpy(dtype=np.float64),
        "visit_days": base["visit_days"].to_numpy(dtype=np.float64),
        "orders": orders,
        "spend_minor": spend,
        "ticket_minor": spend / np.maximum(orders, 1.0),
        "online_share": _share(np.clip(base["online"].to_numpy(dtype=np.float64), 0, None), spend),
    }
    # lines: per member totals, the discounted part, and the top categories' parts
    c = len(categories)
    line_total = np.zeros(n)
    discounted = np.zeros(n)
    cat_spend = np.zeros((n, c))
    if len(lines):
        member = lines["member_id"].to_numpy(dtype=np.int64)
        at = np.minimum(np.searchsorted(ids, member), max(n - 1, 0))
        known = ids[at] == member if n else np.zeros(len(member), dtype=bool)
        at = at[known]
        net = np.clip(lines["net"].to_numpy(dtype=np.float64)[known], 0, None)
        disc = np.clip(lines["discounted"].fillna(0).to_numpy(dtype=np.float64)[known], 0, None)
        code = lines["code"].to_numpy(dtype=np.int64)[known]
        line_total = np.bincount(at, weights=net, minlength=n).astype(np.float64)
        discounted = np.bincount(at, weights=disc, minlength=n).astype(np.float64)
        chosen = code > 0
        flat = at[chosen] * max(c, 1) + (code[chosen] - 1)
        cat_spend = np.bincount(flat, weights=net[chosen], minlength=n * c).astype(np.float64).reshape(n, c)
    out["discount_share"] = _share(discounted, line_total)
    count = base["gaps"].to_numpy(dtype=np.float64)
    gap_mean = np.where(count >= 1, base["gap_mean"].to_numpy(dtype=np.float64), np.nan)
    gap_sd = base["gap_sd"].to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        gap_cv = np.where((count >= 2) & (gap_mean > 0), gap_sd / gap_mean, np.nan)
    out["gap_mean_days"] = gap_mean
    out["gap_cv"] = gap_cv
    day = np.int64((as_of - dt.date(1970, 1, 1)).days)
    first = _days(base["first_day"])
    if joined is not None and len(joined):
        at = np.searchsorted(ids, joined["member_id"].to_numpy(dtype=np.int64))
        member = joined["member_id"].to_numpy(dtype=np.int64)
        at = np.minimum(at, max(n - 1, 0))
        ok = ids[at] == member if n else np.zeros(len(member), dtype=bool)
        first = first.copy()
        first[at[ok]] = np.minimum(first[at[ok]], _days(joined["day"])[ok])  # one row per member
    out["tenure_days"] = np.clip(day - first, 0, None).astype(np.float64)
    table = pd.DataFrame(out, index=pd.Index(ids, name="member_id"))[list(RAW_COLUMNS)]
    for i, name in enumerate(categories):
        table[category_column(name)] = _share(cat_spend[:, i], line_total)
    return MemberFeatures(table=table, categories=categories, as_of=as_of)


def _share(part: Floats, whole: Floats) -> Floats:
    """part / whole, 0 where whole is 0, within [0, 1]."""
    out = np.zeros_like(whole, dtype=np.float64)
    np.divide(part, whole, out=out, where=whole > 0)
    return np.clip(out, 0.0, 1.0)
