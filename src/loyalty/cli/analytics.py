"""`loyalty analytics …`: RFM, CLV, report and refresh (rfm/clv are a stable interface: tools rely on it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, cast

import typer

from loyalty.analytics.errors import AnalyticsError
from loyalty.cli.analytics_engine import EngineOpt, basket_counts, engine_connection, kpi_totals
from loyalty.cli.basket import basket
from loyalty.cli.basket_rules import app as basket_rules_app
from loyalty.cli.churn import app as churn_app
from loyalty.cli.clusters import app as clusters_app
from loyalty.cli.recommendations import app as recommendations_app
from loyalty.cli.recommendations import recommend
from loyalty.i18n import translator

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy import Engine

    from loyalty.analytics.features import Columns
    from loyalty.bootstrap import Context

# The analytics stack (Ibis, pandas, SciPy) is imported inside each command, so that every other
# `loyalty` command starts without it.

_ = translator("cli")

app = typer.Typer(help="Member analytics: RFM, lifetime value, churn.", no_args_is_help=True)
app.command("basket")(basket)  # association rules: `loyalty.cli.basket`
app.command("basket-counts")(basket_counts)  # on DuckDB or Spark: `loyalty.cli.analytics_engine`
app.command("kpi-totals")(kpi_totals)  # on DuckDB or Spark: `loyalty.cli.analytics_engine`
app.add_typer(basket_rules_app, name="basket-rules")  # stored rules: `loyalty.cli.basket_rules`
app.add_typer(clusters_app, name="clusters")  # member clusters: `loyalty.cli.clusters`
app.add_typer(churn_app, name="churn")  # churn model and next purchase date: `loyalty.cli.churn`
app.add_typer(recommendations_app, name="recommendations")  # `loyalty.cli.recommendations`
app.command("recommend")(recommend)  # one member's recommendations: `loyalty.cli.recommendations`

CustomerOpt = Annotated[str, typer.Option("--customer", help="customer id column")]
DateOpt = Annotated[str, typer.Option("--date", help="purchase date column")]
AmountOpt = Annotated[str, typer.Option("--amount", help="amount column")]
ReturnsOpt = Annotated[str, typer.Option("--returns", help="negative amounts: reject (default) or net")]


DatabaseUrlOpt = Annotated[
    str | None, typer.Option("--database-url", help="product database (default: LOYALTY_DATABASE_URL)")
]
InputArg = Annotated[
    Path | None,
    typer.Argument(help="CSV (.csv/.csv.gz) or Parquet transaction file (default: the product database)"),
]


def _fail(exc: AnalyticsError) -> typer.Exit:
    typer.echo(_("error [{code}]: {reason}", code=exc.code, reason=exc.message), err=True)
    return typer.Exit(code=2)


def _member_purchases(eng: Engine) -> pd.DataFrame:
    """Member purchases and returns (minor units) from the product database; none is an input error."""
    from loyalty.analytics.errors import InputError
    from loyalty.analytics.store import load_transactions

    tx = load_transactions(eng)
    if tx.empty:
        raise InputError("the database has no member purchases yet")
    return tx


def _source(
    input: Path | None, database_url: str | None, columns: tuple[str, str, str], returns: str
) -> tuple[object, Columns, str, str | None]:
    """What `rfm` and `clv` score: (source, columns, returns, currency). The file with its `columns`
    (customer, date, amount) and `returns` as asked, or else the database's member purchases (standard
    columns, returns netted) and their currency.
    """
    from loyalty.analytics.features import Columns

    if input is not None:  # a file: nothing of the database is imported
        return input, Columns(*columns), returns, None
    from loyalty.analytics.currency import database_currency
    from loyalty.cli._core import engine

    eng = engine(database_url)
    try:
        return _member_purchases(eng), Columns(), "net", database_currency(eng)
    finally:
        eng.dispose()


def _in_major(df: pd.DataFrame, columns: list[str], currency: str) -> pd.DataFrame:
    """Minor-unit money columns as exact major-unit decimals, and a ``currency`` column after them."""
    from loyalty.analytics.currency import to_major

    out = df.copy()
    for c in columns:
        out[c] = to_major(out[c].to_numpy(), currency).to_pylist()
    out["currency"] = currency
    return out


@app.command()
def rfm(
    output: Annotated[Path, typer.Option("-o", "--output", help="CSV or Parquet output")],
    input: InputArg = None,
    customer: CustomerOpt = "customer_id",
    date: DateOpt = "date",
    amount: AmountOpt = "amount",
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="score as of this date (default: last day)")
    ] = None,
    scheme: Annotated[str, typer.Option("--scheme", help="quintile or binary")] = "quintile",
    threshold: Annotated[str, typer.Option("--threshold", help="binary threshold: mean or median")] = "mean",
    returns: ReturnsOpt = "reject",
    database_url: DatabaseUrlOpt = None,
    engine: EngineOpt = None,
) -> None:
    """Score every customer: recency_days, frequency, monetary, r/f/m scores, rfm_code, segment, and
    the segment's zh/en names and actions.

    Without INPUT the product database's member purchases are scored (returns netted); `monetary` is
    then in the currency's major units and a `currency` column says which.
    """
    from loyalty.analytics import rfm as rfm_mod
    from loyalty.analytics.files import write_table

    if (
        scheme not in ("quintile", "binary")
        or threshold not in ("mean", "median")
        or returns not in ("reject", "net")
    ):
        typer.echo(
            _("error: --scheme quintile|binary, --threshold mean|median, --returns reject|net"), err=True
        )
        raise typer.Exit(code=2)
    try:
        source, columns, returns, currency = _source(input, database_url, (customer, date, amount), returns)
        con = engine_connection(engine)  # None: DuckDB; a Spark session is left to the process that owns it
        df = rfm_mod.rfm(
            source,
            columns,
            as_of=as_of,
            scheme=cast("Literal['quintile', 'binary']", scheme),
            threshold=cast("Literal['mean', 'median']", threshold),
            returns=returns,  # type: ignore[arg-type]
            con=con,
        )
    except AnalyticsError as exc:
        raise _fail(exc) from exc
    cols = ["customer_id", "recency_days", "frequency", "monetary", "r_score", "f_score", "m_score"]
    table = df[[*cols, "rfm_code", "segment", *rfm_mod.NAME_COLUMNS]]
    if currency is not None:
        table = _in_major(table, ["monetary"], currency)
    write_table(table, output)
    if currency is None:
        typer.echo(
            _("{count} customers scored ({scheme}) → {output}", count=len(df), scheme=scheme, output=output)
        )
    else:
        typer.echo(
            _(
                "{count} members scored ({scheme}, amounts in {currency}) → {output}",
                count=len(df),
                scheme=scheme,
                currency=currency,
                output=output,
            )
        )


@app.command()
def clv(
    output: Annotated[Path, typer.Option("-o", "--output", help="CSV or Parquet output")],
    input: InputArg = None,
    calibration_end: Annotated[
        str | None,
        typer.Option(
            "--calibration-end", help="last day used for fitting (default: the last day of the data)"
        ),
    ] = None,
    customer: CustomerOpt = "customer_id",
    date: DateOpt = "date",
    amount: AmountOpt = "amount",
    time_unit: Annotated[str, typer.Option("--time-unit", help="day or week")] = "week",
    model: Annotated[str, typer.Option("--model", help="bgnbd or pareto")] = "bgnbd",
    horizon: Annotated[int, typer.Option("--horizon", help="horizon in months")] = 12,
    discount_rate: Annotated[float, typer.Option("--discount-rate", help="monthly discount rate")] = 0.01,
    params: Annotated[Path | None, typer.Option("--params", help="write fitted parameters here")] = None,
    returns: ReturnsOpt = "reject",
    database_url: DatabaseUrlOpt = None,
    engine: EngineOpt = None,
) -> None:
    """Fit BG/NBD or Pareto/NBD plus Gamma-Gamma on the calibration period and score each customer.

    Without INPUT the product database's member purchases are scored (returns netted); the money
    columns (monetary_value, expected_avg_value, clv) are then in the currency's major units and a
    `currency` column says which.
    """
    from loyalty.analytics.files import write_table
    from loyalty.analytics.pipeline import fit_clv

    if (
        time_unit not in ("day", "week")
        or model not in ("bgnbd", "pareto")
        or returns not in ("reject", "net")
    ):
        typer.echo(_("error: --time-unit day|week, --model bgnbd|pareto, --returns reject|net"), err=True)
        raise typer.Exit(code=2)
    try:
        source, columns, returns, currency = _source(input, database_url, (customer, date, amount), returns)
        con = engine_connection(engine)  # None: DuckDB; a Spark session is left to the process that owns it
        out, fitted, _summary = fit_clv(
            source,
            columns,
            calibration_end=calibration_end,
            time_unit=cast("Literal['day', 'week']", time_unit),
            model=cast("Literal['bgnbd', 'pareto']", model),
            horizon_months=horizon,
            discount_rate=discount_rate,
            returns=returns,  # type: ignore[arg-type]
            con=con,
        )
    except AnalyticsError as exc:
        raise _fail(exc) from exc
    if currency is not None:
        out = _in_major(out, ["monetary_value", "expected_avg_value", "clv"], currency)
        fitted["currency"] = currency
    write_table(out, output)
    if params is not None:
        params.write_text(json.dumps(fitted, indent=2) + "\n", encoding="utf-8")
    ll = "{:.2f}".format(fitted["log_likelihood"])
    message = _(
        "{count} customers scored ({model}, LL {ll}) → {output}",
        count=len(out),
        model=model,
        ll=ll,
        output=output,
    )
    if currency is not None:
        message += " " + _("(amounts in {currency})", currency=currency)
    typer.echo(message)


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
    database_url: DatabaseUrlOpt = None,
    locale: Annotated[
        str | None, typer.Option("--locale", help="zh-CN or en (default: LOYALTY_LOCALE)")
    ] = None,
    currency: Annotated[
        str | None,
        typer.Option(
            "--currency",
            help="currency of a file's amounts, in major units (default: LOYALTY_CURRENCY); "
            "the database's own currency otherwise",
        ),
    ] = None,
    model: Annotated[str, typer.Option("--model", help="bgnbd or pareto")] = "bgnbd",
    horizon: Annotated[int, typer.Option("--horizon", help="CLV horizon in months")] = 12,
    discount_rate: Annotated[float, typer.Option("--discount-rate", help="monthly discount rate")] = 0.01,
    top: Annotated[int, typer.Option("--top", help="customers on the win-back list")] = 20,
) -> None:
    """Write a self-contained HTML report: key figures, sales by channel, RFM, segments, revenue at
    risk and a win-back list, P(alive), CLV, cohorts, the holdout check and model parameters."""
    from loyalty.analytics.features import Columns
    from loyalty.analytics.report import DatabaseFacts, ReportOptions, build_report
    from loyalty.i18n import normalise

    if model not in ("bgnbd", "pareto") or horizon < 1 or top < 0 or not 0 <= discount_rate < 1:
        typer.echo(
            _("error: --model bgnbd|pareto, --horizon ≥ 1, --top ≥ 0, 0 ≤ --discount-rate < 1"), err=True
        )
        raise typer.Exit(code=2)
    if locale is not None and normalise(locale) is None:
        typer.echo(_("error: --locale {locale}: use zh-CN or en", locale=locale), err=True)
        raise typer.Exit(code=2)
    settings = {
        "calibration_end": calibration_end,
        "model": cast("Literal['bgnbd', 'pareto']", model),
        "horizon_months": horizon,
        "discount_rate": discount_rate,
        "top_n": top,
        "locale": locale,
    }
    try:
        if input is not None:
            from loyalty.analytics.files import read_table
            from loyalty.config import get_settings

            code = (currency or get_settings().currency).upper()
            opts = ReportOptions(currency=code, source_label=input.name, **settings)  # type: ignore[arg-type]
            html = build_report(read_table(input), Columns(customer, date, amount), options=opts)
        else:
            from loyalty.analytics.currency import database_currency
            from loyalty.analytics.store import member_cards, sales_by_channel
            from loyalty.cli._core import engine

            eng = engine(database_url)
            try:
                opts = ReportOptions(
                    currency=database_currency(eng),
                    amounts_in_minor=True,
                    **settings,  # type: ignore[arg-type]
                )
                facts = DatabaseFacts(sales=sales_by_channel(eng), cards=lambda ids: member_cards(eng, ids))
                html = build_report(_member_purchases(eng), Columns(), options=opts, facts=facts)
            finally:
                eng.dispose()
    except AnalyticsError as exc:
        raise _fail(exc) from exc
    output.write_text(html, encoding="utf-8")
    typer.echo(_("report → {output}", output=output))


@app.command()
def refresh(
    database_url: Annotated[str | None, typer.Option("--database-url")] = None,
    model: Annotated[str, typer.Option("--model", help="bgnbd or pareto")] = "bgnbd",
) -> None:
    """Recompute every member's RFM code, segment, P(alive), expected purchases and CLV; keep history.

    Recorded as an analytics-refresh job (`loyalty jobs list`), as one started from the console is,
    and refused while one is running.
    """
    from loyalty.bootstrap import Context
    from loyalty.cli._core import engine
    from loyalty.domain.actors import Actor
    from loyalty.domain.errors import DomainError
    from loyalty.services import jobs

    eng = engine(database_url)
    cli = Actor(kind="system", id="cli", role="system")
    try:
        _job, result = jobs.run_now(
            Context(engine=eng), jobs.ANALYTICS_REFRESH, cli, actor_name="cli", params={"model": model}
        )
    except AnalyticsError as exc:
        raise _fail(exc) from exc
    except DomainError as exc:
        typer.echo(_("error [{code}]: {reason}", code=exc.code, reason=exc.localized()), err=True)
        raise typer.Exit(code=1) from exc
    finally:
        eng.dispose()
    typer.echo(_("{count} members scored", count=result["members_scored"]))


FIGURES_TABLES = ("segments", "clv", "p_alive", "holdout", "tracking", "members")


@app.command()
def figures(
    table: Annotated[
        str | None,
        typer.Option(
            "--table",
            help="write one table to --output: segments, clv, p_alive, holdout, tracking or members",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="CSV or xlsx file for --table (audited as an export)"),
    ] = None,
    role: Annotated[str, typer.Option(help="role of the person exporting (admin sees PII)")] = "analyst",
    actor: Annotated[str, typer.Option(help="who is exporting (for the audit log)")] = "cli",
) -> None:
    """The stored figures of the last refresh, as the console's analytics page shows them: the eight
    RFM groups, the CLV and P(alive) distributions and the model's calibration/holdout check, as
    JSON; or one of those tables written to a CSV or xlsx file."""
    from loyalty.cli._core import context, emit

    if (table is None) != (output is None) or (table is not None and table not in FIGURES_TABLES):
        typer.echo(
            _(
                "error: give --table and --output together; tables: {tables}",
                tables=", ".join(FIGURES_TABLES),
            ),
            err=True,
        )
        raise typer.Exit(code=2)
    ctx = context()
    if table is not None and output is not None:
        _write_figures(ctx, table, output, role, actor)
        return
    from loyalty.services.member_analytics import downloads, overview

    o = overview(ctx)
    emit(
        {
            "scored_at": o.scored_at.isoformat() if o.scored_at else None,
            "model": o.model,
            "members": o.members,
            "currency": o.currency,
            "segments": downloads.segments_table(o).to_pylist(),
            "clv": downloads.clv_table(o).to_pylist(),
            "members_without_clv": o.without_clv,
            "p_alive": downloads.p_alive_table(o).to_pylist(),
            "members_without_p_alive": o.without_p_alive,
            "calibration_end": o.refresh.calibration_end.isoformat()
            if o.refresh and o.refresh.calibration_end
            else None,
            "holdout": downloads.holdout_table(o).to_pylist(),
            "tracking": downloads.tracking_table(o).to_pylist(),
            "problem": o.refresh.problem if o.refresh else None,
        }
    )


def _write_figures(ctx: Context, table: str, output: Path, role: str, actor: str) -> None:
    from loyalty.domain.actors import Actor
    from loyalty.domain.errors import DomainError
    from loyalty.exports.writers import format_for
    from loyalty.services.member_analytics import downloads

    fmt = format_for(output)
    if fmt not in downloads.FORMATS:
        typer.echo(_("error: --output must end in .csv or .xlsx"), err=True)
        raise typer.Exit(code=2)
    try:
        done = downloads.download(ctx, table, fmt, actor=Actor(kind="staff", id=actor, role=role))
    except DomainError as exc:
        typer.echo(_("skipped {what}: {reason}", what=table, reason=exc.localized()), err=True)
        raise typer.Exit(code=1) from exc
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(done.content)
    typer.echo(
        _(
            "{rows} rows of {table} → {output} (recorded in the audit log)",
            rows=done.rows,
            table=table,
            output=output,
        )
    )
