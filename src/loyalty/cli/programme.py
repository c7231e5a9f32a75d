"""`loyalty programme …`: the programme a chain runs — its currency, rules and tier ladder.

`init` is the step between `loyalty db upgrade` and the first `loyalty stores add` / `loyalty import`:
without a programme nothing can earn points. `set`, `tier-add` and `tier-set` change it afterwards
(`services.programme_settings`); `rules`, `offers`, `coupons` and `rewards` keep the programme's
earning rules, coupons and promotions, and rewards catalogue.
Services are imported inside the commands, so that `loyalty --help` stays quick.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from loyalty.cli.offers import coupons_app, offers_app
from loyalty.cli.rewards import app as rewards_app
from loyalty.i18n import translator

if TYPE_CHECKING:
    from datetime import datetime

    from loyalty.bootstrap import Context
    from loyalty.domain.errors import DomainError
    from loyalty.services.earning_rules.book import RuleVersion
    from loyalty.services.seed import ProgrammeState, TierSpec

_ = translator("cli")

app = typer.Typer(
    help="The loyalty programme: its currency and tier ladder, and the whole programme as YAML.",
    no_args_is_help=True,
)

TIER_FORMAT = "NAME:SPEND:MULTIPLIER[:CODE]"
# Which option of `init` a service error about a field is about.
OPTION_OF_FIELD = {"tiers": "--tier", "currency": "--currency", "name": "--name", "timezone": "--timezone"}


def parse_tier(text: str, position: int, currency: str) -> TierSpec:
    """`银卡:1000:120` → silver, qualifying spend 1,000 (major units of `currency`), ×1.20 points."""
    from loyalty.domain.money import minor_units
    from loyalty.services.seed import TierSpec, tier_code_for

    def bad(message: str) -> typer.BadParameter:
        return typer.BadParameter(f"{text!r}: {message}", param_hint="'--tier'")

    parts = [part.strip() for part in text.replace("：", ":").split(":")]
    if len(parts) not in (3, 4) or not parts[0]:
        raise bad(_("expected {format}, e.g. 银卡:1000:120", format=TIER_FORMAT))
    name, spend_text, multiplier_text = parts[:3]
    try:
        spend = Decimal(spend_text.replace(",", "").replace("_", ""))
    except InvalidOperation:
        raise bad(_("qualifying spend {spend!r} is not an amount", spend=spend_text)) from None
    if not spend.is_finite() or spend < 0:
        raise bad(_("qualifying spend {spend!r} must be 0 or more", spend=spend_text))
    minor = minor_units(spend, currency)
    if minor is None:
        raise bad(
            _(
                "qualifying spend {spend!r} has more decimals than {currency} has",
                spend=spend_text,
                currency=currency,
            )
        )
    multiplier = multiplier_text.removesuffix("%").strip()
    if not multiplier.isdigit():
        raise bad(
            _(
                "multiplier {multiplier!r} must be a whole percentage, e.g. 120 for ×1.2",
                multiplier=multiplier_text,
            )
        )
    code = parts[3] if len(parts) == 4 and parts[3] else tier_code_for(name, position)
    return TierSpec(code=code, name=name, threshold_minor=minor, multiplier_pct=int(multiplier))


def describe(state: ProgrammeState) -> list[str]:
    """The programme in a few lines: chain, currency, and each tier's spend and multiplier."""
    from loyalty.i18n.formats import money

    currency = state.currency or "CNY"
    lines = [
        _(
            "programme {name} of {chain}, in {currency}; {stores} stores, {members} members",
            name=state.name or "-",
            chain=state.merchant_name or "-",
            currency=currency,
            stores=state.stores,
            members=state.members,
        )
    ]
    from loyalty.domain.tier_services import label

    for tier in state.tiers:
        lines.append(
            "  "
            + _(
                "{name} ({code}): qualifying spend {spend}, points ×{multiplier}",
                name=tier.name,
                code=tier.code,
                spend=money(tier.threshold_minor, currency),
                multiplier=str((Decimal(tier.multiplier_pct) / 100).quantize(Decimal("0.01"))),
            )
        )
        if tier.services:
            shown = ", ".join(f"{label(code)} ({code})" for code in tier.services)
            lines.append("    " + _("services: {services}", services=shown))
    return lines


def next_steps(state: ProgrammeState) -> list[str]:
    """What a newcomer runs next on a database in `state` (as printed by `db upgrade` and `init`)."""
    steps: list[tuple[str, str]] = []
    if state.programme_id is None:
        steps.append(("loyalty programme init", _("the programme: currency and tier ladder (see --help)")))
    if state.members == 0:
        steps += [
            (
                "loyalty stores add SH01 上海静安店 --city 上海",
                _("each store, under the code its POS exports use"),
            ),
            ("loyalty import members FILE", _("members, then purchases, returns and opening balances")),
            ("loyalty import purchases FILE", _("CSV, .xlsx or Parquet; see docs/import-guide.md")),
        ]
    steps.append(("loyalty serve", _("the REST API, documented at http://127.0.0.1:8000/docs")))
    width = max(_columns(command) for command, _why in steps)
    return [_("next:")] + [
        f"  {command}{' ' * (width - _columns(command))}  # {why}" for command, why in steps
    ]


def _columns(text: str) -> int:
    """Terminal columns `text` takes: Chinese characters are two wide."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _settings_option(option: str, given: str, configured: str, variable: str) -> None:
    if given != configured:
        raise typer.BadParameter(
            _(
                "{given} is not the configured {configured} ({variable}); the API and imports read that "
                "setting, so set it first: export {variable}={given}",
                given=given,
                configured=configured,
                variable=variable,
            ),
            param_hint=f"'{option}'",
        )


@app.command("init")
def init(
    name: Annotated[
        str | None, typer.Option("--name", help="The chain's name (the merchant its stores belong to).")
    ] = None,
    currency: Annotated[
        str | None,
        typer.Option(help="ISO 4217 currency; must be the configured LOYALTY_CURRENCY (default CNY)."),
    ] = None,
    timezone: Annotated[
        str | None,
        typer.Option(
            help="The chain's time zone, the default of its stores; must be the configured LOYALTY_TIMEZONE."
        ),
    ] = None,
    tier: Annotated[
        list[str] | None,
        typer.Option(
            "--tier",
            metavar=TIER_FORMAT,
            help="A tier, lowest first (repeat): qualifying spend a year in major units, points multiplier "
            "in percent, e.g. --tier 普通:0:100 --tier 银卡:1000:120. Default: the demo's ladder, "
            "普通 0 / 银卡 1,000 / 金卡 3,000 / 钻石 8,000.",
        ),
    ] = None,
) -> None:
    """Create the programme, its tier ladder and the chain's merchant; says what exists when run again."""
    from zoneinfo import ZoneInfo

    from loyalty.cli._core import bad_parameter, context, fail
    from loyalty.domain.errors import Conflict, InvalidInput
    from loyalty.services import seed

    ctx = context()
    settings = ctx.settings
    if currency is not None:
        try:
            currency = seed.validate_currency(currency)
        except InvalidInput as exc:
            raise typer.BadParameter(exc.localized(), param_hint="'--currency'") from exc
        _settings_option("--currency", currency, settings.currency.upper(), "LOYALTY_CURRENCY")
    if timezone is not None:
        try:
            ZoneInfo(timezone)
        except (KeyError, ValueError):
            raise typer.BadParameter(
                _("unknown time zone {zone!r} (IANA, e.g. Asia/Shanghai)", zone=timezone),
                param_hint="'--timezone'",
            ) from None
        _settings_option("--timezone", timezone, settings.timezone, "LOYALTY_TIMEZONE")
    wanted = currency or settings.currency
    specs = [parse_tier(text, position, wanted) for position, text in enumerate(tier)] if tier else None
    try:
        result = seed.init_programme(ctx, chain_name=name, currency=currency, tier_specs=specs)
    except InvalidInput as exc:
        raise bad_parameter(exc, OPTION_OF_FIELD) from exc
    except Conflict as exc:
        fail(
            _(
                "{problem}; `loyalty programme init` never changes an existing programme",
                problem=exc.localized(),
            )
        )
    if result.created:
        parts = {"programme": _("programme"), "tiers": _("tiers"), "merchant": _("merchant")}
        typer.echo(_("created: {parts}", parts=", ".join(parts[p] for p in result.created)))
    else:
        typer.echo(_("the programme exists; nothing changed"))
    for line in describe(result.state) + next_steps(result.state):
        typer.echo(line)


@app.command("show")
def show() -> None:
    """The programme: chain, currency, tier ladder, and how many stores and members it has."""
    from loyalty.cli._core import context, fail
    from loyalty.services import seed

    state = seed.programme_state(context())
    if state.programme_id is None:
        fail(_("no programme yet: run `loyalty programme init`"))
    for line in describe(state):
        typer.echo(line)


# Which option of `set`, `tier-add` and `tier-set` a service error about a field is about.
SET_OPTION_OF_FIELD = {
    "name": "--name",
    "excluded_categories": "--exclude-category",
    "threshold": "--spend",
    "multiplier_pct": "--multiplier",
    "code": "--code",
    "services": "--service",
    **{
        rule: "--" + rule.replace("_", "-")
        for rule in (
            "points_per_unit",
            "points_per_currency_unit",
            "redeem_cap_pct",
            "min_redeem_balance",
            "return_window_days",
            "expiry_days",
            "tier_window_days",
            "downgrade_policy",
            "downgrade_grace_days",
        )
    },
}


@app.command("set")
def set_rules(
    name: Annotated[str | None, typer.Option(help="The programme's name.")] = None,
    points_per_unit: Annotated[
        int | None, typer.Option(help="Points per whole currency unit of eligible spend (before tiers).")
    ] = None,
    exclude_category: Annotated[
        list[str] | None,
        typer.Option(help="A line category that earns no points (repeat; replaces the list)."),
    ] = None,
    no_excluded_categories: Annotated[
        bool, typer.Option("--no-excluded-categories", help="Let every category earn points.")
    ] = False,
    points_per_currency_unit: Annotated[
        int | None, typer.Option(help="Points that pay for one currency unit.")
    ] = None,
    redeem_cap_pct: Annotated[int | None, typer.Option(help="Share of an order (%) points may pay.")] = None,
    min_redeem_balance: Annotated[int | None, typer.Option(help="Points needed to redeem at all.")] = None,
    return_window_days: Annotated[int | None, typer.Option(help="Days earned points stay pending.")] = None,
    expiry_days: Annotated[int | None, typer.Option(help="Days after the sale points expire.")] = None,
    tier_window_days: Annotated[
        int | None, typer.Option(help="Days of spend that qualify for a tier.")
    ] = None,
    downgrade_policy: Annotated[str | None, typer.Option(help="one_step or window.")] = None,
    downgrade_grace_days: Annotated[
        int | None, typer.Option(help="Days below a tier before the downgrade.")
    ] = None,
) -> None:
    """Change the programme's name or rules (audited). Earning and expiry rules apply to points earned
    from now on; tier rules from the next tier evaluation."""
    from loyalty.cli._core import bad_parameter, context, fail
    from loyalty.domain.errors import InvalidInput, NotFound
    from loyalty.services import programme_settings as service

    given = {
        "name": name,
        "points_per_unit": points_per_unit,
        "points_per_currency_unit": points_per_currency_unit,
        "redeem_cap_pct": redeem_cap_pct,
        "min_redeem_balance": min_redeem_balance,
        "return_window_days": return_window_days,
        "expiry_days": expiry_days,
        "tier_window_days": tier_window_days,
        "downgrade_policy": downgrade_policy,
        "downgrade_grace_days": downgrade_grace_days,
    }
    changes: dict[str, object] = {k: v for k, v in given.items() if v is not None}
    if exclude_category or no_excluded_categories:
        changes["excluded_categories"] = list(exclude_category or [])
    if not changes:
        fail(_("nothing to change: give at least one option (see --help)"))
    ctx = context()
    try:
        service.update_programme(ctx, service.ProgrammeChanges.model_validate(changes))
    except InvalidInput as exc:
        raise bad_parameter(exc, SET_OPTION_OF_FIELD) from exc
    except NotFound:
        fail(_("no programme yet: run `loyalty programme init`"))
    _show_rules(ctx)


def _show_rules(ctx: Context) -> None:
    from loyalty.services import programme_settings as service

    rules = service.programme_settings(ctx)
    for key, value in rules.model_dump().items():
        shown = ", ".join(value) if isinstance(value, list) else value
        typer.echo(f"{key}: {shown}")


def _amount(text: str, currency: str) -> int:
    from loyalty.domain.money import minor_units

    try:
        spend = Decimal(text.replace(",", "").replace("_", ""))
    except InvalidOperation:
        raise typer.BadParameter(
            _("qualifying spend {spend!r} is not an amount", spend=text), param_hint="'--spend'"
        ) from None
    minor = minor_units(spend, currency) if spend.is_finite() and spend >= 0 else None
    if minor is None:
        raise typer.BadParameter(
            _("qualifying spend {spend!r} must be 0 or more", spend=text), param_hint="'--spend'"
        )
    return minor


ServiceOption = Annotated[
    list[str] | None,
    typer.Option(
        "--service",
        help="A service the tier gives besides points (vip_lane, free_parking, free_delivery, "
        "priority_service, birthday_gift, …); repeat for more. An unknown one is refused with the list.",
    ),
]


@app.command("tier-add")
def tier_add(
    name: Annotated[str, typer.Argument(help="The tier's name, e.g. 白金.")],
    spend: Annotated[str, typer.Option(help="Qualifying spend in the tier window, in major units.")],
    multiplier: Annotated[int, typer.Option(help="Points multiplier in percent, e.g. 180 for ×1.8.")],
    code: Annotated[str | None, typer.Option(help="Its code (default: made from the name).")] = None,
    services: ServiceOption = None,
) -> None:
    """Add a tier where its spend puts it on the ladder, with its services (audited). Members reach
    it at their next sale or tier evaluation."""
    from loyalty.cli._core import bad_parameter, context, fail
    from loyalty.domain.errors import InvalidInput, NotFound
    from loyalty.services import programme_settings as service
    from loyalty.services import seed

    ctx = context()
    threshold = _amount(spend, ctx.settings.currency)
    new = service.NewTier(
        name=name, threshold_minor=threshold, multiplier_pct=multiplier, code=code, services=services or []
    )
    try:
        service.add_tier(ctx, new)
    except InvalidInput as exc:
        raise bad_parameter(exc, SET_OPTION_OF_FIELD) from exc
    except NotFound:
        fail(_("no programme yet: run `loyalty programme init`"))
    for line in describe(seed.programme_state(ctx)):
        typer.echo(line)


@app.command("tier-set")
def tier_set(
    tier: Annotated[str, typer.Argument(help="The tier's code, e.g. gold.")],
    name: Annotated[str | None, typer.Option(help="A new name.")] = None,
    spend: Annotated[str | None, typer.Option(help="A new qualifying spend, in major units.")] = None,
    multiplier: Annotated[int | None, typer.Option(help="A new multiplier in percent.")] = None,
    services: ServiceOption = None,
    no_services: Annotated[
        bool, typer.Option("--no-services", help="The tier gives no services any more.")
    ] = False,
) -> None:
    """Rename a tier or change its spend, multiplier or services (audited; tiers keep their order;
    --service lists the whole new set). Members' tiers follow at their next evaluation."""
    from loyalty.cli._core import bad_parameter, context, fail
    from loyalty.domain.errors import InvalidInput
    from loyalty.services import programme_settings as service
    from loyalty.services import seed
    from loyalty.services import tiers as tiers_service

    ctx = context()
    found = next((t for t in tiers_service.list_tiers(ctx) if t.code == tier), None)
    if found is None:
        fail(_("no tier with the code {code}", code=tier))
    changes: dict[str, object] = {"name": name, "multiplier_pct": multiplier}
    changes = {k: v for k, v in changes.items() if v is not None}
    if spend is not None:
        changes["threshold_minor"] = _amount(spend, ctx.settings.currency)
    if services and no_services:
        fail(_("give --service or --no-services, not both"))
    if services or no_services:
        changes["services"] = list(services or [])
    if not changes:
        fail(_("nothing to change: give --name, --spend, --multiplier or --service"))
    try:
        service.update_tier(ctx, found.id, service.TierChanges.model_validate(changes))
    except InvalidInput as exc:
        raise bad_parameter(exc, SET_OPTION_OF_FIELD) from exc
    for line in describe(seed.programme_state(ctx)):
        typer.echo(line)


# --- earning rules ------------------------------------------------------------------------------

rules_app = typer.Typer(
    help="Earning rules: list, define, retire, export and import as YAML, simulate a draft, presets.",
    no_args_is_help=True,
)
app.add_typer(rules_app, name="rules")
app.add_typer(rewards_app, name="rewards")
app.add_typer(offers_app, name="offers")
app.add_typer(coupons_app, name="coupons")

EffectiveFrom = Annotated[
    str | None,
    typer.Option(
        help="When the rules start, e.g. 2026-12-08T00:00 (the chain's time zone unless one is given); "
        "now by default, never in the past."
    ),
]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Validate and say what would change.")]


def _effective_from(text: str | None, zone: str) -> datetime | None:
    """--effective-from as an aware datetime (a time without a zone: the chain's)."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            _("{value!r} is not a time such as 2026-12-08T00:00", value=text), param_hint="'--effective-from'"
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=ZoneInfo(zone))


def _rules_failed(exc: DomainError) -> NoReturn:
    """A refused definition: the problem, then each bad field on its own line; exit status 1."""
    typer.echo(exc.localized(), err=True)
    for entry in exc.localized_errors() or []:
        typer.echo(f"  {entry['field']}: {entry['message']}", err=True)
    raise typer.Exit(1)


def _read_file(path: str) -> str:
    from pathlib import Path

    from loyalty.cli._core import fail

    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        fail(_("cannot read {path}: {reason}", path=path, reason=exc.strerror or str(exc)))
    except UnicodeDecodeError as exc:
        fail(_("cannot read {path}: {reason}", path=path, reason=str(exc)))


def _import_file(
    importer: Callable[..., Any], file: str, effective_from: str | None, retire_missing: bool, dry_run: bool
) -> Any:
    """FILE imported by `importer` (the rules' or the whole programme's); a refusal ends the command
    with every bad field named."""
    from loyalty.cli._core import context
    from loyalty.domain.errors import DomainError

    ctx = context()
    try:
        return importer(
            ctx,
            _read_file(file),
            effective_from=_effective_from(effective_from, ctx.settings.timezone),
            retire_missing=retire_missing,
            dry_run=dry_run,
        )
    except DomainError as exc:
        _rules_failed(exc)


def _version_line(v: RuleVersion) -> str:
    until = v.effective_to.isoformat() if v.effective_to is not None else "…"
    return (
        f"{v.spec.code:<24} v{v.version:<3} {v.spec.kind:<15} {v.spec.priority:>5}  "
        f"{v.effective_from.isoformat()} → {until}  {v.spec.name}"
    )


@rules_app.command("list")
def rules_list(
    history: Annotated[bool, typer.Option(help="Every version, past and scheduled.")] = False,
) -> None:
    """The earning rules in force, in the order they apply: code, version, kind, priority, period, name."""
    from loyalty.cli._core import context
    from loyalty.domain.errors import DomainError
    from loyalty.services.earning_rules import book

    try:
        versions = book.list_rules(context(), history=history)
    except DomainError as exc:
        _rules_failed(exc)
    if not versions:
        typer.echo(_("no earning rule in force: the base rate alone earns points"))
    for v in versions:
        typer.echo(_version_line(v))


@rules_app.command("define")
def rules_define(
    file: Annotated[str, typer.Argument(help="A YAML file with one rule, a list of rules or a programme.")],
    effective_from: EffectiveFrom = None,
) -> None:
    """Define or change the rules of FILE (audited; all or nothing). Rules in force that FILE leaves out
    are kept: `import --retire-missing` replaces a whole programme."""
    from loyalty.cli._core import context
    from loyalty.domain.errors import DomainError
    from loyalty.services.earning_rules import book, yaml_io

    ctx = context()
    try:
        checked = yaml_io.validate(ctx, yaml_io.load(_read_file(file)))
        written = book.define_rules(
            ctx,
            checked.raw,
            programme=checked.programme,
            effective_from=_effective_from(effective_from, ctx.settings.timezone),
        )
    except DomainError as exc:
        _rules_failed(exc)
    if not written:
        typer.echo(_("nothing changed: every rule is as in force"))
    for v in written:
        typer.echo(_version_line(v))


@rules_app.command("retire")
def rules_retire(code: Annotated[str, typer.Argument(help="The rule's code, e.g. member-day.")]) -> None:
    """End rule CODE now (audited): sales from now on earn without it, earlier ones keep their points."""
    from loyalty.cli._core import context
    from loyalty.domain.errors import DomainError
    from loyalty.services.earning_rules import book

    try:
        retired = book.retire_rule(context(), code)
    except DomainError as exc:
        _rules_failed(exc)
    typer.echo(_version_line(retired))


@rules_app.command("export")
def rules_export(
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="Write to this file (default: print).")
    ] = None,
) -> None:
    """The rules in force as a YAML programme (header: programme, currency, exported_at) to keep in git."""
    from pathlib import Path

    from loyalty.cli._core import context
    from loyalty.services.earning_rules import yaml_io

    text = yaml_io.export_yaml(context())
    if output is None:
        typer.echo(text, nl=False)
        return
    Path(output).write_text(text, encoding="utf-8")
    typer.echo(_("written to {path}", path=output), err=True)


@rules_app.command("import")
def rules_import(
    file: Annotated[str, typer.Argument(help="The YAML programme, as `export` writes it.")],
    dry_run: DryRun = False,
    effective_from: EffectiveFrom = None,
    retire_missing: Annotated[
        bool, typer.Option("--retire-missing", help="Retire the rules in force that FILE leaves out.")
    ] = False,
) -> None:
    """Import a programme's rules from YAML: every rule checked first (errors name rules[i].field), then
    the new and changed ones defined, all or nothing (audited)."""
    from loyalty.services.earning_rules import yaml_io

    result = _import_file(yaml_io.import_rules, file, effective_from, retire_missing, dry_run)
    actions = {
        "new": _("new"),
        "changed": _("changed"),
        "unchanged": _("unchanged"),
        "retired": _("retired"),
        "kept": _("kept (not in the file; --retire-missing retires it)"),
    }
    for change in result.changes:
        version = f"v{change.version}" if change.version is not None else ""
        typer.echo(f"{change.code:<24} {version:<5} {actions[change.action]}")
    if result.dry_run:
        typer.echo(_("dry run: {file} is valid; nothing was written", file=file))


@rules_app.command("simulate")
def rules_simulate(
    file: Annotated[str, typer.Argument(help="The draft rules (YAML), as `define` and `import` take them.")],
    from_: Annotated[str, typer.Option("--from", help="The first business day replayed, e.g. 2026-11-01.")],
    to: Annotated[str, typer.Option("--to", help="The last business day replayed (at most 92 days).")],
    store: Annotated[str | None, typer.Option(help="Only this store's sales (its code).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The whole result as JSON.")] = False,
) -> None:
    """Replay the members' sales of past days under the draft rules of FILE: what the draft would have
    given beside what they earned, per rule and per day (nothing is written)."""
    import json

    from loyalty.cli._core import context, day_option, fail
    from loyalty.domain.errors import DomainError
    from loyalty.services import merchants
    from loyalty.services.earning_rules import simulation, yaml_io

    start, end = day_option(from_, "--from"), day_option(to, "--to")
    assert start is not None
    assert end is not None
    ctx = context()
    store_id = None
    if store is not None:
        found = [s for s in merchants.list_stores(ctx) if s.code == store]
        if not found:
            fail(_("no store has the code {code}", code=store))
        store_id = found[0].id
    try:
        sim = simulation.simulate(ctx, yaml_io.load(_read_file(file)), start, end, store_id=store_id)
    except DomainError as exc:
        _rules_failed(exc)
    if as_json:
        from dataclasses import asdict

        typer.echo(json.dumps(asdict(sim), default=str, ensure_ascii=False, indent=2))
        return
    change = sim.points_draft - sim.points_actual
    typer.echo(
        _(
            "{sales} sales from {start} to {end}: {actual} points earned, {draft} by the draft ({change:+})",
            sales=sim.sales,
            start=sim.start,
            end=sim.end,
            actual=sim.points_actual,
            draft=sim.points_draft,
            change=change,
        )
    )
    for r in sim.rules:
        typer.echo(
            f"  {r.code:<24} {r.kind:<15} "
            + _("{points} points on {sales} sales", points=r.points, sales=r.sales)
        )
    for d in sim.days:
        typer.echo(f"  {d.day}  {d.sales:>6}  {d.points_actual:>9} → {d.points_draft:>9}")


@rules_app.command("presets")
def rules_presets(
    name: Annotated[
        str | None, typer.Argument(help="A preset to print as YAML, to start a file from.")
    ] = None,
) -> None:
    """The presets (points programme, member day, birthday, minimum-spend bonus, visit streak); with
    NAME, its rules as YAML to edit and import."""
    from loyalty.cli._core import fail
    from loyalty.domain.errors import NotFound
    from loyalty.i18n import configured_locale
    from loyalty.services.earning_rules import presets, yaml_io

    if name is None:
        for p in presets.PRESETS:
            typer.echo(f"{p.code:<20} {presets.title(p, configured_locale())}")
            typer.echo(f"{'':<20} {presets.description(p, configured_locale())}")
        return
    try:
        rules = presets.preset_rules(name, configured_locale())
    except NotFound:
        fail(_("no preset {name}: see `loyalty programme rules presets`", name=name))
    typer.echo(yaml_io.dump({"rules": rules}), nl=False)


# --- the whole programme as one document -----------------------------------------------------------


@app.command("export")
def programme_export(
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="Write to this file (default: print).")
    ] = None,
) -> None:
    """The whole programme as one YAML document to keep in git: header, earning rules in force, and the
    offers running or scheduled, with their limits."""
    from pathlib import Path

    from loyalty.cli._core import context
    from loyalty.domain.errors import DomainError
    from loyalty.services import programme_document

    try:
        text = programme_document.export_yaml(context())
    except DomainError as exc:
        _rules_failed(exc)
    if output is None:
        typer.echo(text, nl=False)
        return
    Path(output).write_text(text, encoding="utf-8")
    typer.echo(_("written to {path}", path=output), err=True)


def _document_lines(result: object) -> list[str]:
    """Each rule's and offer's fate, one line each."""
    from loyalty.services.programme_document import DocumentResult

    assert isinstance(result, DocumentResult)
    actions = {
        "new": _("new"),
        "changed": _("changed"),
        "unchanged": _("unchanged"),
        "retired": _("retired"),
        "ended": _("ended"),
        "kept": _("kept (not in the file; --retire-missing retires it)"),
    }
    rule_word, offer_word = _("rule"), _("offer")
    lines = []
    for change in result.rules or []:
        version = f"v{change.version}" if change.version is not None else ""
        lines.append(f"{rule_word:<6} {change.code:<24} {version:<5} {actions[change.action]}")
    for offer in result.offers or []:
        lines.append(f"{offer_word:<6} {offer.code:<24} {'':<5} {actions[offer.action]}")
    return lines


@app.command("import")
def programme_import(
    file: Annotated[str, typer.Argument(help="The YAML programme, as `loyalty programme export` writes it.")],
    dry_run: DryRun = False,
    effective_from: EffectiveFrom = None,
    retire_missing: Annotated[
        bool,
        typer.Option("--retire-missing", help="Retire the rules and end the offers that FILE leaves out."),
    ] = False,
) -> None:
    """Import a whole programme (earning rules and offers) from YAML: everything checked first (errors
    name rules[i].field and offers[i].field), then written in one transaction, all or nothing (audited).
    An offer that has issued a coupon or discounted a sale is never changed in place."""
    from loyalty.services import programme_document

    result = _import_file(programme_document.import_document, file, effective_from, retire_missing, dry_run)
    for line in _document_lines(result):
        typer.echo(line)
    if result.dry_run:
        typer.echo(_("dry run: {file} is valid; nothing was written", file=file))
    elif result.unchanged:
        typer.echo(_("unchanged: the programme is as {file} says; nothing was written", file=file))


@app.command("validate")
def programme_validate(
    file: Annotated[str, typer.Argument(help="The YAML programme to check.")],
) -> None:
    """Check a whole programme document without writing anything: every bad field is named; exit
    status 1 when there is one."""
    from loyalty.cli._core import context
    from loyalty.domain.errors import DomainError
    from loyalty.services import programme_document
    from loyalty.services.earning_rules import yaml_io

    try:
        checked = programme_document.validate(context(), yaml_io.load(_read_file(file)))
    except DomainError as exc:
        _rules_failed(exc)
    typer.echo(
        _(
            "{file} is valid: {rules} rules, {offers} offers",
            file=file,
            rules=len(checked.rules.specs) if checked.rules is not None else 0,
            offers=len(checked.offers or []),
        )
    )
