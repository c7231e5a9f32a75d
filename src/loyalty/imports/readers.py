"""Read POS exports (CSV in any delimiter and encoding, .xlsx, Parquet, optionally gzipped) into Arrow.

Every reader returns the same shape: an Arrow table whose columns are the file's headers, all typed as
strings, plus a `_line` column with the 1-based line (CSV: physical line, header = 1; Excel: sheet row;
Parquet: row number). Keeping the raw text lets validation report the *original* value in the reject
file and lets one set of DuckDB expressions parse every format the same way.
"""

from __future__ import annotations

import csv
import gzip
import io
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import IO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from charset_normalizer import from_bytes

from loyalty.domain.errors import InvalidInput

LINE_COLUMN = "_line"
_SAMPLE_BYTES = 256 * 1024
_DELIMITERS = ",;\t|"
# Chinese legacy encodings are all subsets of GB18030, so decoding with it never loses a character.
_GB_FAMILY = {"gb2312", "gbk", "gb18030", "cp936", "hz"}


class ReadError(InvalidInput, ValueError):
    """The file cannot be read at all (unknown format, no header, undecodable)."""

    default_code = "FILE_UNREADABLE"


@dataclass(frozen=True)
class ReadResult:
    """What was read and how it was interpreted (shown in the import summary)."""

    table: pa.Table
    format: str
    encoding: str | None = None
    delimiter: str | None = None

    @property
    def columns(self) -> list[str]:
        return [c for c in self.table.column_names if c != LINE_COLUMN]


def _open_binary(path: Path) -> IO[bytes]:
    if path.suffix.lower() == ".gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def _base_suffix(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def detect_encoding(sample: bytes) -> str:
    """Return a Python codec name for `sample`: UTF-8 (with or without BOM) first, else detected.

    UTF-8 is tried strictly first because it is by far the most common and charset detection on short
    samples can mislabel it; a cut multi-byte sequence at the end of the sample is tolerated.
    """
    if sample.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start >= len(sample) - 4:
            return "utf-8"
    # Chinese POS systems export GB18030/GBK; statistical detection on a short sample often calls such
    # text Korean or Big5, so a strict GB18030 decode wins when it succeeds (cut tail tolerated).
    trimmed = sample[:-4] if len(sample) >= _SAMPLE_BYTES else sample
    try:
        decoded = trimmed.decode("gb18030")
    except UnicodeDecodeError:
        decoded = ""
    non_ascii = [ch for ch in decoded if ord(ch) > 127]
    if non_ascii and sum("\u4e00" <= ch <= "\u9fff" or "\u3000" <= ch <= "\u303f" for ch in non_ascii) >= (
        0.8 * len(non_ascii)
    ):
        return "gb18030"
    best = from_bytes(sample).best()
    if best is None:
        raise ReadError("FILE_ENCODING_UNKNOWN", "cannot detect the text encoding of this file")
    if best.encoding.lower().replace("-", "").replace("_", "") in _GB_FAMILY:
        return "gb18030"
    return best.encoding


def detect_delimiter(text: str) -> str:
    """Sniff the delimiter among `, ; TAB |` from the first lines; default to comma."""
    head = "\n".join(text.splitlines()[:50])
    try:
        return csv.Sniffer().sniff(head, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        counts = {d: head.splitlines()[0].count(d) for d in _DELIMITERS} if head else {}
        best = max(counts, key=lambda d: counts[d], default=",")
        return best if counts.get(best) else ","


def _unique_headers(headers: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for raw in headers:
        name = raw.strip().lstrip("\ufeff") or "column"
        if name in seen:
            seen[name] += 1
            name = f"{name}_{seen[name]}"
        else:
            seen[name] = 0
        out.append(name)
    return out


def read_csv(path: Path, *, delimiter: str | None = None, encoding: str | None = None) -> ReadResult:
    """Read a delimited text file with Arrow's multi-threaded parser, every column as a string."""
    with _open_binary(path) as fh:
        sample = fh.read(_SAMPLE_BYTES)
    if not sample.strip():
        raise ReadError("FILE_EMPTY", "{file} is empty", {"file": path.name})
    enc = encoding or detect_encoding(sample)
    text = sample.decode(enc, errors="ignore")
    delim = delimiter or detect_delimiter(text)
    first = next(csv.reader(io.StringIO(text), delimiter=delim), None)
    if not first:
        raise ReadError("FILE_NO_HEADER", "{file} has no header line", {"file": path.name})
    headers = _unique_headers(first)
    read_opts = pacsv.ReadOptions(
        encoding="utf8" if enc in {"utf-8", "utf-8-sig"} else enc,
        column_names=headers,
        skip_rows=1,
        block_size=16 << 20,
    )
    parse_opts = pacsv.ParseOptions(delimiter=delim, newlines_in_values=False)
    convert_opts = pacsv.ConvertOptions(
        column_types={h: pa.string() for h in headers},
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    source: IO[bytes] | str = _open_binary(path) if path.suffix.lower() == ".gz" else str(path)
    try:
        table = pacsv.read_csv(
            source, read_options=read_opts, parse_options=parse_opts, convert_options=convert_opts
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise ReadError(
            "FILE_UNREADABLE", "cannot parse {file}: {reason}", {"file": path.name, "reason": str(exc)}
        ) from exc
    finally:
        if not isinstance(source, str):
            source.close()
    if enc == "utf-8-sig" and headers:
        table = table.rename_columns(headers)
    lines = pa.array(range(2, table.num_rows + 2), type=pa.int64())
    return ReadResult(table.append_column(LINE_COLUMN, lines), "csv", enc, delim)


def _cell_text(value: object) -> str:
    """Render an Excel cell as the text a person sees, so numbers like phones keep no `.0`."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return format(Decimal(repr(value)), "f")
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value).strip()


def read_xlsx(path: Path, *, sheet: str | None = None) -> ReadResult:
    """Read the first (or named) sheet of a workbook; the first non-empty row is the header."""
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True, data_only=True)
    try:
        ws = wb[sheet] if sheet else wb.worksheets[0]
        headers: list[str] | None = None
        columns: list[list[str]] = []
        lines: list[int] = []
        for row_no, row in enumerate(ws.iter_rows(values_only=True), start=1):
            cells = [_cell_text(v) for v in row]
            if headers is None:
                if any(cells):
                    headers = _unique_headers(cells)
                    columns = [[] for _ in headers]
                continue
            if not any(cells):
                continue
            for i in range(len(headers)):
                columns[i].append(cells[i] if i < len(cells) else "")
            lines.append(row_no)
    finally:
        wb.close()
    if headers is None:
        raise ReadError("FILE_NO_HEADER", "{file} has no header row", {"file": path.name})
    arrays = [pa.array(col, type=pa.string()) for col in columns]
    table = pa.table([*arrays, pa.array(lines, type=pa.int64())], names=[*headers, LINE_COLUMN])
    return ReadResult(table, "xlsx")


def read_parquet(path: Path) -> ReadResult:
    """Read a Parquet file; typed columns are cast to their text form so validation is uniform."""
    table = pq.read_table(path)
    names = _unique_headers(table.column_names)
    cols = []
    for column in table.columns:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            cols.append(pc.fill_null(column.cast(pa.string()), ""))
        else:
            cols.append(pc.fill_null(column.cast(pa.string()), ""))
    lines = pa.array(range(1, table.num_rows + 1), type=pa.int64())
    return ReadResult(pa.table([*cols, lines], names=[*names, LINE_COLUMN]), "parquet")


def read_table(
    path: str | Path,
    *,
    delimiter: str | None = None,
    encoding: str | None = None,
    sheet: str | None = None,
) -> ReadResult:
    """Read any supported file by its extension (`.csv/.txt/.tsv[.gz]`, `.xlsx`, `.parquet`)."""
    p = Path(path)
    if not p.exists():
        raise ReadError("FILE_NOT_FOUND", "{file} does not exist", {"file": str(p)})
    suffix = _base_suffix(p)
    if suffix in {".xlsx", ".xlsm"}:
        return read_xlsx(p, sheet=sheet)
    if suffix in {".parquet", ".pq"}:
        return read_parquet(p)
    if suffix == ".tsv" and delimiter is None:
        delimiter = "\t"
    return read_csv(p, delimiter=delimiter, encoding=encoding)
