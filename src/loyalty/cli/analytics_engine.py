"""`loyalty analytics basket-counts` and `kpi-totals`: the relational work on DuckDB or on Spark.

Both read exports (Parquet files or folders, or CSV) and run the same Ibis expressions on the engine
`--engine` (or LOYALTY_ANALYTICS_ENGINE) names: embedded DuckDB by default, or Spark, where a chain's
years of receipts no longer fit one machine (docs/analytics-spark.md). `rfm` and `clv` take the same
option (`loyalty.cli.analytics`). Registered on the `analytics` app; Ibis, pandas and PySpark are
imported inside the commands.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from loyalty.i18n import translator

if TYPE_CHECKING:
    import ibis
    import ibis.expr.types as ir

_ = translator("cli")

EngineOpt = Annotated[
    str | None,
    typer.Option(
        "--engine",
        help="duckdb (embedded, the default) or spark (a cluster, or local mode); "
        "default: LOYALTY_ANALYTICS_ENGINE",
    ),
]


def engine_connection(engine: str | None, *, duckdb: bool = False) -> ibis.BaseBackend | None:
    """A connection to the engine asked for; for DuckDB None (the commands' own fast paths) unless
    ``duckdb`` asks for a connection there too."""
    from loyalty.analytics import backends

    name = backends.engine_name(engine)
    return backends.connect(name) if duckdb or name != "duckdb" else None


def _release(con: ibis.BaseBackend | None) -> None:
    """Close a DuckDB connection; a Spark session is left running for whoever owns it (spark-submit,
    a notebook, a test), and ends with this process otherwise."""
    if con is not None and con.name == "duckdb":
        con.disconnect()


def _fail(code: str, reason: str) -> typer.Exit:
    typer.echo(_("error [{code}]: {reason}", code=code, reason=reason), err=True)
    return typer.Exit(code=2)


def _read(con: ibis.BaseBackend, path: str, types: dict[str, str]) -> ir.Table:
    """An export (a local path, or a URL the engine reads: ``s3a://…``) as a table of ``con``; text
    columns (CSV) cast to the types the expressions need."""
    from loyalty.analytics.backends import is_url, read_file
    from loyalty.analytics.errors import InputError

    if not is_url(path) and not Path(path).exists():
        raise InputError(f"{path}: no such file")
    table = read_file(con, path)
    casts = {
        c: table[c].cast(t) for c, t in types.items() if c in table.columns and table[c].type().is_string()
    }
    return table.mutate(**casts) if casts else table


def basket_counts(
    input: Annotated[str, typer.Argument(help="(basket, item) rows: a Parquet file or folder, or CSV")],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="itemsets file to write: .csv, .csv.gz or .parquet")
    ],
    min_support: Annotated[
        float, typer.Option("--min-support", help="share of baskets an itemset must be in (0 < S ≤ 1)")
    ],
    max_length: Annotated[int, typer.Option("--max-length", help="most items in a counted itemset")] = 2,
    basket_column: Annotated[str, typer.Option("--basket", help="basket column")] = "basket",
    item_column: Annotated[str, typer.Option("--item", help="item column")] = "item",
    engine: EngineOpt = None,
) -> None:
    """Count the frequent items, pairs and longer itemsets of a long basket file on DuckDB or Spark:
    one itemset per row (`items` a JSON array of labels, `length`, `count`, `support`), the counts
    `loyalty analytics basket` mines its rules from."""
    from loyalty.analytics.basket.counts import itemset_counts
    from loyalty.analytics.basket.files import check_output
    from loyalty.analytics.errors import AnalyticsError
    from loyalty.analytics.files import write_table
    from loyalty.domain.errors import DomainError

    con = None
    try:
        check_output(output)
        con = engine_connection(engine, duckdb=True)
        assert con is not None
        lines = _read(con, input, {})
        counts = itemset_counts(
            lines, min_support, max_length=max_length, basket=basket_column, item=item_column
        )
    except DomainError as exc:
        raise _fail(exc.code, exc.localized()) from exc
    except AnalyticsError as exc:
        raise _fail(exc.code, exc.message) from exc
    finally:
        _release(con)
    output.parent.mkdir(parents=True, exist_ok=True)
    write_table(counts.frame, output)
    typer.echo(
        _(
            "{itemsets} frequent itemsets in {baskets} baskets (at least {count} each) → {output}",
            itemsets=len(counts.frame),
            baskets=counts.baskets,
            count=counts.min_count,
            output=output,
        )
    )


def _day(option: str, value: str) -> date:
    from loyalty.analytics.errors import InputError

    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InputError(f"{option} {value} is not a date (YYYY-MM-DD)") from exc


def kpi_totals(
    sales: Annotated[
        str, typer.Option("--sales", help="sales export: store_id, day, member_id, total_minor")
    ],
    members: Annotated[
        str, typer.Option("--members", help="members export: member_id, store_id, joined_day, status")
    ],
    start: Annotated[str, typer.Option("--from", help="first business day (YYYY-MM-DD)")],
    end: Annotated[str, typer.Option("--to", help="last business day (YYYY-MM-DD)")],
    refunds: Annotated[
        str | None,
        typer.Option("--refunds", help="refunds export: store_id, day, member_id, refund_minor"),
    ] = None,
    store: Annotated[
        list[int] | None, typer.Option("--store", help="a store's id (repeat for a region; default: chain)")
    ] = None,
    active_days: Annotated[
        int, typer.Option("--active-days", help="active: bought in this many days up to the last")
    ] = 90,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="write the figures here as JSON (default: print)")
    ] = None,
    engine: EngineOpt = None,
) -> None:
    """The core KPIs over exported sales and members on DuckDB or Spark: members, new members, active
    rate, repurchase rate, member sales share and average ticket (money in minor units), as JSON."""
    from loyalty.analytics.errors import AnalyticsError
    from loyalty.analytics.kpis import kpi_totals as totals

    con = None
    try:
        first, last = _day("--from", start), _day("--to", end)
        con = engine_connection(engine, duckdb=True)
        assert con is not None
        money = {"store_id": "int64", "day": "date", "member_id": "int64"}
        figures = totals(
            _read(con, sales, {**money, "total_minor": "int64"}),
            _read(con, members, {"member_id": "int64", "store_id": "int64", "joined_day": "date"}),
            refunds=None if refunds is None else _read(con, refunds, {**money, "refund_minor": "int64"}),
            start=first,
            end=last,
            stores=store or None,
            active_days=active_days,
        )
    except AnalyticsError as exc:
        raise _fail(exc.code, exc.message) from exc
    finally:
        _release(con)
    result: dict[str, Any] = {"from": first.isoformat(), "to": last.isoformat(), "stores": store or None}
    result.update(figures.as_dict())
    text = json.dumps(result, indent=2) + "\n"
    if output is None:
        typer.echo(text, nl=False)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    typer.echo(_("KPI figures → {output}", output=output))
