"""`loyalty analytics …`: RFM, CLV, report and refresh (rfm/clv are a stable interface: tools rely on it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal, cast

import typer

from loyalty.analytics.errors import AnalyticsError

# The analytics stack (Ibis, pandas, SciPy) is imported inside each command, so that every other
# `loyalty` command starts without it.

app = typer.Typer(help="Member analytics: RFM, lifetime value, churn.", no_args_is_help=True)

CustomerOpt = Annotated[str, typer.Option("--customer", help="customer id column")]
DateOpt = Annotated[str, typer.Option("--date", help="purchase date column")]
AmountOpt = Annotated[str, typer.Option("--amount", help="amount column")]
ReturnsOpt = Annotated[str, typer.Option("--returns", help="negative amounts: reject (default) or net")]


def _fail(exc: AnalyticsError) -> typer.Exit:
    typer.echo(f"error [{exc.code}]: {exc.message}", err=True)
    return typer.Exit(code=2)


@app.command()
def rfm(
    input: Annotated[Path, typer.Argument(help="CSV (.csv/.csv.gz) or Parquet transaction file")],
    output: Annotated[Path, typer.Option("-o", "--output", help="CSV or Parquet output")],
    customer: CustomerOpt = "customer_id",
    date: DateOpt = "date",
    amount: AmountOpt = "amount",
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="score as of this date (default: last day)")
    ] = None,
    scheme: Annotated[str, typer.Option("--scheme", help="quintile or binary")] = "quintile",
    threshold: Annotated[str, typer.Option("--threshold", help="binary threshold: mean or median")] = "mean",
    returns: ReturnsOpt = "reject",
) -> None:
    """Score every customer: recency_days, frequency, monetary, r/f/m scores, rfm_code, segment."""
    from loyalty.analytics import rfm as rfm_mod
    from loyalty.analytics.features import Columns
    from loyalty.analytics.pipeline import write_table

    if (
        scheme not in ("quintile", "binary")
        or threshold not in ("mean", "median")
        or returns not in ("reject", "net")
    ):
        typer.echo("error: --scheme quintile|binary, --threshold mean|median, --returns reject|net", err=True)
        raise typer.Exit(code=2)
    try:
        df = rfm_mod.rfm(
            input,
            Columns(customer, date, amount),
            as_of=as_of,
            scheme=cast("Literal['quintile', 'binary']", scheme),
            threshold=cast("Literal['mean', 'median']", threshold),
            returns=returns,  # type: ignore[arg-type]
        )
    except AnalyticsError as exc:
        raise _fail(exc) from exc
    cols = ["customer_id", "recency_days", "frequency", "monetary", "r_score", "f_score", "m_score"]
    write_table(df[[*cols, "rfm_code", "segment"]], output)
    typer.echo(f"{len(df)} customers scored ({scheme}) → {output}")


@app.command()
def clv(
    input: Annotated[Path, typer.Argument(help="CSV (.csv/.csv.gz) or Parquet transaction file")],
    output: Annotated[Path, typer.Option("-o", "--output", help="CSV or Parquet output")],
    calibration_end: Annotated[str, typer.Option("--calibration-end", help="last day used for fitting")],
    customer: CustomerOpt = "customer_id",
    date: DateOpt = "date",
    amount: AmountOpt = "amount",
    time_unit: Annotated[str, typer.Option("--time-unit", help="day or week")] = "week",
    model: Annotated[str, typer.Option("--model", help="bgnbd or pareto")] = "bgnbd",
    horizon: Annotated[int, typer.Option("--horizon", help="horizon in months")] = 12,
    discount_rate: Annotated[float, typer.Option("--discount-rate", help="monthly discount rate")] = 0.01,
    params: Annotated[Path | None, typer.Option("--params", help="write fitted parameters here")] = None,
    returns: ReturnsOpt = "reject",
) -> None:
    """Fit BG/NBD or Pareto/NBD plus Gamma-Gamma on the calibration period and score each customer."""
    from loyalty.analytics.features import Columns
    from loyalty.analytics.pipeline import fit_clv, write_table

    if (
        time_unit not in ("day", "week")
        or model not in ("bgnbd", "pareto")
        or returns not in ("reject", "net")
    ):
        typer.echo("error: --time-unit day|week, --model bgnbd|pareto, --returns reject|net", err=True)
        raise typer.Exit(code=2)
    try:
        out, fitted, _ = fit_clv(
            input,
            Columns(customer, date, amount),
            calibration_end=calibration_end,
            time_unit=cast("Literal['day', 'week']", time_unit),
            model=cast("Literal['bgnbd', 'pareto']", model),
            horizon_months=horizon,
            discount_rate=discount_rate,
            returns=returns,  # type: ignore[arg-type]
        )
    except AnalyticsError as exc:
        raise _fail(exc) from exc
    write_table(out, output)
    if params is not None:
        params.write_text(json.dumps(fitted, indent=2) + "\n", encoding="utf-8")
    typer.echo(f"{len(out)} customers scored ({model}, LL {fitted['log_likelihood']:.2f}) → {output}")


@app.command()
def report(
    output: Annotated[Path, typer.Option("-o", "--output", help="HTML file to write")],
    input: Annotated[
        Path | None, typer.Option("--input", help="transaction file (default: the product database)")
    ] = None,
    calibration_end: Annotated[
        str | None, typer.Option("--calibration-end", help="default: 3/4 of the way through the data")
    ] = None,
    customer: CustomerOpt = "customer_id",
    date: DateOpt = "date",
    amount: AmountOpt = "amount",
    database_url: Annotated[str | None, typer.Option("--database-url")] = None,
) -> None:
    """Write a self-contained HTML report: RFM grid, segments, holdout check, P(alive) and CLV."""
    import pandas as pd

    from loyalty.analytics.features import Columns
    from loyalty.analytics.report import build_report

    try:
        if input is not None:
            from loyalty.analytics.pipeline import read_table

            source: object = read_table(input)
            cols = Columns(customer, date, amount)
        else:
            from loyalty.analytics.store import load_transactions
            from loyalty.config import get_settings
            from loyalty.db.engine import make_engine

            engine = make_engine(database_url or get_settings().database_url)
            source, cols = load_transactions(engine), Columns()
        if calibration_end is None:
            frame = source if isinstance(source, pd.DataFrame) else pd.DataFrame()
            dates = pd.to_datetime(frame[cols.date])
            lo, hi = pd.Timestamp(dates.min()), pd.Timestamp(dates.max())
            calibration_end = str((lo + (hi - lo) * 0.75).date())
        html = build_report(source, calibration_end=calibration_end, columns=cols, returns="net")
    except AnalyticsError as exc:
        raise _fail(exc) from exc
    output.write_text(html, encoding="utf-8")
    typer.echo(f"report → {output}")


@app.command()
def refresh(
    database_url: Annotated[str | None, typer.Option("--database-url")] = None,
    model: Annotated[str, typer.Option("--model", help="bgnbd or pareto")] = "bgnbd",
) -> None:
    """Recompute every member's RFM code, segment, P(alive), expected purchases and CLV; keep history."""
    import datetime as dt

    from loyalty.analytics.store import refresh as do_refresh
    from loyalty.config import get_settings
    from loyalty.db.engine import make_engine

    engine = make_engine(database_url or get_settings().database_url)
    try:
        n = do_refresh(engine, now=dt.datetime.now(dt.UTC), model=model)
    except AnalyticsError as exc:
        raise _fail(exc) from exc
    typer.echo(f"{n} members scored")
