"""`loyalty serve`: run the REST API under uvicorn."""

from __future__ import annotations

import typer

from loyalty.config import get_settings


def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to bind; 0.0.0.0 exposes it to the network."),
    port: int = typer.Option(8000, help="TCP port."),
    database_url: str | None = typer.Option(
        None, "--database-url", help="SQLAlchemy URL; defaults to LOYALTY_DATABASE_URL / loyalty.toml."
    ),
    access_log: bool = typer.Option(True, help="Log one line per request."),
    workers: int = typer.Option(1, min=1, help="Worker processes (each with its own engine)."),
) -> None:
    """Serve the REST API (OpenAPI at /openapi.json, docs at /docs) until interrupted."""
    from loyalty.api.server import run

    url = database_url or get_settings().database_url
    typer.echo(f"serving loyalty API on http://{host}:{port}/docs")
    run(url, host=host, port=port, access_log=access_log, workers=workers)


def register(app: typer.Typer) -> None:
    """Attach the API's commands (`serve`, `staff`, `apikeys`) to the root CLI."""
    from loyalty.cli.access import apikeys_app, staff_app

    app.command("serve")(serve)
    app.add_typer(staff_app, name="staff")
    app.add_typer(apikeys_app, name="apikeys")
