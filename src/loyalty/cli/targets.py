"""`loyalty targets …`: a month's store targets set (the chain's target broken down, or stores' targets
typed by hand), shown with their history, and followed: each store's progress against the time
elapsed, the league table, the behind-target alerts and their thresholds.

The same services as `/api/v1/targets` and the console's tracking page (`services.targets`). Tables
in LOYALTY_LOCALE, or `--json` (money in minor units). Amounts are typed in the currency's units
(`300000`, `52000.50`), new members as whole numbers; stores by code. Changes are audited as the
CLI's (`system:cli`). A bad value is a usage error naming its option; a plan that is missing or was
changed meanwhile is one line on stderr, exit status 1. Services are imported inside the commands,
so that `loyalty --help` stays quick.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, cast

import typer

from loyalty.i18n import translator

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from rich.table import Table

    from loyalty.bootstrap import Context
    from loyalty.services.targets import Alert, League, Metric, Plan, Progress, Standing

_ = translator("cli")

app = typer.Typer(
    help="Store targets: set a month's plan, follow each store's progress, the league and the alerts.",
    no_args_is_help=True,
)

#: a service field → the argument or option that sets it
OPTION_OF_FIELD = {
    "month": "MONTH",
    "metric": "METRIC",
    "chain_target": "CHAIN_TARGET",
    "method": "--method",
    "step": "--step",
    "targets": "--target",
    "note": "--note",
    "behind_points": "--behind-points",
    "forecast_pct": "--forecast-pct",
}
MONEY = frozenset({"sales", "member_sales"})

MonthArg = Annotated[
    str | None, typer.Argument(help="The month, e.g. 2026-03 (default: this month).", show_default=False)
]
MetricArg = Annotated[str, typer.Argument(help="sales, member_sales or new_members.")]
ReadMetric = Annotated[str, typer.Argument(help="sales (the default), member_sales or new_members.")]
Target = Annotated[
    list[str] | None,
    typer.Option(
        "--target", help="A store's target typed by hand, CODE=AMOUNT (repeatable), e.g. SH01=52000."
    ),
]
Note = Annotated[str | None, typer.Option(help="Why, kept with the plan (at most 500 characters).")]
Replaces = Annotated[
    int | None,
    typer.Option(help="The id of the plan you saw as current: refused if another is current now."),
]
Region = Annotated[str | None, typer.Option(help="Only this region's stores (e.g. 华东).")]
Metrics = Annotated[
    list[str] | None,
    typer.Option("--metric", help="A metric to follow (repeatable); default: those planned."),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the result as JSON (money in minor units).")]


def _actor() -> Any:
    from loyalty.domain.actors import Actor

    return Actor(kind="system", id="cli", role="system")


#: the options of the commands that follow a month (`--metric`, not the METRIC argument)
FOLLOW_OPTIONS = {"metric": "--metric", "region": "--region"}


def _checked(
    call: Callable[[], Any], codes: dict[int, str] | None = None, options: dict[str, str] | None = None
) -> Any:
    """`call()`: a bad field as a usage error naming its option (a store's target by its code), any
    other refusal (no plan, a plan changed meanwhile, no such region) as one line, exit status 1."""
    from loyalty.cli._core import bad_parameter, fail
    from loyalty.domain.errors import DomainError, InvalidInput

    try:
        return call()
    except InvalidInput as exc:
        errors = (exc.details or {}).get("errors") or [{}]
        field = str(errors[0].get("field", ""))
        if field.startswith("targets."):
            sid = field.removeprefix("targets.")
            shown = (codes or {}).get(int(sid), sid) if sid.isdigit() else sid
            raise typer.BadParameter(f"{shown}: {exc.localized()}", param_hint="'--target'") from exc
        raise bad_parameter(exc, {**OPTION_OF_FIELD, **(options or {})}) from exc
    except DomainError as exc:
        fail(exc.localized())


def _bad(option: str, message: str) -> NoReturn:
    raise typer.BadParameter(message, param_hint=f"'{option}'")


def _units(metric: str, text: str, currency: str, option: str) -> int:
    """An amount typed in the metric's unit as the service counts it: minor units of `currency`, or
    whole members."""
    from loyalty.domain.money import minor_units, parse_amount

    value = parse_amount(text.replace(",", "").replace("_", ""))
    if value is None or value < 0:
        _bad(option, _("{value!r} is not an amount of zero or more, e.g. 52000 or 99.50", value=text))
    if metric not in MONEY:
        if value != value.to_integral_value():
            _bad(option, _("{value!r} is not a whole number of members", value=text))
        return int(value)
    minor = minor_units(value, currency)
    if minor is None:
        _bad(option, _("{value!r} has more decimals than {currency} has", value=text, currency=currency))
    return minor


def _typed(ctx: Context, metric: str, pairs: list[str]) -> tuple[dict[int, int], dict[int, str]]:
    """`--target CODE=AMOUNT` pairs as {store id: units}, and the codes by id."""
    from loyalty.services import merchants

    by_code = {s.code: s.id for s in merchants.list_stores(ctx)}
    out: dict[int, int] = {}
    for pair in pairs:
        code, sep, amount = pair.partition("=")
        code = code.strip()
        if not sep or not code or not amount.strip():
            _bad("--target", _("{value!r} is not CODE=AMOUNT, e.g. SH01=52000", value=pair))
        if code not in by_code:
            _bad("--target", _("no store has the code {code}", code=code))
        out[by_code[code]] = _units(metric, amount, ctx.settings.currency, "--target")
    return out, {sid: code for code, sid in by_code.items()}


def _metrics(given: list[str] | None) -> list[Metric] | None:
    """The metrics typed, as the service takes them (it refuses an unknown one, naming `metric`)."""
    return cast("list[Metric] | None", given)


def _month(ctx: Context, month: str | None) -> str:
    from loyalty.services import targets

    return month if month is not None else targets.this_month(ctx)


# --- how figures are shown ----------------------------------------------------------------------------


def _figure(metric: str, value: int | None, currency: str | None) -> str:
    from loyalty.i18n.formats import money, number

    if value is None:
        return "—"
    if metric in MONEY and currency is not None:
        return money(value, currency)
    return number(value)


def _time(value: datetime) -> str:
    """A stored instant in the chain's time zone, to the minute."""
    from datetime import UTC
    from zoneinfo import ZoneInfo

    from loyalty.config import get_settings

    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(ZoneInfo(get_settings().timezone)).isoformat(timespec="minutes")


def _rate(value: Decimal | None) -> str:
    from loyalty.i18n.formats import percent

    return "—" if value is None else percent(float(value))


def _points(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:+}"


def _print(table: Table) -> None:
    """`table` at its natural width, whatever the terminal's (a pipe's is 80 columns)."""
    from rich.console import Console

    width = Console().width
    Console(width=max(width, 200)).print(table)


def _table(*columns: str, right: int = 1) -> Table:
    """A plain table: the first `right` columns to the left, the figures after them to the right."""
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i < right else "right", no_wrap=True)
    return table


def _json(value: Any) -> None:
    from loyalty.cli._core import emit

    emit(value)


def _method(plan: Plan) -> str:
    names = {
        "last_year": _("shares of the same month last year"),
        "trailing_12": _("shares of the trailing 12 months"),
        "equal": _("an equal split"),
        "manual": _("typed by hand"),
    }
    return names.get(plan.method, plan.method)


def _show_plan(plan: Plan) -> None:
    m, cur = plan.metric, plan.currency
    typer.echo(
        _(
            "plan {id}: {metric} targets for {month}, chain {target} ({method})",
            id=plan.id,
            metric=m,
            month=plan.month,
            target=_figure(m, plan.chain_target, cur),
            method=_method(plan),
        )
    )
    if plan.basis_start is not None and plan.basis_end is not None:
        typer.echo(_("  basis: {start} to {end}", start=plan.basis_start, end=plan.basis_end))
    if plan.reason:
        typer.echo(_("  fallback: {reason}", reason=plan.reason))
    who = plan.creator_name or plan.created_by
    typer.echo(_("  set by {who} at {at}", who=who, at=_time(plan.created_at)))
    if plan.note:
        typer.echo(_("  note: {note}", note=plan.note))
    table = _table(
        _("store"), _("name"), _("region"), _("target"), _("basis"), _("share"), _("by hand"), right=3
    )
    for t in plan.stores:
        table.add_row(
            t.store.code,
            t.store.name,
            t.store.region or "",
            _figure(m, t.target, cur),
            _figure(m, t.basis, cur),
            _rate(t.share),
            _("yes") if t.by_hand else "",
        )
    _print(table)


def _standing_row(label: list[str], s: Standing, currency: str | None) -> list[str]:
    m = s.metric
    return [
        *label,
        _figure(m, s.target, currency),
        _figure(m, s.actual, currency),
        _rate(s.progress),
        _rate(s.elapsed),
        _points(s.ahead_points),
        _figure(m, s.forecast, currency),
        _rate(s.forecast_ratio),
        _figure(m, s.needed_per_day, currency),
    ]


def _figures_header() -> list[str]:
    return [
        _("target"),
        _("actual"),
        _("achieved"),
        _("elapsed"),
        _("ahead (pts)"),
        _("forecast"),
        _("of target"),
        _("needed/day"),
    ]


def _show_progress(p: Progress) -> None:
    metrics = [s.metric for s in p.stores[0].standings] if p.stores else []
    flagged = {(a.store.id, a.metric) for a in p.alerts}
    for metric in metrics:
        cur = p.currency if metric in MONEY else None
        typer.echo(_("{metric}, {month}, as of {at}", metric=metric, month=p.month, at=_time(p.as_of)))
        table = _table(_("store"), _("name"), *_figures_header(), _("alert"), right=2)
        for sp in p.stores:
            s = next(x for x in sp.standings if x.metric == metric)
            alert = _("behind") if (sp.store.id, metric) in flagged else ""
            table.add_row(*_standing_row([sp.store.code, sp.store.name], s, cur), alert)
        groups = [(_("region {name}", name=g.region), g) for g in p.regions]
        if p.chain is not None:
            groups.append((_("whole chain"), p.chain))
        for name, g in groups:
            s = next(x for x in g.standings if x.metric == metric)
            table.add_row(*_standing_row([name, _("stores: {n}", n=g.stores)], s, cur), "")
        _print(table)
    if not p.plans:
        typer.echo(
            _("no targets are set for {month}: `loyalty targets set {month} sales AMOUNT`", month=p.month)
        )


def _show_league(league: League) -> None:
    cur = league.currency
    typer.echo(_("{metric} league, {month}, as of {at}", metric=league.metric, month=league.month,
                 at=_time(league.as_of)))  # fmt: skip
    table = _table(_("rank"), _("store"), _("name"), _("achieved"), _("elapsed"), _("ahead (pts)"),
                   _("target"), _("actual"), _("alert"), right=3)  # fmt: skip
    for r in league.rows:
        s = r.standing
        table.add_row(
            "—" if r.rank is None else str(r.rank),
            r.store.code,
            r.store.name,
            _rate(s.progress),
            _rate(s.elapsed),
            _points(s.ahead_points),
            _figure(league.metric, s.target, cur),
            _figure(league.metric, s.actual, cur),
            _("behind") if r.behind else "",
        )
    _print(table)


def _alert_line(a: Alert, currency: str) -> str:
    cur = currency if a.metric in MONEY else None
    if a.kind == "behind":
        return _(
            "{store} {metric}: {progress} of {target} achieved with {elapsed} of the month gone "
            "(more than {threshold} points behind)",
            store=a.store.code,
            metric=a.metric,
            progress=_rate(a.progress),
            target=_figure(a.metric, a.target, cur),
            elapsed=_rate(a.elapsed),
            threshold=a.threshold,
        )
    return _(
        "{store} {metric}: forecast {forecast}, {ratio} of {target} (under {threshold} %)",
        store=a.store.code,
        metric=a.metric,
        forecast=_figure(a.metric, a.forecast, cur),
        ratio=_rate(a.forecast_ratio),
        target=_figure(a.metric, a.target, cur),
        threshold=a.threshold,
    )


# --- the commands ---------------------------------------------------------------------------------


@app.command("set")
def set_plan(
    month: Annotated[str, typer.Argument(help="The month, e.g. 2026-04.")],
    metric: MetricArg,
    chain_target: Annotated[
        str, typer.Argument(help="The chain's target: an amount (e.g. 1200000) or, for new_members, a count.")
    ],
    method: Annotated[
        str,
        typer.Option(
            help="auto (last year's month, else the trailing 12 months, else equal), last_year, "
            "trailing_12 or equal."
        ),
    ] = "auto",
    step: Annotated[
        str | None, typer.Option(help="Round each store's target to a multiple of this, e.g. 100.")
    ] = None,
    target: Target = None,
    note: Note = None,
    replaces: Replaces = None,
    as_json: AsJson = False,
) -> None:
    """Set MONTH's plan for METRIC: the chain's target shared among the stores by --method (stores given
    with --target first); the plan it replaces is kept as history. Audited."""
    from loyalty.cli._core import context
    from loyalty.services import targets

    ctx = context()
    currency = ctx.settings.currency
    total = _units(metric, chain_target, currency, "CHAIN_TARGET")
    rounding = _units(metric, step, currency, "--step") if step is not None else 1
    typed, codes = _typed(ctx, metric, target or [])
    plan = _checked(
        lambda: targets.set_plan(
            ctx, month, metric, total, _actor(), method=method, step=rounding, targets=typed, note=note,
            replaces=replaces,
        ),
        codes,
    )  # fmt: skip
    if as_json:
        _json(plan)
    else:
        _show_plan(plan)


@app.command("edit")
def edit(
    month: Annotated[str, typer.Argument(help="The month, e.g. 2026-04.")],
    metric: MetricArg,
    target: Target = None,
    note: Note = None,
    replaces: Replaces = None,
    as_json: AsJson = False,
) -> None:
    """Type some stores' targets by hand (--target CODE=AMOUNT): a new plan with the other stores' as
    they were and the chain's target their sum. Audited."""
    from loyalty.cli._core import context
    from loyalty.services import targets

    ctx = context()
    typed, codes = _typed(ctx, metric, target or [])
    plan = _checked(
        lambda: targets.edit_targets(ctx, month, metric, typed, _actor(), note=note, replaces=replaces), codes
    )
    if as_json:
        _json(plan)
    else:
        _show_plan(plan)


@app.command("show")
def show(month: MonthArg = None, metric: ReadMetric = "sales", as_json: AsJson = False) -> None:
    """The plan in force for MONTH and METRIC: the chain's target and each store's, with its basis."""
    from loyalty.cli._core import context
    from loyalty.services import targets

    ctx = context()
    chosen = _month(ctx, month)
    plan = _checked(lambda: targets.current_plan(ctx, chosen, metric))
    if as_json:
        _json(plan)
    else:
        _show_plan(plan)


@app.command("history")
def history(month: MonthArg = None, metric: ReadMetric = "sales", as_json: AsJson = False) -> None:
    """Every version of MONTH's METRIC plan, the current one first: who set it, when, how."""
    from loyalty.cli._core import context
    from loyalty.services import targets

    ctx = context()
    chosen = _month(ctx, month)
    plans = _checked(lambda: targets.plan_history(ctx, chosen, metric))
    if as_json:
        _json(plans)
        return
    if not plans:
        typer.echo(_("no {metric} targets are set for {month}", metric=metric, month=chosen))
        return
    table = _table(_("plan"), _("set at"), _("by"), _("method"), _("chain target"), _("replaced by"), right=4)
    for p in plans:
        table.add_row(
            str(p.id),
            _time(p.created_at),
            p.creator_name or p.created_by,
            _method(p),
            _figure(p.metric, p.chain_target, p.currency),
            "" if p.replaced_by is None else str(p.replaced_by),
        )
    _print(table)


@app.command("progress")
def progress(
    month: MonthArg = None,
    metric: Metrics = None,
    region: Region = None,
    store: Annotated[str | None, typer.Option(help="Only this store (its code).")] = None,
    as_json: AsJson = False,
) -> None:
    """MONTH followed: each store's target, actual so far, % achieved against % of the month gone,
    forecast to the month's end and what each remaining day must bring; regions and the chain added up."""
    from loyalty.cli._core import context
    from loyalty.services import merchants, targets

    ctx = context()
    chosen = _month(ctx, month)
    ids = None
    if store is not None:
        found = [s.id for s in merchants.list_stores(ctx) if s.code == store]
        if not found:
            _bad("--store", _("no store has the code {code}", code=store))
        ids = set(found)
    found_progress = _checked(
        lambda: targets.month_progress(ctx, chosen, store_ids=ids, region=region, metrics=_metrics(metric)),
        options=FOLLOW_OPTIONS,
    )
    if as_json:
        _json(found_progress)
    else:
        _show_progress(found_progress)


@app.command("league")
def league(
    month: MonthArg = None,
    metric: Annotated[str, typer.Option(help="The metric the stores are ranked on.")] = "sales",
    region: Region = None,
    as_json: AsJson = False,
) -> None:
    """The league table: stores ranked by points ahead of the time elapsed, best first (without a
    target: unranked, last)."""
    from loyalty.cli._core import context
    from loyalty.services import targets

    ctx = context()
    chosen = _month(ctx, month)
    found = _checked(lambda: targets.league(ctx, chosen, metric, region=region), options=FOLLOW_OPTIONS)
    if as_json:
        _json(found)
    else:
        _show_league(found)


@app.command("alerts")
def alerts(
    month: MonthArg = None, metric: Metrics = None, region: Region = None, as_json: AsJson = False
) -> None:
    """The stores behind their targets so far, and the rule each broke."""
    from loyalty.cli._core import context
    from loyalty.services import targets

    ctx = context()
    chosen = _month(ctx, month)
    found = _checked(
        lambda: targets.month_progress(ctx, chosen, region=region, metrics=_metrics(metric)),
        options=FOLLOW_OPTIONS,
    )
    if as_json:
        _json(found.alerts)
        return
    if not found.alerts:
        typer.echo(_("no store is behind its targets for {month}", month=chosen))
    for a in found.alerts:
        typer.echo(_alert_line(a, found.currency))


@app.command("alert-rules")
def alert_rules(
    behind_points: Annotated[
        int | None, typer.Option(help="Alert when progress trails time by more points than this (0 to 100).")
    ] = None,
    forecast_pct: Annotated[
        int | None, typer.Option(help="Alert when the forecast falls below this % of the target (0 to 200).")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """The alert thresholds in force; with --behind-points or --forecast-pct, change them first (audited)."""
    from loyalty.cli._core import context
    from loyalty.services import targets

    ctx = context()
    if behind_points is None and forecast_pct is None:
        rules = targets.alert_rules(ctx)
    else:
        rules = _checked(
            lambda: targets.set_alert_rules(
                ctx, _actor(), behind_points=behind_points, forecast_pct=forecast_pct
            )
        )
    if as_json:
        _json(rules)
        return
    typer.echo(
        _(
            "a store is behind when its progress trails the time elapsed by more than {points} points, "
            "or its forecast falls below {pct} % of its target",
            points=rules.behind_points,
            pct=rules.forecast_pct,
        )
    )
    if rules.updated_at is not None:
        typer.echo(_("changed by {who} at {at}", who=rules.updated_by, at=_time(rules.updated_at)))
