"""`loyalty import …`: members, purchases, returns and opening balances from POS exports.

Exit status: 0 when every row was imported or already present, 1 when any row was rejected (the reject
file says which and why), 2 when the file could not be imported at all (unreadable, unmappable).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from loyalty.domain.errors import DomainError
from loyalty.i18n import translator
from loyalty.imports.mapping import Kind, MappingError, parse_flag_pairs

_ = translator("cli")

app = typer.Typer(
    help="Bulk import from POS exports (CSV any delimiter/encoding, .xlsx, Parquet).", no_args_is_help=True
)

FileArg = Annotated[Path, typer.Argument(help="CSV/TSV (optionally .gz), .xlsx or .parquet file")]
MappingOpt = Annotated[
    Path | None,
    typer.Option("--mapping", "-m", help="YAML/TOML mapping file (columns, defaults, date_format …)"),
]
MapOpt = Annotated[list[str] | None, typer.Option("--map", help="FIELD=COLUMN, e.g. --map order_id=小票号")]
SetOpt = Annotated[
    list[str] | None, typer.Option("--set", help="FIELD=VALUE constant, e.g. --set store=SH01")
]
DelimOpt = Annotated[str | None, typer.Option(help="field delimiter (default: detected)")]
EncOpt = Annotated[str | None, typer.Option(help="text encoding (default: detected, UTF-8 or GB18030)")]
SheetOpt = Annotated[str | None, typer.Option(help="worksheet name for .xlsx (default: first)")]
RejectOpt = Annotated[Path | None, typer.Option("--rejects", help="where to write rejected rows")]
BatchOpt = Annotated[int, typer.Option(help="rows per committed batch")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print the summary as JSON on stdout")]
ProgressOpt = Annotated[bool | None, typer.Option("--progress/--no-progress", help="progress bar")]
DeferOpt = Annotated[
    bool | None,
    typer.Option(
        "--defer-indexes/--keep-indexes",
        help="build the ledger's account and member indexes after a purchase import instead of row by row "
        "(default: when the import is large and at least doubles the database, on SQLite)",
    ),
]
DryOpt = Annotated[bool, typer.Option("--dry-run", help="validate and write rejects, load nothing")]


def _run(
    kind: Kind,
    file: Path,
    mapping: Path | None,
    map_: list[str] | None,
    set_: list[str] | None,
    delimiter: str | None,
    encoding: str | None,
    sheet: str | None,
    rejects: Path | None,
    batch_size: int,
    as_json: bool,
    progress: bool | None,
    dry_run: bool,
    defer_indexes: bool | None = None,
) -> None:
    from loyalty.cli._core import context
    from loyalty.imports.readers import ReadError
    from loyalty.imports.runner import ImportOptions, import_file

    console = Console(stderr=True)
    try:
        options = ImportOptions(
            mapping_file=mapping,
            columns=parse_flag_pairs(map_ or []),
            defaults=parse_flag_pairs(set_ or []),
            delimiter=delimiter.encode().decode("unicode_escape") if delimiter else None,
            encoding=encoding,
            sheet=sheet,
            reject_path=rejects,
            batch_rows=batch_size,
            progress=progress,
            dry_run=dry_run,
            defer_indexes=defer_indexes,
        )
        summary = import_file(context(), kind, file, options, console=console)
    except (ReadError, MappingError, ValueError) as exc:
        why = exc.localized() if isinstance(exc, DomainError) else str(exc)
        console.print(_("[bold red]cannot import {file}:[/] {reason}", file=file, reason=why))
        raise typer.Exit(2) from exc
    if as_json:
        typer.echo(json.dumps(summary.as_dict(), ensure_ascii=False))
    else:
        summary.render(Console())
    if summary.rejected:
        raise typer.Exit(1)


def _command(kind: Kind, default_batch: int) -> None:
    def command(
        file: FileArg,
        mapping: MappingOpt = None,
        map_: MapOpt = None,
        set_: SetOpt = None,
        delimiter: DelimOpt = None,
        encoding: EncOpt = None,
        sheet: SheetOpt = None,
        rejects: RejectOpt = None,
        batch_size: BatchOpt = default_batch,
        as_json: JsonOpt = False,
        progress: ProgressOpt = None,
        dry_run: DryOpt = False,
        defer_indexes: DeferOpt = None,
    ) -> None:
        _run(
            kind,
            file,
            mapping,
            map_,
            set_,
            delimiter,
            encoding,
            sheet,
            rejects,
            batch_size,
            as_json,
            progress,
            dry_run,
            defer_indexes,
        )

    command.__doc__ = {
        Kind.members: "Import members (card number, phone, name, birthday, consent, registration store …).",
        Kind.purchases: "Import purchases, one row per order or per order line; points and tiers as live.",
        Kind.returns: "Import returns against earlier purchases (points are reversed as for live returns).",
        Kind.balances: "Import opening point balances from a previous system, with earn date and expiry.",
    }[kind]
    app.command(kind.value)(command)


for _kind, _batch in (
    (Kind.members, 100_000),
    (Kind.purchases, 2_000_000),
    (Kind.returns, 50_000),
    (Kind.balances, 50_000),
):
    _command(_kind, _batch)
