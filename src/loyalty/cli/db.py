"""`loyalty db …`: create or migrate the database, then say what to run next."""

from __future__ import annotations

import typer

from loyalty.i18n import translator

_ = translator("cli")

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command("upgrade")
def upgrade(target: str = typer.Argument("heads", help="Alembic target revision")) -> None:
    """Create or migrate the configured database (LOYALTY_DATABASE_URL; default var/loyalty.db)."""
    from sqlalchemy.exc import SQLAlchemyError

    from loyalty.bootstrap import Context
    from loyalty.cli._core import database_url, fail, reason
    from loyalty.cli.programme import next_steps
    from loyalty.db.migrate import upgrade as run_upgrade
    from loyalty.db.schema_version import location
    from loyalty.services.seed import programme_state

    url = database_url()
    where = location(url)
    ctx = Context.from_url(url)
    try:
        run_upgrade(ctx.engine, target)
    except SQLAlchemyError as exc:
        fail(_("cannot upgrade the database at {location}: {reason}", location=where, reason=reason(exc)))
    typer.echo(_("database at {location} is up to date", location=where))
    if target == "heads":
        for line in next_steps(programme_state(ctx)):
            typer.echo(line)
