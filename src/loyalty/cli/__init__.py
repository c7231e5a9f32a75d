"""The `loyalty` command. Each area adds a Typer sub-app in its own module and registers it here."""

from __future__ import annotations

import typer

from loyalty.cli.db import app as db_app

app = typer.Typer(help="loyalty — membership & loyalty platform", no_args_is_help=True)
app.add_typer(db_app, name="db")


def main() -> None:
    app()
