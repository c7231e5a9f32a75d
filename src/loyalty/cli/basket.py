"""`loyalty analytics basket`: association rules of baskets, from a file or the product database.

A stable interface (other tools call it)::

    loyalty analytics basket INPUT -o OUT --min-support S --min-confidence C [--min-length N]
        [--max-length N] [--format long|basket-lines] [--basket COL] [--item COL]

Registered on the `analytics` app by `loyalty.cli.analytics`; NumPy, pyarrow and the database are
imported inside the command, so the rest of the CLI starts without them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from loyalty.i18n import translator

if TYPE_CHECKING:
    from loyalty.analytics.basket import Baskets

_ = translator("cli")

LIMIT = 1_000_000


def _baskets_from_database(
    database_url: str | None,
    basket: str | None,
    item: str | None,
    store: str | None,
    start: str | None,
    end: str | None,
) -> Baskets:
    from datetime import date

    from loyalty.analytics.basket.errors import BasketInputError
    from loyalty.cli._core import context
    from loyalty.services.basket_rules import BasketScope, load_baskets
    from loyalty.services.merchants import list_stores

    if basket not in (None, "purchase"):
        raise BasketInputError.field(
            "--basket",
            "in the product database a basket is a purchase (--basket purchase), not {value}",
            BasketInputError.default_code,
            {"value": basket},
        )
    days: list[date | None] = []
    for name, value in (("--from", start), ("--to", end)):
        try:
            days.append(date.fromisoformat(value) if value else None)
        except ValueError as exc:
            raise BasketInputError.field(
                name,
                "{option} {value} is not a date (YYYY-MM-DD)",
                BasketInputError.default_code,
                {"option": name, "value": value},
            ) from exc
    ctx = context(database_url)
    try:
        store_id = None
        if store is not None:
            store_id = next((s.id for s in list_stores(ctx) if s.code == store), None)
            if store_id is None:
                raise BasketInputError.field(
                    "--store", "no store has the code {code}", BasketInputError.default_code, {"code": store}
                )
        scope = BasketScope(store_id=store_id, start=days[0], end=days[1], item=item or "sku")
        return load_baskets(ctx, scope).baskets
    finally:
        ctx.engine.dispose()


def basket(
    output: Annotated[
        Path, typer.Option("-o", "--output", help="rules file to write: .csv, .csv.gz or .parquet")
    ],
    min_support: Annotated[
        float, typer.Option("--min-support", help="share of baskets an itemset must be in (0 < S ≤ 1)")
    ],
    min_confidence: Annotated[
        float,
        typer.Option("--min-confidence", help="share of the antecedent's baskets holding the consequent"),
    ],
    input: Annotated[
        Path | None,
        typer.Argument(help="basket file (default: the product database's purchases)"),
    ] = None,
    min_length: Annotated[int, typer.Option("--min-length", help="fewest items in a rule, both sides")] = 1,
    max_length: Annotated[
        int | None, typer.Option("--max-length", help="most items in a rule (and in a mined itemset)")
    ] = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format", help="long: (basket, item) rows with a header; basket-lines: one basket per line"
        ),
    ] = "long",
    basket_column: Annotated[
        str | None, typer.Option("--basket", help="basket column of a long file (default: basket)")
    ] = None,
    item_column: Annotated[
        str | None,
        typer.Option(
            "--item", help="item column of a long file (default: item); in the database: sku or category"
        ),
    ] = None,
    store: Annotated[
        str | None, typer.Option("--store", help="database: one store's purchases (its code)")
    ] = None,
    start: Annotated[
        str | None, typer.Option("--from", help="database: first business day (YYYY-MM-DD)")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="database: last business day (YYYY-MM-DD)")] = None,
    prune_redundant: Annotated[
        bool, typer.Option("--prune-redundant", help="leave out rules a more general rule matches or beats")
    ] = False,
    max_itemsets: Annotated[
        int, typer.Option("--max-itemsets", help="refuse (with an estimate) a support giving more itemsets")
    ] = LIMIT,
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="product database (default: LOYALTY_DATABASE_URL)")
    ] = None,
) -> None:
    """Frequent itemsets and association rules: one rule per row, `antecedent` and `consequent` as JSON
    arrays of item labels, then support, confidence, lift, leverage and conviction (best lift first).

    Without INPUT the baskets are the product database's purchases (anonymous ones too), their items
    the lines' SKUs (`--item category` for categories); lines returned in full are left out.
    """
    from loyalty.analytics.basket import mine, read_baskets
    from loyalty.analytics.basket.files import check_output
    from loyalty.analytics.files import write_table
    from loyalty.domain.errors import DomainError

    try:
        check_output(output)
        if input is None:
            if fmt != "long":
                raise _only_files("--format")
            baskets = _baskets_from_database(database_url, basket_column, item_column, store, start, end)
        else:
            for option, value in (("--store", store), ("--from", start), ("--to", end)):
                if value is not None:
                    raise _only_database(option)
            baskets = read_baskets(input, fmt, basket_column or "basket", item_column or "item")
        rules = mine(
            baskets,
            min_support,
            min_confidence,
            min_length=min_length,
            max_length=max_length,
            prune_redundant=prune_redundant,
            limit=max_itemsets,
        )
    except DomainError as exc:
        typer.echo(_("error [{code}]: {reason}", code=exc.code, reason=exc.localized()), err=True)
        raise typer.Exit(code=2) from exc
    output.parent.mkdir(parents=True, exist_ok=True)
    write_table(rules.sorted("lift").to_frame(), output)
    typer.echo(
        _(
            "{rules} rules from {itemsets} frequent itemsets in {baskets} baskets → {output}",
            rules=len(rules),
            itemsets=rules.itemsets.count(),
            baskets=baskets.count,
            output=output,
        )
    )
    if baskets.empty:
        typer.echo(_("{count} empty baskets left out", count=baskets.empty), err=True)


def _only_files(option: str) -> Exception:
    from loyalty.analytics.basket.errors import BasketInputError

    return BasketInputError.field(
        option,
        "{option} applies to a file, not to the database",
        BasketInputError.default_code,
        {"option": option},
    )


def _only_database(option: str) -> Exception:
    from loyalty.analytics.basket.errors import BasketInputError

    return BasketInputError.field(
        option,
        "{option} applies to the database, not to a file",
        BasketInputError.default_code,
        {"option": option},
    )
