"""`loyalty analytics basket-rules refresh|sets|show|cross-sell`: the stored basket rules, mined and
read back.

`refresh` runs the basket-rules job (the chain and every store over the last 90 days, products and
categories); `sets` lists the stored sets; `show` prints one set's rules, filtered and sorted;
`cross-sell` what a basket's items fire (what the till's quote suggests from). The
file-or-database miner, `loyalty analytics basket INPUT -o OUT …`, is another command (`cli.basket`).

Registered on the `analytics` app by `loyalty.cli.analytics`; the services are imported inside the
commands, so the rest of the CLI starts without them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from loyalty.cli._runs import DatabaseUrlOpt, FormatOpt, check_format, echo, reading, run_job, table
from loyalty.i18n import translator

if TYPE_CHECKING:
    from loyalty.bootstrap import Context
    from loyalty.services.basket_rules import RuleRow, RuleSet, StoredRules

_ = translator("cli")

app = typer.Typer(
    help="Stored basket rules: the chain's and each store's, mined over a recent period.",
    no_args_is_help=True,
)

LevelOpt = Annotated[str, typer.Option("--level", help="sku (default) or category")]
StoreOpt = Annotated[
    str | None, typer.Option("--store", help="a store's code (default: the whole chain's rules)")
]


def set_json(s: RuleSet) -> dict[str, Any]:
    """A set as `GET /api/v1/analytics/basket-rule-sets` answers it."""
    return {
        "store_id": s.store.id if s.store else None,
        "store_code": s.store.code if s.store else None,
        "level": s.level,
        "start": s.period_start.isoformat(),
        "end": s.period_end.isoformat(),
        "min_support": s.min_support,
        "min_count": s.min_count,
        "min_confidence": s.min_confidence,
        "min_length": s.min_length,
        "max_length": s.max_length,
        "baskets": s.baskets,
        "lines": s.lines,
        "items": s.items,
        "frequent_items": s.frequent_items,
        "itemsets": s.itemsets,
        "rules_found": s.rules_found,
        "rules_stored": s.rules_stored,
        "computed_at": s.computed_at.isoformat(),
    }


def rule_json(r: RuleRow) -> dict[str, Any]:
    return {
        "antecedent": list(r.antecedent),
        "consequent": list(r.consequent),
        "baskets": r.count,
        "support": r.support,
        "confidence": r.confidence,
        "lift": r.lift,
        "leverage": r.leverage,
        "conviction": r.conviction,
    }


def sets_table(found: list[RuleSet]) -> str:
    from loyalty.i18n import current_locale, formats

    if not found:
        return _("No basket rules are stored yet: run `loyalty analytics basket-rules refresh`.")
    locale = current_locale()
    rows = [
        [
            s.store.code if s.store else _("chain"),
            s.level,
            f"{s.period_start.isoformat()}…{s.period_end.isoformat()}",
            formats.number(s.baskets, locale),
            formats.percent(s.min_support, locale, 2),
            formats.number(s.min_count, locale),
            formats.percent(s.min_confidence, locale, 0),
            formats.number(s.rules_found, locale),
            formats.number(s.rules_stored, locale),
        ]
        for s in found
    ]
    head = _("Computed {when}.", when=found[0].computed_at.isoformat(timespec="seconds"))
    listing = table(
        [
            _("Scope"),
            _("Level"),
            _("Days"),
            _("Baskets"),
            _("Support"),
            _("Min. baskets"),
            _("Confidence"),
            _("Rules found"),
            _("Stored"),
        ],
        rows,
        {3, 4, 5, 6, 7, 8},
    )
    return "\n\n".join([head, listing])


def rules_table(s: RuleSet | None, rules: list[RuleRow], total: int) -> str:
    from loyalty.i18n import current_locale, formats

    if s is None:
        return _(
            "No basket rules are stored for this scope yet: run `loyalty analytics basket-rules refresh`."
        )
    locale = current_locale()
    head = _(
        "{scope}, {level}: {total} of {stored} stored rules ({found} found) in {baskets} baskets of "
        "{start} to {end}; support ≥ {support}, confidence ≥ {confidence}.",
        scope=s.store.code if s.store else _("chain"),
        level=s.level,
        total=formats.number(total, locale),
        stored=formats.number(s.rules_stored, locale),
        found=formats.number(s.rules_found, locale),
        baskets=formats.number(s.baskets, locale),
        start=s.period_start.isoformat(),
        end=s.period_end.isoformat(),
        support=formats.percent(s.min_support, locale, 2),
        confidence=formats.percent(s.min_confidence, locale, 0),
    )
    if not rules:
        return head
    rows = [
        [
            ", ".join(r.antecedent),
            ", ".join(r.consequent),
            formats.number(r.count, locale),
            formats.percent(r.support, locale, 2),
            formats.percent(r.confidence, locale, 1),
            formats.number(r.lift, locale, 2),
            "∞" if r.conviction is None else formats.number(r.conviction, locale, 2),
        ]
        for r in rules
    ]
    listing = table(
        [_("If"), _("Then"), _("Baskets"), _("Support"), _("Confidence"), _("Lift"), _("Conviction")],
        rows,
        {2, 3, 4, 5, 6},
    )
    return "\n\n".join([head, listing])


def _store_id(ctx: Context, store: str | None) -> int | None:
    from loyalty.domain.errors import NotFound
    from loyalty.services.merchants import list_stores

    if store is None or store == "chain":
        return None
    found = next((s.id for s in list_stores(ctx) if s.code == store), None)
    if found is None:
        raise NotFound("STORE_NOT_FOUND", "no store has the code {code}", {"code": store})
    return found


@app.command()
def refresh(
    days: Annotated[
        int, typer.Option("--days", min=1, max=3660, help="business days to mine, up to today (default 90)")
    ] = 90,
    fmt: FormatOpt = "table",
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Mine the chain and every store over the last days (products and categories) and store the
    rules, replacing the stored ones (recorded as a basket-rules job)."""
    from loyalty.services import jobs
    from loyalty.services.basket_rules import rule_sets

    check_format(fmt)
    result, found = run_job(
        database_url, jobs.BASKET_RULES, {"days": days}, rule_sets, analytics_errors=False
    )
    echo(fmt, lambda: {**result, "sets": [set_json(s) for s in found]}, lambda: sets_table(found))


@app.command("sets")
def sets_command(fmt: FormatOpt = "table", database_url: DatabaseUrlOpt = None) -> None:
    """The stored rule sets: scope, level, days, thresholds and how many rules each holds."""
    from loyalty.services.basket_rules import rule_sets

    check_format(fmt)
    found = reading(database_url, rule_sets)
    echo(fmt, lambda: {"sets": [set_json(s) for s in found]}, lambda: sets_table(found))


@app.command()
def show(
    store: StoreOpt = None,
    level: LevelOpt = "sku",
    contains: Annotated[
        str | None, typer.Option("--contains", help="only rules with an item whose label holds this text")
    ] = None,
    min_lift: Annotated[
        float | None, typer.Option("--min-lift", min=0, help="only rules of this lift or more")
    ] = None,
    sort: Annotated[
        str, typer.Option("--sort", help="lift (default), confidence, support, leverage or conviction")
    ] = "lift",
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="rules to print")] = 20,
    fmt: FormatOpt = "table",
    database_url: DatabaseUrlOpt = None,
) -> None:
    """One stored set's rules, best first: the chain's or a store's, products or categories."""
    from loyalty.domain.errors import DomainError
    from loyalty.services.basket_rules import stored_rules

    check_format(fmt)

    def read(ctx: Context) -> StoredRules:
        return stored_rules(
            ctx,
            store_id=_store_id(ctx, store),
            level=level,
            contains=contains,
            min_lift=min_lift,
            sort=sort,
            limit=limit,
        )

    found = reading(database_url, read, (DomainError,))
    echo(
        fmt,
        lambda: {
            "rule_set": set_json(found.rule_set) if found.rule_set else None,
            "total": found.total,
            "rules": [rule_json(r) for r in found.rules],
        },
        lambda: rules_table(found.rule_set, found.rules, found.total),
    )


@app.command("cross-sell")
def cross_sell_command(
    items: Annotated[list[str], typer.Argument(help="the basket's items (SKUs, or categories with --level)")],
    store: StoreOpt = None,
    level: LevelOpt = "sku",
    min_lift: Annotated[
        float, typer.Option("--min-lift", min=0, help="only rules of this lift or more")
    ] = 1.0,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="rules to print")] = 10,
    fmt: FormatOpt = "table",
    database_url: DatabaseUrlOpt = None,
) -> None:
    """What to offer beside a basket: the stored rules its items fire, best lift first, leaving out
    what it holds already (the store's set when it has rules, else the chain's)."""
    from loyalty.domain.errors import DomainError
    from loyalty.services.basket_rules import CrossSell, cross_sell

    check_format(fmt)

    def read(ctx: Context) -> CrossSell:
        return cross_sell(
            ctx, items, store_id=_store_id(ctx, store), level=level, min_lift=min_lift, limit=limit
        )

    found = reading(database_url, read, (DomainError,))
    echo(
        fmt,
        lambda: {
            "rule_set": set_json(found.rule_set) if found.rule_set else None,
            "rules": [rule_json(r) for r in found.rules],
        },
        lambda: rules_table(found.rule_set, found.rules, len(found.rules)),
    )
