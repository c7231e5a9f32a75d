"""`loyalty serve`: run the REST API under uvicorn."""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

import typer

from loyalty.i18n import translator

if TYPE_CHECKING:
    from loyalty.api.server import PortUnavailable

_ = translator("cli")


def require_port(host: str, port: int, *, again: str) -> None:
    """Exit with one line (status 1) unless the API could listen on host:port; `again` is the command
    to suggest with `{port}` standing for another port. Checked before any slow work."""
    from loyalty.api.server import PortUnavailable, check_port

    try:
        check_port(host, port)
    except PortUnavailable as exc:
        port_unavailable(exc, again)


def port_unavailable(exc: PortUnavailable, again: str) -> NoReturn:
    """Say which port is unusable and how to choose another, then exit with status 1."""
    from loyalty.cli._core import fail

    other = again.format(port=exc.port + 1 if 0 < exc.port < 65535 else 8001)
    if exc.in_use:
        fail(
            _(
                "port {port} on {host} is already in use (another server?): choose another, e.g. {command}",
                port=exc.port,
                host=exc.host,
                command=other,
            )
        )
    fail(
        _(
            "cannot listen on {host}:{port} ({reason}): choose another address or port, e.g. {command}",
            host=exc.host,
            port=exc.port,
            reason=exc.reason,
            command=other,
        )
    )


def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to bind; 0.0.0.0 exposes it to the network."),
    port: int = typer.Option(8000, help="TCP port."),
    database_url: str | None = typer.Option(
        None, "--database-url", help="SQLAlchemy URL; defaults to LOYALTY_DATABASE_URL / loyalty.toml."
    ),
    access_log: bool = typer.Option(True, help="Log one line per request."),
    workers: int = typer.Option(1, min=1, help="Worker processes (each with its own engine)."),
    trusted_proxies: str | None = typer.Option(
        None,
        "--trusted-proxies",
        help="Reverse proxies (addresses or networks, comma-separated) whose X-Forwarded-For is "
        "believed; defaults to LOYALTY_TRUSTED_PROXIES (none).",
    ),
) -> None:
    """Serve the REST API (OpenAPI at /openapi.json, docs at /docs) until interrupted."""
    from loyalty.api.server import PortUnavailable, run
    from loyalty.cli._core import checked_url

    proxies = None if trusted_proxies is None else _proxies(trusted_proxies)
    url = checked_url(database_url)
    again = "`loyalty serve --port {port}`"
    require_port(host, port, again=again)
    typer.echo(_("serving loyalty API on {url}", url=f"http://{host}:{port}/docs"))
    try:
        run(url, host=host, port=port, access_log=access_log, workers=workers, trusted_proxies=proxies)
    except PortUnavailable as exc:  # taken since the check above
        port_unavailable(exc, again)


def _proxies(text: str) -> tuple[str, ...]:
    """`--trusted-proxies` read as the setting is (`loyalty.config.parse_proxies`); a bad entry exits."""
    from loyalty.config import InvalidProxy, parse_proxies

    try:
        return parse_proxies(text)
    except InvalidProxy as exc:
        message = _(
            "{entry} is not an IP address or network: give addresses such as 10.0.0.2 or networks "
            "such as 10.0.0.0/24, separated by commas",
            entry=exc.entry,
        )
        raise typer.BadParameter(message, param_hint="--trusted-proxies") from exc


def register(app: typer.Typer) -> None:
    """Attach the API's commands (`serve`, `staff`, `apikeys`) to the root CLI."""
    from loyalty.cli.access import apikeys_app, staff_app

    app.command("serve")(serve)
    app.add_typer(staff_app, name="staff")
    app.add_typer(apikeys_app, name="apikeys")
