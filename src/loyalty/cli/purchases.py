"""`loyalty purchases …`: claim an anonymous sale for a member with its receipt, list the chain's sales."""

from __future__ import annotations

from typing import Annotated, NoReturn

import typer

from loyalty.cli._core import context, run
from loyalty.domain.money import minor_units, parse_amount
from loyalty.i18n import translator

_ = translator("cli")

app = typer.Typer(help="Purchases.", no_args_is_help=True)

_MEMBER_KEYS = ("id", "phone", "card", "code")


@app.command("claim")
def claim(
    store: Annotated[str, typer.Argument(help="The store on the receipt: its code or id.")],
    order: Annotated[str, typer.Argument(help="The order id on the receipt.")],
    member: Annotated[
        str, typer.Argument(help="The member: an id, or a phone, card number or code with --by.")
    ],
    by: Annotated[str, typer.Option(help="What MEMBER is: id, phone, card or code.")] = "id",
    total: Annotated[
        str | None, typer.Option(help="The receipt's total (such as 59.90), checked against the sale.")
    ] = None,
    operator: Annotated[str, typer.Option(help="Who claims it, for the audit log.")] = "cli",
) -> None:
    """Attach MEMBER to the anonymous sale ORDER of STORE, within the claim window, and credit the points
    it earns (LOYALTY_CLAIM_WINDOW_DAYS, default 30 days after the sale)."""
    if by not in _MEMBER_KEYS:
        raise typer.BadParameter(
            _("{value} is not one of {choices}", value=by, choices=", ".join(_MEMBER_KEYS)), param_hint="--by"
        )
    if by == "id" and not member.isdigit():
        raise typer.BadParameter(_("{value} is not a member id; use --by", value=member), param_hint="MEMBER")
    from loyalty.domain.actors import Actor
    from loyalty.services.purchase_claims import ClaimIn, claim_purchase

    ctx = context()
    store_id = _store_id(ctx, store)
    keys = {"id": "member_id", "phone": "phone", "card": "card_no", "code": "member_code"}
    receipt = ClaimIn(
        store_id=store_id,
        order_id=order,
        total_minor=_minor(total, ctx.settings.currency),
        **{keys[by]: int(member) if by == "id" else member},
    )
    actor = Actor(kind="staff", id=operator, role="admin")
    run(lambda: claim_purchase(ctx, receipt, actor=actor))


@app.command("list")
def list_(
    store: Annotated[str | None, typer.Option(help="Only this store's sales (its code or id).")] = None,
    channel: Annotated[
        str | None, typer.Option(help="Only sales in this channel: store, online, mini_program or delivery.")
    ] = None,
    anonymous: Annotated[
        bool | None, typer.Option("--anonymous/--members", help="Only anonymous sales, or only members'.")
    ] = None,
    cursor: Annotated[str | None, typer.Option(help="next_cursor of the previous page.")] = None,
    limit: Annotated[int, typer.Option(help="Sales per page (at most 200).")] = 50,
) -> None:
    """The chain's sales, newest posted first, anonymous ones included."""
    from loyalty.domain.channels import parse_channel
    from loyalty.services import purchases

    ctx = context()
    store_ids = None if store is None else [_store_id(ctx, store)]
    code = (
        None if channel is None else parse_channel(channel) or channel
    )  # an unknown one: the service says so
    run(
        lambda: purchases.list_purchases(
            ctx, store_ids=store_ids, channel=code, anonymous=anonymous, cursor=cursor, limit=limit
        )
    )


def _store_id(ctx: object, store: str) -> int:
    """The id of the store a code (or an id) names."""
    from loyalty.services import merchants

    stores = merchants.list_stores(ctx)  # type: ignore[arg-type]
    for s in stores:
        if s.code == store:
            return s.id
    if store.isdigit() and any(s.id == int(store) for s in stores):
        return int(store)
    raise typer.BadParameter(_("no store with code or id {store}", store=store), param_hint="STORE")


def _minor(text: str | None, currency: str) -> int | None:
    """A receipt total in minor units (no float on the way); a malformed one exits naming --total."""
    if text is None:
        return None
    amount = parse_amount(text)
    minor = None if amount is None else minor_units(amount, currency)
    if minor is None or minor < 0:
        raise typer.BadParameter(
            _("{value} is not an amount such as 59.90 {currency}", value=text, currency=currency),
            param_hint="--total",
        )
    return minor


@app.command("explain")
def explain(
    purchase_id: Annotated[int, typer.Argument(help="The purchase's id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the explanation as JSON.")] = False,
) -> None:
    """Why a sale earned its points: each line's base points and what each earning rule added."""
    from dataclasses import asdict

    from loyalty.domain.errors import DomainError
    from loyalty.i18n.formats import money
    from loyalty.services.earning_rules.quote import explain as explain_sale

    ctx = context()
    if as_json:
        run(lambda: asdict(explain_sale(ctx, purchase_id)))
        return
    try:
        x = explain_sale(ctx, purchase_id)
    except DomainError as exc:
        failed: DomainError = exc
        run(lambda: _raise(failed))  # the error printed as every command prints it
        return
    typer.echo(
        _(
            "purchase {id} (order {order}): {points} points earned, {reversed} taken back by returns",
            id=x.purchase_id,
            order=x.order_id,
            points=x.points_earned,
            reversed=x.points_reversed,
        )
    )
    typer.echo("  " + _("base rule: {rule}", rule=x.base_rule))
    for ln in x.lines:
        parts = [_("base {points}", points=ln.base_points)]
        parts += [f"{e.code} v{e.version} +{e.points} ({e.name})" for e in ln.entries]
        typer.echo(
            "  "
            + _(
                "line {n} {sku} {amount}: {points} points = {parts}",
                n=ln.line_no,
                sku=ln.sku,
                amount=money(ln.amount_minor, x.currency),
                points=ln.points,
                parts=" + ".join(parts),
            )
        )


def _raise(exc: BaseException) -> NoReturn:
    raise exc
