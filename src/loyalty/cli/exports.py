"""`loyalty export …`: members, segments, statements and purchase history to CSV / xlsx / Parquet."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Exports with PII masked unless the role may see it; each one is audited.", no_args_is_help=True
)


def _run(what: str, out: Path, fmt: str | None, role: str, actor: str, since: str | None) -> None:
    from loyalty.bootstrap import Context
    from loyalty.exports.service import ExportUnavailable, export

    try:
        result = export(
            Context.from_url(None),
            what,
            out,
            fmt=fmt,
            role=role,
            actor_id=actor,
            since=datetime.fromisoformat(since) if since else None,
        )
    except ExportUnavailable as exc:
        typer.echo(f"skipped {what}: {exc}")
        return
    masked = "masked" if result.masked else "unmasked"
    typer.echo(
        f"exported {result.rows:,} {what} rows to {result.path} (PII {masked}; recorded in the audit log)"
    )


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


for _what in ("members", "segments", "statements", "purchases"):
    _command(_what)
