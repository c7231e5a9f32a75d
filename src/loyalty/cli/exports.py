"""`loyalty export …`: members, segments, statements and purchase history to CSV / xlsx / Parquet."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from loyalty.i18n import marker, translator

_ = translator("cli")
N_ = marker("cli")
#: what each export is called in its report line
EXPORTS = {
    "members": N_("members"),
    "segments": N_("segments"),
    "statements": N_("statements"),
    "purchases": N_("purchases"),
}

app = typer.Typer(
    help="Exports with PII masked unless the role may see it; each one is audited.", no_args_is_help=True
)


def _run(what: str, out: Path, fmt: str | None, role: str, actor: str, since: str | None) -> None:
    from loyalty.cli._core import context
    from loyalty.exports.service import ExportUnavailable, export

    try:
        result = export(
            context(),
            what,
            out,
            fmt=fmt,
            role=role,
            actor_id=actor,
            since=datetime.fromisoformat(since) if since else None,
        )
    except ExportUnavailable as exc:
        typer.echo(_("skipped {what}: {reason}", what=_(EXPORTS[what]), reason=exc.localized()))
        return
    done = (
        _("exported {rows} {what} rows to {path} (PII masked; recorded in the audit log)")
        if result.masked
        else _("exported {rows} {what} rows to {path} (PII unmasked; recorded in the audit log)")
    )
    typer.echo(done.format(rows=f"{result.rows:,}", what=_(EXPORTS[what]), path=result.path))


def _command(what: str) -> None:
    def command(
        out: Annotated[Path, typer.Argument(help="output file (.csv, .xlsx or .parquet)")],
        fmt: Annotated[
            str | None, typer.Option("--format", help="csv, xlsx or parquet (default: from extension)")
        ] = None,
        role: Annotated[str, typer.Option(help="role of the person exporting (admin sees PII)")] = "analyst",
        actor: Annotated[str, typer.Option(help="who is exporting (for the audit log)")] = "cli",
        since: Annotated[str | None, typer.Option(help="purchases only: ISO date to start from")] = None,
    ) -> None:
        _run(what, out, fmt, role, actor, since)

    command.__doc__ = f"Export {what}."
    app.command(what)(command)


for _what in EXPORTS:
    _command(_what)
