"""`loyalty staff …` and `loyalty apikeys …`: bootstrap and manage who may use the API.

The first admin must come from the command line (the API needs an admin to create staff); POS keys
are usually created here too when a till is installed. Secrets are printed once and never again.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import typer

from loyalty.i18n import translator

if TYPE_CHECKING:
    from loyalty.bootstrap import Context

_ = translator("cli")

staff_app = typer.Typer(help="Staff users who log in to the API.", no_args_is_help=True)
apikeys_app = typer.Typer(help="Per-store API keys for POS terminals.", no_args_is_help=True)


def _ctx(database_url: str | None) -> Context:
    from loyalty.cli._core import context

    return context(database_url)


def _password(from_stdin: bool) -> str:
    """The new user's password: one line of stdin, LOYALTY_STAFF_PASSWORD, or asked for twice."""
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise typer.BadParameter(_("no password on standard input"), param_hint="--password-stdin")
        return line
    return str(typer.prompt(_("Password"), hide_input=True, confirmation_prompt=True))


@staff_app.command("create")
def staff_create(
    username: str = typer.Argument(..., help="Login name."),
    role: str = typer.Option(..., help="admin, marketer, store_manager, cashier, analyst or auditor."),
    store: list[int] = typer.Option([], "--store", help="Store id (repeat) for cashiers and store managers."),
    password: str | None = typer.Option(
        None,
        envvar="LOYALTY_STAFF_PASSWORD",
        help="Prefer --password-stdin or the prompt: a password on the command line lands in shell history.",
    ),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from the first line of standard input (scripts)."
    ),
    display_name: str | None = typer.Option(None, help="Name shown in the audit log."),
    database_url: str | None = typer.Option(None, "--database-url"),
) -> None:
    """Create a staff user (the first admin is created this way); asks for the password unless given."""
    from loyalty.services import auth

    ctx = _ctx(database_url)  # a missing database is reported before anyone types a password
    secret = password if password is not None and not password_stdin else _password(password_stdin)
    try:
        user = auth.create_staff(
            ctx,
            username=username,
            password=secret,
            role=role,
            store_ids=store,
            display_name=display_name,
        )
    except (auth.AuthError, auth.DuplicateUsername, auth.UnknownStore) as exc:
        typer.echo(_("error: {message}", message=exc.localized()), err=True)
        raise typer.Exit(2) from exc
    stores = ", ".join(map(str, user.store_ids)) or _("all")
    typer.echo(
        _(
            "created staff user {username} (id {id}, role {role}, stores {stores})",
            username=user.username,
            id=user.id,
            role=user.role,
            stores=stores,
        )
    )


@staff_app.command("list")
def staff_list(database_url: str | None = typer.Option(None, "--database-url")) -> None:
    """List staff users."""
    from loyalty.services import auth

    for user in auth.list_staff(_ctx(database_url)):
        state = _("active") if user.active else _("disabled")
        typer.echo(f"{user.id}\t{user.username}\t{user.role}\t{user.store_ids or _('all')}\t{state}")


def _staff_named(ctx: Context, username: str) -> Any:
    from loyalty.services import auth

    for user in auth.list_staff(ctx):
        if user.username == username:
            return user
    typer.echo(_("error: no staff user {username}", username=username), err=True)
    raise typer.Exit(2)


@staff_app.command("update")
def staff_update(
    username: str = typer.Argument(..., help="Login name."),
    role: str | None = typer.Option(None, help="A new role (a chain-wide role drops the user's stores)."),
    store: list[int] = typer.Option([], "--store", help="Store id (repeat): the user's stores from now on."),
    display_name: str | None = typer.Option(None, help="Name shown in the audit log; empty clears it."),
    active: bool | None = typer.Option(None, "--enable/--disable", help="Whether the user may log in."),
    database_url: str | None = typer.Option(None, "--database-url"),
) -> None:
    """Change a staff user's role, stores or display name, or enable or disable them (audited)."""
    from loyalty.services import auth

    ctx = _ctx(database_url)
    user = _staff_named(ctx, username)
    given: dict[str, Any] = {"role": role, "display_name": display_name, "active": active}
    given = {k: v for k, v in given.items() if v is not None}
    if store:
        given["store_ids"] = store
    if not given:
        typer.echo(_("error: nothing to change"), err=True)
        raise typer.Exit(2)
    try:
        changed = auth.update_staff(ctx, user.id, auth.StaffChanges(**given))
    except (auth.AuthError, auth.UnknownStore, auth.LastAdmin) as exc:
        typer.echo(_("error: {message}", message=exc.localized()), err=True)
        raise typer.Exit(2) from exc
    state = _("active") if changed.active else _("disabled")
    stores = ", ".join(map(str, changed.store_ids)) or _("all")
    typer.echo(f"{changed.id}\t{changed.username}\t{changed.role}\t{stores}\t{state}")


@staff_app.command("reset-password")
def staff_reset_password(
    username: str = typer.Argument(..., help="Login name."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the new password from standard input instead of generating one."
    ),
    database_url: str | None = typer.Option(None, "--database-url"),
) -> None:
    """Set a staff user's password: a generated one, printed once, or one read from standard input."""
    from loyalty.services import auth

    ctx = _ctx(database_url)
    user = _staff_named(ctx, username)
    try:
        generated = auth.reset_password(ctx, user.id, _password(True) if password_stdin else None)
    except auth.AuthError as exc:
        typer.echo(_("error: {message}", message=exc.localized()), err=True)
        raise typer.Exit(2) from exc
    if generated is None:
        typer.echo(_("password of {username} changed", username=user.username))
        return
    typer.echo(
        _("new password of {username}; give it to them now, it is not shown again:", username=user.username)
    )
    typer.echo(generated)


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
        typer.echo(_("error: {message}", message=exc.localized()), err=True)
        raise typer.Exit(2) from exc
    typer.echo(
        _(
            "key id {id} for store {store_id} ({name}); store it now, it is not shown again:",
            id=info.id,
            store_id=info.store_id,
            name=info.name,
        )
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
        typer.echo(_("error: no key {key_id}", key_id=key_id), err=True)
        raise typer.Exit(2)
    typer.echo(_("revoked key {id} of store {store_id}", id=info.id, store_id=info.store_id))
