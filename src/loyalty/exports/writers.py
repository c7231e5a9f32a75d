"""Write an Arrow table as CSV (UTF-8 with BOM, so Excel shows Chinese), .xlsx or Parquet."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

FORMATS = ("csv", "xlsx", "parquet")
XLSX_MAX_ROWS = 1_048_575


def format_for(path: str | Path, fmt: str | None = None) -> str:
    """The export format: explicit, else from the file extension."""
    if fmt:
        if fmt not in FORMATS:
            raise ValueError(f"unknown export format {fmt!r}; expected one of {', '.join(FORMATS)}")
        return fmt
    suffix = Path(path).suffix.lower().lstrip(".")
    return suffix if suffix in FORMATS else "csv"


def write_table(table: pa.Table, path: str | Path, fmt: str | None = None) -> Path:
    """Write `table` to `path`; returns the path. Excel is limited to about a million rows."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    kind = format_for(out, fmt)
    if kind == "parquet":
        pq.write_table(table, out)
    elif kind == "xlsx":
        if table.num_rows > XLSX_MAX_ROWS:
            raise ValueError(f"{table.num_rows:,} rows do not fit in one Excel sheet; export CSV or Parquet")
        from openpyxl import Workbook

        wb = Workbook(write_only=True)
        ws = wb.create_sheet("export")
        ws.append(table.column_names)
        for batch in table.to_batches(max_chunksize=20_000):
            for row in zip(*(col.to_pylist() for col in batch.columns), strict=True):
                ws.append(list(row))
        wb.save(out)
    else:
        with out.open("wb") as fh:
            fh.write(b"\xef\xbb\xbf")
            pacsv.write_csv(table, fh)
    return out
