"""`loyalty stores …`: add and list the chain's stores.

Imports find a store by the code its POS exports use, so stores are added before their files are
imported. Services are imported inside the commands, so that `loyalty --help` stays quick.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from loyalty.i18n import translator

_ = translator("cli")

app = typer.Typer(
    help="Stores: their codes (as POS exports write them) and time zones.", no_args_is_help=True
)

OPTION_OF_FIELD = {"code": "CODE", "name": "NAME", "city": "--city", "timezone": "--timezone"}


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
) -> None:
    """Add a store to the chain (after `loyalty programme init`)."""
    from loyalty.cli._core import bad_parameter, context, fail
    from loyalty.domain.errors import Conflict, InvalidInput, NotFound
    from loyalty.services.merchants import add_store

    ctx = context()
    try:
        store = add_store(ctx, code=code, name=name, city=city, timezone=timezone, merchant_code=merchant)
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
    """The chain's stores: id, code, name, city and time zone."""
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
    for column in (_("id"), _("code"), _("name"), _("city"), _("time zone")):
        table.add_column(column)
    for s in stores:
        table.add_row(str(s.id), s.code, s.name, s.city or "", s.timezone)
    Console().print(table)
