"""`loyalty stores …`: add, list and change the chain's stores (and rename its merchants).

Imports find a store by the code its POS exports use, so stores are added before their files are
imported. Services are imported inside the commands, so that `loyalty --help` stays quick.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from loyalty.i18n import translator

if TYPE_CHECKING:
    from loyalty.bootstrap import Context

_ = translator("cli")

app = typer.Typer(
    help="Stores: their codes (as POS exports write them) and time zones.", no_args_is_help=True
)

OPTION_OF_FIELD = {
    "code": "CODE",
    "name": "NAME",
    "city": "--city",
    "timezone": "--timezone",
    "region": "--region",
}


@app.command("add")
def add(
    code: Annotated[str, typer.Argument(help="The store's code as its POS exports write it, e.g. SH01.")],
    name: Annotated[str, typer.Argument(help="The store's name, e.g. 上海静安店.")],
    city: Annotated[str | None, typer.Option(help="City, e.g. 上海.")] = None,
    timezone: Annotated[
        str | None,
        typer.Option(help="IANA time zone its business dates are counted in (default: LOYALTY_TIMEZONE)."),
    ] = None,
    merchant: Annotated[
        str | None, typer.Option(help="Merchant code, when the programme has several (default: the first).")
    ] = None,
    region: Annotated[
        str | None, typer.Option(help="The region the KPIs and targets group it in, e.g. East China.")
    ] = None,
) -> None:
    """Add a store to the chain (after `loyalty programme init`)."""
    from loyalty.cli._core import bad_parameter, context, fail
    from loyalty.domain.errors import Conflict, InvalidInput, NotFound
    from loyalty.services.merchants import add_store

    ctx = context()
    try:
        store = add_store(
            ctx, code=code, name=name, city=city, timezone=timezone, merchant_code=merchant, region=region
        )
    except InvalidInput as exc:
        raise bad_parameter(exc, OPTION_OF_FIELD) from exc
    except NotFound as exc:
        if merchant is None:
            fail(_("no programme yet: run `loyalty programme init` first"))
        fail(exc.localized())
    except Conflict as exc:
        fail(exc.localized())
    typer.echo(
        _(
            "added store {code} {name} (id {id}, {city}, {timezone})",
            code=store.code,
            name=store.name,
            id=store.id,
            city=store.city or "-",
            timezone=store.timezone,
        )
    )


@app.command("list")
def list_stores(
    as_json: Annotated[bool, typer.Option("--json", help="Print the stores as JSON.")] = False,
) -> None:
    """The chain's stores: id, code, name, city, region and time zone."""
    from rich.console import Console
    from rich.table import Table

    from loyalty.cli._core import context
    from loyalty.services.merchants import list_stores as stores_of

    stores = stores_of(context())
    if as_json:
        typer.echo(json.dumps([s.model_dump(mode="json") for s in stores], ensure_ascii=False, indent=2))
        return
    if not stores:
        typer.echo(_("no stores yet: add one with `loyalty stores add CODE NAME`"))
        return
    table = Table(box=None)
    for column in (_("id"), _("code"), _("name"), _("city"), _("region"), _("time zone")):
        table.add_column(column)
    for s in stores:
        table.add_row(str(s.id), s.code, s.name, s.city or "", s.region or "", s.timezone)
    Console().print(table)


@app.command("update")
def update(
    store: Annotated[str, typer.Argument(help="The store's code (or numeric id).")],
    code: Annotated[str | None, typer.Option(help="A new code (POS exports must then use it).")] = None,
    name: Annotated[str | None, typer.Option(help="A new name.")] = None,
    city: Annotated[str | None, typer.Option(help="A new city; an empty string clears it.")] = None,
    timezone: Annotated[
        str | None, typer.Option(help="A new IANA time zone: business dates of later sales count in it.")
    ] = None,
    merchant: Annotated[str | None, typer.Option(help="The code of the merchant it now belongs to.")] = None,
    region: Annotated[str | None, typer.Option(help="A new region; an empty string clears it.")] = None,
) -> None:
    """Change a store's code, name, city, time zone, region or merchant (audited; sales already posted
    keep their dates and merchant)."""
    from loyalty.cli._core import bad_parameter, context, fail
    from loyalty.domain.errors import Conflict, InvalidInput, NotFound
    from loyalty.services import merchants as service

    ctx = context()
    found = _store_named(ctx, store)
    given: dict[str, object] = {
        k: v for k, v in {"code": code, "name": name, "timezone": timezone}.items() if v is not None
    }
    if city is not None:
        given["city"] = city or None
    if region is not None:
        given["region"] = region or None
    if merchant is not None:
        match = [m for m in service.list_merchants(ctx) if m.code == merchant]
        if not match:
            fail(_("no merchant with the code {code}", code=merchant))
        given["merchant_id"] = match[0].id
    if not given:
        fail(_("nothing to change: give --code, --name, --city, --timezone, --region or --merchant"))
    try:
        changed = service.update_store(ctx, found.id, service.StoreChanges.model_validate(given))
    except InvalidInput as exc:
        raise bad_parameter(exc, {**OPTION_OF_FIELD, "code": "--code", "name": "--name"}) from exc
    except (NotFound, Conflict) as exc:
        fail(exc.localized())
    typer.echo(
        _(
            "store {id}: {code} {name} ({city}, {timezone})",
            id=changed.id,
            code=changed.code,
            name=changed.name,
            city=changed.city or "-",
            timezone=changed.timezone,
        )
    )


def _store_named(ctx: Context, store: str) -> Any:
    """The store whose code (or id) is `store`; exit 1 when there is none."""
    from loyalty.cli._core import fail
    from loyalty.services.merchants import list_stores as stores_of

    for s in stores_of(ctx):
        if s.code == store or (store.isdigit() and s.id == int(store)):
            return s
    fail(_("no store {store}", store=store))


@app.command("rename-merchant")
def rename_merchant(
    merchant: Annotated[str, typer.Argument(help="The merchant's code, e.g. DEFAULT.")],
    name: Annotated[str, typer.Argument(help="Its new name (the chain's name, for the default merchant).")],
) -> None:
    """Rename a merchant (audited). Its code and currency stay."""
    from loyalty.cli._core import bad_parameter, context, fail
    from loyalty.domain.errors import InvalidInput
    from loyalty.services import merchants as service

    ctx = context()
    match = [m for m in service.list_merchants(ctx) if m.code == merchant]
    if not match:
        fail(_("no merchant with the code {code}", code=merchant))
    try:
        changed = service.update_merchant(ctx, match[0].id, service.MerchantChanges(name=name))
    except InvalidInput as exc:
        raise bad_parameter(exc, {"name": "NAME"}) from exc
    typer.echo(_("merchant {code}: {name}", code=changed.code, name=changed.name))
