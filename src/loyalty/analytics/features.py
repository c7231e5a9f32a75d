"""Customer features from a transaction log, as Ibis column expressions.

Why Ibis: the same expression runs on embedded DuckDB (the default, fast on one machine) and on the
product's PostgreSQL (or a warehouse) without a per-customer Python loop. Conventions follow the
BG/NBD papers and lifetimes' ``summary_data_from_transaction_data``:

* a *purchase period* is a calendar day (several purchases on one day count as one);
* ``frequency`` = number of purchase days minus one (repeat purchases);
* ``recency`` = time from first to last purchase day, ``T`` = time from first purchase day to the end of
  the observation period, both in days or in weeks (days / 7, fractional, as in the papers);
* ``monetary_value`` = mean spend per *repeat* purchase day (the first day is excluded), 0 without repeats.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa

from loyalty.analytics import daybits
from loyalty.analytics.errors import InputError

# Ibis is imported where an expression is built: a plain file is read, checked and summarised without
# it (`loyalty.analytics.files`), and its import costs that command more than the work itself.
if TYPE_CHECKING:
    import ibis
    import ibis.expr.types as ir

TimeUnit = Literal["day", "week"]
ReturnsPolicy = Literal["reject", "net"]
_UNIT_DAYS = {"day": 1.0, "week": 7.0}
_SECONDS_PER_DAY = 86400.0
_MAX_ROWS_IN_ERROR = 10


@dataclass(frozen=True)
class Columns:
    """Names of the customer, date and amount columns in the caller's data."""

    customer: str = "customer_id"
    date: str = "date"
    amount: str = "amount"


def connect() -> ibis.BaseBackend:
    """A fresh in-process DuckDB connection (the default engine), with no progress bar on stdout."""
    import ibis

    con = ibis.duckdb.connect()
    con.raw_sql("SET enable_progress_bar = false")  # DuckDB draws it on stdout past two seconds
    return con


def to_table(source: Any, con: ibis.BaseBackend | None = None) -> ir.Table:
    """Accept a path or URL (CSV/CSV.gz/Parquet, a folder of Parquet parts), an Ibis table, or a
    pandas/Polars/Arrow frame (a table of ``con`` when given: DuckDB or Spark, `analytics.backends`)."""
    import ibis
    import ibis.expr.types as ir

    if isinstance(source, ir.Table):
        return source
    if isinstance(source, str | Path):
        from loyalty.analytics.backends import is_url, read_file

        if not is_url(source) and not Path(source).exists():
            raise InputError(f"{Path(source)}: no such file")
        return read_file(con or connect(), source)
    try:
        mem = ibis.memtable(source)
    except Exception as exc:  # ibis raises assorted types for unsupported objects
        raise InputError(f"unsupported input of type {type(source).__name__}: {exc}") from exc
    if con is None:
        # Scanned in place by the default DuckDB backend: copying 10M rows into a table costs more
        # than validating them.
        return mem
    from loyalty.analytics.backends import register

    return register(con, mem, prefix="loyalty_tx")


def _bad_rows(t: ir.Table, predicate: ir.BooleanValue) -> list[int]:
    import ibis

    numbered = t.mutate(_row=ibis.row_number() + 1)
    bad = numbered.filter(predicate.name("_bad")).select("_row").order_by("_row").limit(_MAX_ROWS_IN_ERROR)
    return [int(v) for v in bad.execute()["_row"].tolist()]


def transactions(
    source: Any,
    columns: Columns | None = None,
    *,
    returns: ReturnsPolicy = "reject",
    con: ibis.BaseBackend | None = None,
) -> ir.Table:
    """Validate a transaction log and normalise it to ``customer_id, ts, amount``.

    See :func:`checked_transactions`, which also says whether negative amounts (netted returns) remain.
    """
    return checked_transactions(source, columns, returns=returns, con=con)[0]


def checked_transactions(
    source: Any,
    columns: Columns | None = None,
    *,
    returns: ReturnsPolicy = "reject",
    con: ibis.BaseBackend | None = None,
) -> tuple[ir.Table, bool]:
    """Validate a transaction log; return it as ``customer_id, ts, amount`` and whether it holds returns.

    Errors name what is wrong: the missing columns, the first rows (1-based, data rows) whose date
    or amount cannot be parsed, or rows with negative amounts. Negative amounts are returns: rejected
    by default, or kept with ``returns="net"`` so they net against the same day's purchases.
    """
    import ibis

    cols = columns or Columns()
    t = to_table(source, con)
    missing = [c for c in (cols.customer, cols.date, cols.amount) if c not in t.columns]
    if missing:
        raise InputError(
            f"missing column(s): {', '.join(missing)} (available: {', '.join(t.columns)})",
            {"missing": missing},
        )
    raw_date = t[cols.date]
    if raw_date.type().is_timestamp():
        ts = raw_date
    elif raw_date.type().is_date():
        ts = raw_date.cast("timestamp")
    else:
        text = raw_date.cast("string").strip()
        ts = text.try_cast("timestamp")
        bad_pred = raw_date.notnull() & ts.isnull()
        n_bad = int(t.aggregate(n=ibis.ifelse(bad_pred, 1, 0).sum()).execute()["n"].fillna(0).iloc[0])
        bad = _bad_rows(t, bad_pred) if n_bad else []
        if bad:
            raise InputError(
                f"column {cols.date!r}: unparseable dates in rows {bad}", {"column": cols.date, "rows": bad}
            )
    if ts.type().is_timestamp() and ts.type().timezone is not None:
        ts = ts.cast(ibis.dtype("timestamp"))
    raw_amount = t[cols.amount]
    amount = (
        raw_amount
        if raw_amount.type().is_numeric()
        else raw_amount.cast("string").strip().try_cast("float64")
    )
    if not raw_amount.type().is_numeric():
        bad_pred = raw_amount.notnull() & amount.isnull()
        n_bad = int(t.aggregate(n=ibis.ifelse(bad_pred, 1, 0).sum()).execute()["n"].fillna(0).iloc[0])
        bad = _bad_rows(t, bad_pred) if n_bad else []
        if bad:
            raise InputError(
                f"column {cols.amount!r}: non-numeric amounts in rows {bad}",
                {"column": cols.amount, "rows": bad},
            )
    amount = amount.cast("float64")
    # One aggregate pass checks everything; row numbers are only computed when something is wrong.
    null_pred = t[cols.customer].isnull() | raw_date.isnull() | raw_amount.isnull()
    flags = t.aggregate(
        nulls=ibis.ifelse(null_pred, 1, 0).sum(), negatives=ibis.ifelse(amount < 0, 1, 0).sum()
    ).execute()
    n_null = int(flags["nulls"].fillna(0).iloc[0])
    n_neg = int(flags["negatives"].fillna(0).iloc[0])
    if n_null:
        nulls = _bad_rows(t, null_pred)
        raise InputError(f"empty customer, date or amount in rows {nulls}", {"rows": nulls})
    if returns == "reject" and n_neg:
        neg = _bad_rows(t, amount < 0)
        if neg:
            raise InputError(
                f"column {cols.amount!r}: negative amounts (returns) in rows {neg}; "
                "net them against purchases with returns='net' (--returns net) or remove them",
                {"column": cols.amount, "rows": neg},
            )
    # Customer ids keep their type (text from CSV): casting 10M integer ids to text costs more
    # than the whole summary.
    return t.select(customer_id=t[cols.customer], ts=ts, amount=amount), n_neg > 0


def _backend_name(t: ir.Table) -> str:
    try:
        return str(t._find_backend().name)
    except Exception:  # unbound memtables execute on the default backend (DuckDB)
        return "duckdb"


def _day_literal(day: dt.date | dt.datetime | str) -> float:
    stamp = pd.Timestamp(day)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return float(stamp.normalize().value) / 1e9 / _SECONDS_PER_DAY


def daily(tx: ir.Table) -> ir.Table:
    """One row per (customer, purchase day): the day's net spend and order count.

    Returns (negative amounts, only present with ``returns="net"``) net against the same day's spend;
    the day's spend never goes below zero.
    """
    import ibis

    # floor(epoch seconds / 86400) is the UTC calendar day, cheaper than truncating the timestamp first
    day = (tx.ts.epoch_seconds().cast("int64") // 86400).cast("int64")
    g = (
        tx.mutate(day=day)
        .group_by(["customer_id", "day"])
        .aggregate(amount=lambda t: t.amount.sum(), orders=lambda t: ibis.ifelse(t.amount >= 0, 1, 0).sum())
    )
    # A day with only returns is not a purchase day; zero-value purchases (free items) still are.
    return g.filter(g.orders > 0).mutate(amount=ibis.greatest(g.amount, 0.0))


def summary_expr(
    tx: ir.Table,
    *,
    observation_end: dt.date | dt.datetime | str,
    calibration_end: dt.date | dt.datetime | str | None = None,
    time_unit: TimeUnit = "day",
) -> ir.Table:
    """The frequency/recency/T/monetary table as one Ibis expression (calibration period only).

    With ``calibration_end`` the calibration period ends there and the holdout period runs to
    ``observation_end``; holdout columns count repeat purchase days and spend after the calibration end.
    """
    import ibis

    d = daily(tx)
    obs_day = _day_literal(observation_end)
    cal_day = _day_literal(calibration_end) if calibration_end is not None else obs_day
    d = d.filter(d.day <= int(obs_day))
    cal = d.filter(d.day <= int(cal_day))
    if _backend_name(tx) == "duckdb":
        # arg_min gives the first day's spend in the same aggregate pass (no window, no join)
        per = cal.group_by("customer_id").aggregate(
            n_days=cal.count(),
            first_day=cal.day.min(),
            last_day=cal.day.max(),
            orders=cal.orders.sum(),
            total_spend=cal.amount.sum(),
            first_spend=cal.amount.argmin(cal.day),
        )
        per = per.mutate(repeat_spend=per.total_spend - per.first_spend)
    else:  # portable form: a window minimum marks the first day
        w = ibis.window(group_by="customer_id")
        cal = cal.mutate(first_day=cal.day.min().over(w))
        per = cal.group_by("customer_id").aggregate(
            n_days=cal.count(),
            first_day=cal.day.min(),
            last_day=cal.day.max(),
            orders=cal.orders.sum(),
            total_spend=cal.amount.sum(),
            repeat_spend=ibis.ifelse(cal.day > cal.first_day, cal.amount, 0.0).sum(),
        )
    unit = _UNIT_DAYS[time_unit]
    end_expr = ibis.literal(int(cal_day))
    frequency = (per.n_days - 1).cast("float64")
    out = per.select(
        "customer_id",
        frequency=frequency,
        recency=(per.last_day - per.first_day).cast("float64") / unit,
        T=(end_expr - per.first_day).cast("float64") / unit,
        monetary_value=ibis.ifelse(frequency > 0, per.repeat_spend / frequency, 0.0),
        first_day=per.first_day,
        last_day=per.last_day,
        orders=per.orders,
        total_spend=per.total_spend,
    )
    if calibration_end is not None:
        hold = d.filter(d.day > int(cal_day))
        hold_per = hold.group_by("customer_id").aggregate(
            frequency_holdout=hold.count().cast("float64"), spend_holdout=hold.amount.sum()
        )
        out = out.left_join(hold_per, "customer_id").select(
            *[out[c] for c in out.columns],
            frequency_holdout=hold_per.frequency_holdout.fill_null(0.0),
            monetary_value_holdout=ibis.ifelse(
                hold_per.frequency_holdout > 0, hold_per.spend_holdout / hold_per.frequency_holdout, 0.0
            ).fill_null(0.0),
            duration_holdout=ibis.literal((obs_day - cal_day) / unit),
        )
    return out.order_by("customer_id")


def _day_to_date(days: pd.Series) -> pd.Series:
    # datetime64 at midnight, not Python date objects: a million of those cost more than the query
    return pd.Series(days.to_numpy(dtype="int64").astype("datetime64[D]"), index=days.index)


def summary(
    source: Any,
    columns: Columns | None = None,
    *,
    observation_end: dt.date | dt.datetime | str | None = None,
    calibration_end: dt.date | dt.datetime | str | None = None,
    time_unit: TimeUnit = "day",
    returns: ReturnsPolicy = "reject",
    con: ibis.BaseBackend | None = None,
) -> pd.DataFrame:
    """The customer summary as a pandas frame (``customer_id`` column, ordered by it).

    In-memory and DuckDB sources are summarised by the day bitmap of :mod:`loyalty.analytics.daybits`;
    other backends (PostgreSQL), logs with netted returns and bitmaps too large run
    :func:`summary_expr`. Both give the same table.

    Raises :class:`InputError` when ``calibration_end`` lies outside the data or after ``observation_end``.
    """
    tx: ir.Table | None = None
    checked = None
    if isinstance(source, str | Path) and con is None and Path(source).is_file():
        from loyalty.analytics.files import read_checked

        checked = read_checked(Path(source), columns or Columns(), returns=returns)
    if checked is not None:  # a plain file, read into memory without Ibis
        arrow: pa.Table | None = checked.table
        has_returns = checked.has_returns
        lo, hi = _arrow_bounds(checked.table)
    else:
        arrow = None
        tx, has_returns = checked_transactions(source, columns, returns=returns, con=con)
        bounds = tx.aggregate(lo=tx.ts.min(), hi=tx.ts.max()).execute()
        lo, hi = pd.Timestamp(bounds["lo"].iloc[0]), pd.Timestamp(bounds["hi"].iloc[0])
    if pd.isna(lo):
        raise InputError("the transaction log is empty")
    if observation_end is None:
        observation_end = hi.normalize()
    if calibration_end is not None:
        cal = pd.Timestamp(calibration_end)
        if cal < lo.normalize() or cal >= hi.normalize():
            raise InputError(
                f"calibration end {cal.date()} is outside the data ({lo.date()} … {hi.date()}): "
                "it must fall on or after the first purchase day and before the last",
                {"calibration_end": str(cal.date())},
            )
        if pd.Timestamp(observation_end) <= cal:
            raise InputError("observation end must be after the calibration end")
    df = None
    if not has_returns and arrow is None and tx is not None and _backend_name(tx) == "duckdb":
        arrow = tx.to_pyarrow()
    if not has_returns and arrow is not None:
        df = summary_from_arrow(
            arrow,
            observation_end=observation_end,
            calibration_end=calibration_end,
            time_unit=time_unit,
        )
    if df is None:
        if tx is None:
            import ibis

            tx = ibis.memtable(arrow)
        df = _summary_sql(tx, observation_end, calibration_end, time_unit)
    if df.empty:
        raise InputError("no purchases in the requested period")
    return df


def _arrow_bounds(tx: pa.Table) -> tuple[pd.Timestamp, pd.Timestamp]:
    import pyarrow.compute as pc

    bounds = pc.min_max(tx.column("ts")).as_py()
    return pd.Timestamp(bounds["min"]), pd.Timestamp(bounds["max"])


def _summary_sql(
    tx: ir.Table,
    observation_end: dt.date | dt.datetime | str,
    calibration_end: dt.date | dt.datetime | str | None,
    time_unit: TimeUnit,
) -> pd.DataFrame:
    expr = summary_expr(
        tx, observation_end=observation_end, calibration_end=calibration_end, time_unit=time_unit
    )
    df = expr.execute()
    df["first_purchase"] = _day_to_date(df.pop("first_day"))
    df["last_purchase"] = _day_to_date(df.pop("last_day"))
    df["orders"] = df["orders"].astype("int64")
    return df.reset_index(drop=True)  # type: ignore[no-any-return]


def summary_from_arrow(
    tx: pa.Table,
    *,
    observation_end: dt.date | dt.datetime | str,
    calibration_end: dt.date | dt.datetime | str | None = None,
    time_unit: TimeUnit = "day",
) -> pd.DataFrame | None:
    """:func:`summary_expr`'s table from validated ``customer_id, ts, amount`` columns without returns.

    Returns ``None`` when the customer × day bitmap would exceed its memory bound (the caller then
    runs the SQL expression).
    """
    obs_day = int(_day_literal(observation_end))
    cal_day = int(_day_literal(calibration_end)) if calibration_end is not None else obs_day
    stamps = tx.column("ts").to_numpy()
    day = stamps.astype("datetime64[D]").view(np.int64)
    amount = tx.column("amount").to_numpy().astype(np.float64, copy=False)
    customers = daybits.encode_customers(tx.column("customer_id"))
    in_cal = day <= cal_day
    n, codes = customers.count, customers.codes
    if in_cal.all():  # the usual case: no copies of ten-million-row columns
        cal_codes, cal_day_of, cal_amount = codes, day, amount
    elif in_cal.any():
        cal_codes, cal_day_of, cal_amount = codes[in_cal], day[in_cal], amount[in_cal]
    else:
        return pd.DataFrame(columns=["customer_id"])
    start = int(cal_day_of.min())
    if not daybits.fits(n, cal_day - start + 1) or not daybits.fits(n, obs_day - cal_day):
        return None
    cal = daybits.day_stats(cal_codes, cal_day_of - start, cal_amount, n, cal_day - start + 1)
    keep = cal.n_days > 0
    unit = _UNIT_DAYS[time_unit]
    first, last = start + cal.first[keep], start + cal.last[keep]
    frequency = (cal.n_days[keep] - 1).astype(np.float64)
    repeat_spend = cal.total[keep] - cal.first_spend[keep]
    out = pd.DataFrame(
        {
            "customer_id": customers.ids.filter(pa.array(keep)).to_pandas(),
            "frequency": frequency,
            "recency": (last - first).astype(np.float64) / unit,
            "T": (cal_day - first).astype(np.float64) / unit,
            "monetary_value": np.divide(
                repeat_spend, frequency, out=np.zeros_like(repeat_spend), where=frequency > 0
            ),
            "orders": cal.orders[keep],
            "total_spend": cal.total[keep],
        }
    )
    if calibration_end is not None:
        in_hold = ~in_cal & (day <= obs_day)
        hold = daybits.day_stats(
            codes[in_hold], day[in_hold] - (cal_day + 1), amount[in_hold], n, obs_day - cal_day
        )
        n_hold = hold.n_days[keep].astype(np.float64)
        spend = hold.total[keep]
        out["frequency_holdout"] = n_hold
        out["monetary_value_holdout"] = np.divide(spend, n_hold, out=np.zeros_like(spend), where=n_hold > 0)
        out["duration_holdout"] = (obs_day - cal_day) / unit
    out["first_purchase"] = _day_to_date(pd.Series(first))
    out["last_purchase"] = _day_to_date(pd.Series(last))
    return out
