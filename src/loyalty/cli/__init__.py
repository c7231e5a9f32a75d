"""The `loyalty` command. Each area adds a Typer sub-app in its own module and registers it here."""

from __future__ import annotations

import typer

from loyalty.cli.analytics import app as analytics_app
from loyalty.cli.anomalies import app as anomalies_app
from loyalty.cli.db import app as db_app
from loyalty.cli.demo import app as demo_app
from loyalty.cli.exports import app as export_app
from loyalty.cli.feedback import app as feedback_app
from loyalty.cli.imports import app as import_app
from loyalty.cli.jobs import app as jobs_app
from loyalty.cli.kpis import app as kpis_app
from loyalty.cli.ledger import app as ledger_app
from loyalty.cli.members import app as members_app
from loyalty.cli.points import app as points_app
from loyalty.cli.programme import app as programme_app
from loyalty.cli.purchases import app as purchases_app
from loyalty.cli.serve import register as register_api_commands
from loyalty.cli.stores import app as stores_app
from loyalty.cli.targets import app as targets_app

app = typer.Typer(help="loyalty — membership & loyalty platform", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(programme_app, name="programme")
app.add_typer(stores_app, name="stores")
app.add_typer(members_app, name="members")
app.add_typer(points_app, name="points")
app.add_typer(purchases_app, name="purchases")
app.add_typer(jobs_app, name="jobs")
app.add_typer(ledger_app, name="ledger")
register_api_commands(app)
app.add_typer(import_app, name="import")
app.add_typer(export_app, name="export")
app.add_typer(demo_app, name="demo")
app.add_typer(analytics_app, name="analytics")
app.add_typer(kpis_app, name="kpis")
app.add_typer(anomalies_app, name="anomalies")
app.add_typer(targets_app, name="targets")
app.add_typer(feedback_app, name="feedback")


def main() -> None:
    """The `loyalty` script: in English as Typer runs it, else with its help in LOYALTY_LOCALE."""
    from loyalty.i18n import configured_locale

    locale = configured_locale()
    if locale == "en":
        app()
        return
    from loyalty.cli._help import localized_command

    localized_command(app, locale)()
