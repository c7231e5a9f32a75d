"""`loyalty programme offers …` (define from YAML, list, show, end, issue codes, list them) and
`loyalty programme coupons void`: a marketer's coupons and 满减 from the command line.

The commands call `services.offers`, as the API does (audited as the system, the CLI's actor). A
refusal prints the problem and each bad field on its own line (the command's option where the field
is one), in LOYALTY_LOCALE, and exits 1, as `loyalty programme rules` does. Services are imported
inside the commands, so that `loyalty --help` stays quick.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from loyalty.i18n import translator

if TYPE_CHECKING:
    from datetime import datetime

    from loyalty.domain.errors import DomainError
    from loyalty.services.offers.manage import CouponState, OfferState

_ = translator("cli")

offers_app = typer.Typer(
    help="Offers: coupons, 满减 and promotions: define, list, show, end, issue codes.", no_args_is_help=True
)
coupons_app = typer.Typer(help="Coupons: void a code.", no_args_is_help=True)

#: the command's option for a field the service names
OPTION_OF_FIELD = {
    "per_member": "--per-member",
    "max_uses": "--max-uses",
    "budget": "--budget",
    "activation_days": "--activation-days",
    "validity_days": "--validity-days",
    "valid_from": "--valid-from",
    "valid_to": "--valid-to",
    "member_ids": "--members",
    "count": "--count",
}
PAGE = 500

When = Annotated[
    str | None,
    typer.Option(help="A time such as 2026-12-08T00:00 (the chain's time zone unless one is given)."),
]


def _failed(exc: DomainError) -> NoReturn:
    """A refusal: the problem, then each bad field (or its option) on its own line; exit status 1."""
    typer.echo(exc.localized(), err=True)
    for entry in exc.localized_errors() or []:
        field = OPTION_OF_FIELD.get(entry["field"], entry["field"])
        typer.echo(f"  {field}: {entry['message']}" if field else f"  {entry['message']}", err=True)
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


def _when(text: str | None, option: str, zone: str) -> datetime | None:
    """An option's time as an aware datetime (a time without a zone: the chain's)."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            _("{value!r} is not a time such as 2026-12-08T00:00", value=text), param_hint=f"'{option}'"
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=ZoneInfo(zone))


def _budget(text: str | None, currency: str) -> int | None:
    from loyalty.domain.money import minor_units

    if text is None:
        return None
    try:
        amount = Decimal(text.replace(",", "").replace("_", ""))
    except InvalidOperation:
        amount = Decimal(-1)
    minor = minor_units(amount, currency) if amount.is_finite() and amount > 0 else None
    if minor is None:
        raise typer.BadParameter(
            _("{value!r} is not an amount above zero, e.g. 5000 or 99.50", value=text),
            param_hint="'--budget'",
        )
    return minor


def _members(text: str | None) -> list[int] | None:
    """`--members 1,2,3` as member ids."""
    if text is None:
        return None
    parts = [p.strip() for p in text.replace("，", ",").split(",") if p.strip()]
    if not parts or not all(p.isdigit() and len(p) <= 10 for p in parts):
        raise typer.BadParameter(
            _("{value!r} is not a list of member ids such as 1,2,3", value=text), param_hint="'--members'"
        )
    return [int(p) for p in parts]


def _time(value: datetime | None, zone: str) -> str:
    """A stored time in the chain's zone, to the minute ("…" for none)."""
    from datetime import UTC
    from zoneinfo import ZoneInfo

    if value is None:
        return "…"
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(ZoneInfo(zone)).isoformat(timespec="minutes")


def _status(status: str) -> str:
    words = {
        "scheduled": _("scheduled"),
        "running": _("running"),
        "ended": _("ended"),
        "usable": _("usable"),
        "waiting": _("waiting"),
        "used": _("used"),
        "expired": _("expired"),
        "voided": _("voided"),
    }
    return words.get(status, status)


def _figures(state: OfferState, currency: str) -> str:
    from loyalty.i18n.formats import money

    o = state.offer
    left = state.budget_left_minor
    uses = f"{o.uses}/{o.limits.max_uses}" if o.limits.max_uses is not None else str(o.uses)
    return _(
        "uses {uses}, discounted {discounted}, budget left {left}, {issued} coupons",
        uses=uses,
        discounted=money(o.discounted_minor, currency),
        left="-" if left is None else money(left, currency),
        issued=state.issued,
    )


def _offer_line(state: OfferState, currency: str) -> str:
    o = state.offer
    status = _status(state.status)
    return f"{o.code:<24} {o.spec.kind:<12} {status:<9} {_figures(state, currency)}  {o.spec.name}"


def _offer_lines(state: OfferState, currency: str, zone: str) -> list[str]:
    """One offer in a few lines, then its definition as YAML."""
    import yaml

    from loyalty.i18n.formats import money
    from loyalty.services.offers.manage import offer_definition

    o, limits = state.offer, state.offer.limits

    def shown(value: int | None) -> str:
        return "-" if value is None else str(value)

    lines = [
        f"{o.code} — {o.spec.name}",
        "  " + _("kind {kind}, {status}", kind=o.spec.kind, status=_status(state.status)),
        "  " + _("from {start} until {end}", start=_time(o.valid_from, zone), end=_time(o.valid_to, zone)),
        "  "
        + _(
            "limits: {per_member} per member, {max_uses} uses, budget {budget}",
            per_member=shown(limits.per_member),
            max_uses=shown(limits.max_uses),
            budget="-" if limits.budget_minor is None else money(limits.budget_minor, currency),
        ),
        "  "
        + (
            _(
                "coupons usable {activation} days after issue, until the offer ends",
                activation=limits.activation_days,
            )
            if limits.validity_days is None
            else _(
                "coupons usable {activation} days after issue, for {validity} days",
                activation=limits.activation_days,
                validity=limits.validity_days,
            )
        ),
        "  " + _figures(state, currency),
    ]
    definition = yaml.safe_dump(
        offer_definition(o.spec), allow_unicode=True, sort_keys=False, default_flow_style=None
    )
    return lines + ["  " + line for line in definition.rstrip("\n").splitlines()]


@offers_app.command("define")
def offers_define(
    file: Annotated[str, typer.Argument(help="A YAML file with one offer (code, name, kind, …).")],
    per_member: Annotated[int | None, typer.Option(help="Uses per member (default: no limit).")] = None,
    max_uses: Annotated[int | None, typer.Option(help="Uses in all (default: no limit).")] = None,
    budget: Annotated[
        str | None, typer.Option(help="The discount it may give in all, in major units, e.g. 5000.")
    ] = None,
    activation_days: Annotated[
        int, typer.Option(help="Days after issue before a coupon is usable (next-order coupons).")
    ] = 0,
    validity_days: Annotated[
        int | None, typer.Option(help="Days after issue a coupon expires (default: at the offer's end).")
    ] = None,
    valid_from: When = None,
    valid_to: When = None,
) -> None:
    """Define the offer of FILE with its limits (audited); one that cannot work is refused, naming the
    field and why."""
    from loyalty.cli._core import context
    from loyalty.domain.errors import DomainError
    from loyalty.services.earning_rules import yaml_io
    from loyalty.services.offers import book, manage

    ctx = context()
    settings = ctx.settings
    limits = book.OfferLimits(
        per_member=per_member,
        max_uses=max_uses,
        budget_minor=_budget(budget, settings.currency),
        activation_days=activation_days,
        validity_days=validity_days,
    )
    start = _when(valid_from, "--valid-from", settings.timezone)
    end = _when(valid_to, "--valid-to", settings.timezone)
    try:
        raw = yaml_io.load(_read_file(file))
        made = book.define_offer(ctx, raw, limits=limits, valid_from=start, valid_to=end)
    except DomainError as exc:
        _failed(exc)
    state = manage.OfferState(made, 0, manage.offer_status(made, ctx.now()))
    for line in _offer_lines(state, settings.currency, settings.timezone):
        typer.echo(line)


@offers_app.command("list")
def offers_list(
    current: Annotated[bool, typer.Option("--current", help="Only the offers running now.")] = False,
) -> None:
    """The offers by code: kind, status, uses, discount given, budget left, coupons issued, name."""
    from loyalty.cli._core import context
    from loyalty.domain.errors import DomainError
    from loyalty.services.offers import manage

    ctx = context()
    try:
        found = manage.list_offers(ctx, current=current)
    except DomainError as exc:
        _failed(exc)
    if not found:
        typer.echo(_("no offer yet: define one with `loyalty programme offers define FILE`"))
    for state in found:
        typer.echo(_offer_line(state, ctx.settings.currency))


@offers_app.command("show")
def offers_show(code: Annotated[str, typer.Argument(help="The offer's code.")]) -> None:
    """One offer: its period, limits, what it has given, and its definition as YAML."""
    from loyalty.cli._core import context
    from loyalty.domain.errors import DomainError
    from loyalty.services.offers import manage

    ctx = context()
    try:
        state = manage.get_offer(ctx, code)
    except DomainError as exc:
        _failed(exc)
    for line in _offer_lines(state, ctx.settings.currency, ctx.settings.timezone):
        typer.echo(line)


@offers_app.command("end")
def offers_end(code: Annotated[str, typer.Argument(help="The offer's code.")]) -> None:
    """End offer CODE now (audited): its coupons stop working and leave the wallets, a promotion stops
    applying; sales it discounted keep their discount."""
    from loyalty.cli._core import context
    from loyalty.domain.errors import DomainError
    from loyalty.services.offers import manage

    ctx = context()
    try:
        state = manage.end_offer(ctx, code)
    except DomainError as exc:
        _failed(exc)
    typer.echo(
        _("offer {code} ended at {at}", code=code, at=_time(state.offer.valid_to, ctx.settings.timezone))
    )


@offers_app.command("issue")
def offers_issue(
    code: Annotated[str, typer.Argument(help="The offer's code.")],
    members: Annotated[
        str | None, typer.Option(help="Member ids, e.g. 1,2,3: one code to each member's wallet.")
    ] = None,
    count: Annotated[int | None, typer.Option(help="How many shared codes to issue.")] = None,
    max_uses: Annotated[int, typer.Option(help="Uses of each shared code.")] = 1,
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="Write the codes to this CSV file (default: print).")
    ] = None,
) -> None:
    """Issue codes of offer CODE (audited): one to each of --members' wallets, or --count shared codes
    of --max-uses uses each. Prints the codes (with the member each went to), or writes them as CSV."""
    import csv
    from pathlib import Path

    from loyalty.cli._core import context
    from loyalty.domain.errors import DomainError
    from loyalty.services.offers import coupons

    ctx = context()
    member_ids = _members(members)
    try:
        issued = coupons.issue_coupons(ctx, code, member_ids=member_ids, count=count, max_uses=max_uses)
    except DomainError as exc:
        _failed(exc)
    owners: list[int | None] = list(member_ids) if member_ids is not None else [None] * len(issued.codes)
    zone = ctx.settings.timezone
    typer.echo(
        _(
            "{count} codes of {offer}: usable from {start} until {end}",
            count=len(issued.codes),
            offer=code,
            start=_time(issued.usable_from, zone),
            end=_time(issued.expires_at, zone),
        ),
        err=True,
    )
    if output is None:
        for c, owner in zip(issued.codes, owners, strict=True):
            typer.echo(c if owner is None else f"{c}  {owner}")
        return
    with Path(output).open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["code", "member_id"])
        writer.writerows(
            [c, "" if owner is None else owner] for c, owner in zip(issued.codes, owners, strict=True)
        )
    typer.echo(_("written to {path}", path=output), err=True)


def _coupon_line(c: CouponState, zone: str) -> str:
    owner = "-" if c.member_id is None else str(c.member_id)
    return (
        f"{c.code}  {_status(c.status):<8} {c.uses:>4}/{c.max_uses:<6} {owner:>10}  "
        f"{_time(c.usable_from, zone)} → {_time(c.expires_at, zone)}"
    )


@offers_app.command("coupons")
def offers_coupons(code: Annotated[str, typer.Argument(help="The offer's code.")]) -> None:
    """The coupons of offer CODE, newest first: code, status, uses, member (- for a shared code),
    from when and until when each is usable."""
    from loyalty.cli._core import context
    from loyalty.domain.errors import DomainError
    from loyalty.services.offers import manage

    ctx = context()
    zone = ctx.settings.timezone
    cursor: str | None = None
    shown = 0
    while True:
        try:
            page = manage.offer_coupons(ctx, code, cursor=cursor, limit=PAGE)
        except DomainError as exc:
            _failed(exc)
        for c in page.items:
            typer.echo(_coupon_line(c, zone))
        shown += len(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    if not shown:
        typer.echo(_("no coupon issued yet: `loyalty programme offers issue {code}`", code=code))


@coupons_app.command("void")
def coupons_void(code: Annotated[str, typer.Argument(help="The code as printed or typed.")]) -> None:
    """Void a coupon (audited): it cannot be used any more."""
    from loyalty.cli._core import context
    from loyalty.domain.errors import DomainError
    from loyalty.services.offers import manage

    ctx = context()
    try:
        voided = manage.void_coupon(ctx, code)
    except DomainError as exc:
        _failed(exc)
    typer.echo(_("coupon {code} voided", code=voided.code))


@offers_app.command("presets")
def offers_presets(
    name: Annotated[str | None, typer.Argument(help="A preset to print as YAML (or define).")] = None,
    code: Annotated[str | None, typer.Option(help="The offer's code (default: the preset's).")] = None,
    offer_name: Annotated[
        str | None, typer.Option("--name", help="The offer's name (default: made from the amounts).")
    ] = None,
    amount: Annotated[str | None, typer.Option(help="coupon-campaign: the amount off, e.g. 20.")] = None,
    over: Annotated[
        str | None, typer.Option(help="coupon-campaign, gift-with-purchase: the minimum spend, e.g. 100.")
    ] = None,
    days: Annotated[str | None, typer.Option(help="coupon-campaign: days a coupon is usable.")] = None,
    per_member: Annotated[str | None, typer.Option(help="coupon-campaign: uses per member.")] = None,
    steps: Annotated[str | None, typer.Option(help="ladder: OVER:OFF steps, e.g. 100:20,300:80.")] = None,
    sku: Annotated[str | None, typer.Option(help="gift-with-purchase: the gift's SKU.")] = None,
    tier: Annotated[str | None, typer.Option(help="tier-discount: the tier's code, e.g. gold.")] = None,
    percent: Annotated[str | None, typer.Option(help="tier-discount: percent off, e.g. 5 for 95折.")] = None,
    define: Annotated[
        bool, typer.Option("--define", help="Define the offer now (audited) instead of printing it.")
    ] = False,
) -> None:
    """The offer presets (coupon campaign, 满减 ladder, gift with purchase, tier discount); with NAME,
    its offer as a programme document to edit and import, or defined at once with --define."""
    from loyalty.cli._core import context, fail
    from loyalty.domain.errors import DomainError, NotFound
    from loyalty.i18n import configured_locale
    from loyalty.services import programme_document
    from loyalty.services.offers import manage, presets

    locale = configured_locale()
    if name is None:
        for p in presets.PRESETS:
            typer.echo(f"{p.code:<20} {presets.title(p, locale)}")
            typer.echo(f"{'':<20} {presets.description(p, locale)}")
            shown = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in p.params)
            typer.echo(f"{'':<20} {shown}")
        return
    values = {
        "amount": amount,
        "over": over,
        "days": days,
        "per_member": per_member,
        "steps": steps,
        "sku": sku,
        "tier": tier,
        "percent": percent,
    }
    try:
        entry = presets.preset_offer(name, offer_code=code, name=offer_name, values=values, locale=locale)
    except NotFound:
        fail(_("no preset {name}: see `loyalty programme offers presets`", name=name))
    except DomainError as exc:
        _failed(exc)
    if not define:
        typer.echo(programme_document.dump({"offers": [entry]}), nl=False)
        return
    ctx = context()
    try:
        planned = programme_document.import_document(ctx, {"offers": [entry]}, dry_run=True)
        if any(c.code == entry["code"] and c.action != "new" for c in planned.offers or []):
            fail(_("an offer {code} exists already: give the preset another --code", code=entry["code"]))
        programme_document.import_document(ctx, {"offers": [entry]})
        state = manage.get_offer(ctx, entry["code"])
    except DomainError as exc:
        _failed(exc)
    for line in _offer_lines(state, ctx.settings.currency, ctx.settings.timezone):
        typer.echo(line)
