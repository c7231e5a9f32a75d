"""`loyalty db …`: database migrations."""

from __future__ import annotations

import typer

from loyalty.config import get_settings
from loyalty.db.engine import make_engine
from loyalty.db.migrate import upgrade as run_upgrade

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command("upgrade")
def upgrade(target: str = typer.Argument("heads", help="Alembic target revision")) -> None:
    """Apply migrations to the configured database (LOYALTY_DATABASE_URL)."""
    settings = get_settings()
    engine = make_engine(settings.database_url)
    run_upgrade(engine, target)
    typer.echo(f"database at {engine.url.render_as_string(hide_password=True)} is up to date")
