"""The `loyalty` command. Each area adds a Typer sub-app in its own module and registers it here."""

from __future__ import annotations

import sys

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

HELP = "loyalty — membership & loyalty platform"

#: the areas' sub-apps by the name each runs under, in the order the help lists them
AREAS: dict[str, typer.Typer] = {
    "db": db_app,
    "programme": programme_app,
    "stores": stores_app,
    "members": members_app,
    "points": points_app,
    "purchases": purchases_app,
    "jobs": jobs_app,
    "ledger": ledger_app,
    "import": import_app,
    "export": export_app,
    "demo": demo_app,
    "analytics": analytics_app,
    "kpis": kpis_app,
    "anomalies": anomalies_app,
    "targets": targets_app,
    "feedback": feedback_app,
}

app = typer.Typer(help=HELP, no_args_is_help=True)
for _name, _area in AREAS.items():
    if _name == "import":  # the API's commands (`serve`, `staff`, `apikeys`) are listed before it
        register_api_commands(app)
    app.add_typer(_area, name=_name)


def app_for(argv: list[str]) -> typer.Typer:
    """The app that runs the command line `argv`: where it names an area, a root holding that area
    alone, else the whole tree (no command, the root's help, the API's commands).

    Typer works out every command's parameters each time it builds a tree: for the whole product a
    tenth of a second at every start, more than an import of a small file takes to read."""
    area = AREAS.get(argv[1]) if len(argv) > 1 else None
    if area is None:
        return app
    alone = typer.Typer(help=HELP, no_args_is_help=True)
    alone.add_typer(area, name=argv[1])
    return alone


def main() -> None:
    """The `loyalty` script: in English as Typer runs it, else with its help in LOYALTY_LOCALE."""
    from loyalty.i18n import configured_locale

    target = app_for(sys.argv)
    locale = configured_locale()
    if locale == "en":
        target()
        return
    from loyalty.cli._help import localized_command

    localized_command(target, locale)()
