"""Reject files and the end-of-import summary.

Bad rows never vanish: every rejected row is written, with its original line number, a stable reason
code and a human detail, followed by the row exactly as it was read, so a person can fix the file in a
spreadsheet and import the reject file itself again (its extra columns are ignored by the mapping).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
from rich.console import Console
from rich.table import Table

from loyalty.i18n import marker, translator
from loyalty.imports.validate import REASONS

# The summary is what `loyalty import` prints: the CLI's catalog, in LOYALTY_LOCALE.
_ = translator("cli")
N_ = marker("cli")
#: what an import step creates, as the summary names it
CREATED = {
    "members": N_("members created"),
    "purchases": N_("purchases created"),
    "returns": N_("returns created"),
    "balances": N_("balances created"),
}


def default_reject_path(source: str | Path) -> Path:
    """`sales.csv.gz` -> `sales.rejects.csv` next to the source."""
    p = Path(source)
    name = p.name
    for suffix in (".gz", ".csv", ".txt", ".tsv", ".xlsx", ".parquet"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return p.with_name(f"{name}.rejects.csv")


def write_rejects(path: str | Path, rejects: pa.Table) -> Path:
    """Write `rejects` (_line, reason, detail, original columns) as UTF-8 CSV with a BOM for Excel."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    names = ["line" if c == "_line" else c for c in rejects.column_names]
    with out.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(names)
        for batch in rejects.to_batches(max_chunksize=50_000):
            columns = [col.to_pylist() for col in batch.columns]
            writer.writerows(zip(*columns, strict=True))
    return out


@dataclass
class Summary:
    """Counts every import prints and records: read = imported + rejected + duplicates (+ skipped)."""

    kind: str
    source: str
    read: int = 0
    imported: int = 0
    rejected: int = 0
    duplicates: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    created: dict[str, int] = field(default_factory=dict)
    reject_file: str | None = None
    run_id: int | None = None
    resumed: bool = False
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.rejected == 0

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "source": self.source,
            "read": self.read,
            "imported": self.imported,
            "rejected": self.rejected,
            "duplicates": self.duplicates,
            "reasons": dict(self.reasons),
            "created": dict(self.created),
            "reject_file": self.reject_file,
            "run_id": self.run_id,
            "resumed": self.resumed,
            "seconds": round(self.seconds, 3),
        }

    def render(self, console: Console) -> None:
        title = _("import {kind}: {file}", kind=self.kind, file=Path(self.source).name)
        table = Table(title=title, show_header=False)
        table.add_column("what")
        table.add_column("rows", justify="right")
        table.add_row(_("read"), f"{self.read:,}")
        table.add_row(_("imported"), f"{self.imported:,}")
        table.add_row(_("duplicates (already loaded)"), f"{self.duplicates:,}")
        table.add_row(_("rejected"), f"[bold red]{self.rejected:,}[/]" if self.rejected else "0")
        for reason, count in self.reasons.items():
            explained = _(REASONS[reason]) if reason in REASONS else ""
            table.add_row(f"  {reason} — {explained}", f"{count:,}")
        for what, count in self.created.items():
            table.add_row(_(CREATED[what]) if what in CREATED else what, f"{count:,}")
        if self.resumed:
            table.add_row(_("resumed interrupted run"), f"#{self.run_id}")
        table.add_row(_("seconds"), f"{self.seconds:.1f}")
        console.print(table)
        if self.reject_file:
            console.print(
                _(
                    "rejected rows written to [bold]{path}[/] (line, reason, detail, row)",
                    path=self.reject_file,
                )
            )
