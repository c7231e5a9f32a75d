"""`loyalty staff …` and `loyalty apikeys …`: bootstrap who may use the API.

The first admin must come from the command line (the API needs an admin to create staff); POS keys
are usually created here too when a till is installed. Secrets are printed once and never again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from loyalty.config import get_settings

if TYPE_CHECKING:
    from loyalty.bootstrap import Context

staff_app = typer.Typer(help="Staff users who log in to the API.", no_args_is_help=True)
apikeys_app = typer.Typer(help="Per-store API keys for POS terminals.", no_args_is_help=True)


def _ctx(database_url: str | None) -> Context:
    from loyalty.api.app import context_from_url

    return context_from_url(database_url or get_settings().database_url)


@staff_app.command("create")
def staff_create(
    username: str = typer.Argument(..., help="Login name."),
    role: str = typer.Option(..., help="admin, marketer, store_manager, cashier, analyst or auditor."),
    store: list[int] = typer.Option([], "--store", help="Store id (repeat) for cashiers and store managers."),
    password: str = typer.Option(
        ..., prompt=True, hide_input=True, confirmation_prompt=True, envvar="LOYALTY_STAFF_PASSWORD"
    ),
    display_name: str | None = typer.Option(None, help="Name shown in the audit log."),
    database_url: str | None = typer.Option(None, "--database-url"),
) -> None:
    """Create a staff user (the first admin is created this way)."""
    from loyalty.services import auth

    try:
        user = auth.create_staff(
            _ctx(database_url),
            username=username,
            password=password,
            role=role,
            store_ids=store,
            display_name=display_name,
        )
    except (auth.AuthError, auth.DuplicateUsername, auth.UnknownStore) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    stores = ", ".join(map(str, user.store_ids)) or "all"
    typer.echo(f"created staff user {user.username} (id {user.id}, role {user.role}, stores {stores})")


@staff_app.command("list")
def staff_list(database_url: str | None = typer.Option(None, "--database-url")) -> None:
    """List staff users."""
    from loyalty.services import auth

    for user in auth.list_staff(_ctx(database_url)):
        state = "active" if user.active else "disabled"
        typer.echo(f"{user.id}\t{user.username}\t{user.role}\t{user.store_ids or 'all'}\t{state}")


@apikeys_app.command("create")
def apikeys_create(
    store: int = typer.Option(..., "--store", help="Store id the key acts for."),
    name: str = typer.Option("pos", help="Label, e.g. the till's name."),
    database_url: str | None = typer.Option(None, "--database-url"),
) -> None:
    """Create a POS key for a store and print it once (send it as the X-API-Key header)."""
    from loyalty.services import auth

    try:
        info, key = auth.create_api_key(_ctx(database_url), store_id=store, name=name)
    except auth.UnknownStore as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(
        f"key id {info.id} for store {info.store_id} ({info.name}); store it now, it is not shown again:"
    )
    typer.echo(key)


@apikeys_app.command("revoke")
def apikeys_revoke(
    key_id: int = typer.Argument(..., help="The key's numeric id."),
    database_url: str | None = typer.Option(None, "--database-url"),
) -> None:
    """Revoke a POS key."""
    from loyalty.services import auth

    info = auth.revoke_api_key(_ctx(database_url), key_id)
    if info is None:
        typer.echo(f"error: no key {key_id}", err=True)
        raise typer.Exit(2)
    typer.echo(f"revoked key {info.id} of store {info.store_id}")
