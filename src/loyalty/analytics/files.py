"""Transaction files (CSV, CSV.gz, Parquet) read and validated in DuckDB directly, without Ibis; table I/O.

`loyalty analytics rfm|clv FILE` reads a plain file into memory and summarises it there: Ibis and
its SQL compilers would cost that command more to import and run than reading, checking and
summarising the file itself. The checks and error messages are those of
:func:`loyalty.analytics.features.checked_transactions` (the tests hold the two paths equal); a file
whose column types are not plain text, numbers, dates or zone-less timestamps is left to that path.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NoReturn

from loyalty.analytics.errors import InputError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from loyalty.analytics.features import Columns

_MAX_ROWS_IN_ERROR = 10
_BAD_DATE, _BAD_AMOUNT, _EMPTY, _NEGATIVE = 1, 2, 4, 8
_CSV = (".csv", ".csv.gz", ".txt", ".txt.gz")
_PARQUET = (".parquet", ".pq")
_NUMERIC = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "UHUGEINT",
    "FLOAT",
    "DOUBLE",
)
_TIMESTAMPS = ("TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS")


@dataclass(frozen=True)
class CheckedFile:
    """A valid log as ``customer_id, ts, amount`` (file order), and whether it holds returns."""

    table: pa.Table
    has_returns: bool


def read_table(path: str | Path) -> pd.DataFrame:
    """Read CSV (optionally .gz) or Parquet by extension, everything as text for CSV (validated later)."""
    import pandas as pd

    p = Path(path)
    name = p.name.lower()
    if name.endswith(_PARQUET):
        return pd.read_parquet(p)
    if name.endswith((".csv", ".csv.gz")):
        return pd.read_csv(p, dtype=str, keep_default_na=False, na_values=[""])
    raise InputError(f"{p}: unsupported file type (use .csv, .csv.gz or .parquet)")


def write_table(df: pd.DataFrame, path: str | Path) -> None:
    """Write CSV (optionally .gz) or Parquet by extension."""
    p = Path(path)
    name = p.name.lower()
    if name.endswith(_PARQUET):
        df.to_parquet(p, index=False)
    elif name.endswith((".csv", ".csv.gz")):
        df.to_csv(p, index=False)
    else:
        raise InputError(f"{p}: unsupported output type (use .csv, .csv.gz or .parquet)")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _trimmed(column: str) -> str:
    return f"TRIM({column}, {_literal(string.whitespace)})"


def _date_expr(column: str, kind: str) -> str | None:
    if kind == "VARCHAR":
        return f"TRY_CAST({_trimmed(column)} AS TIMESTAMP)"
    if kind == "DATE":
        return f"CAST({column} AS TIMESTAMP)"
    if kind in _TIMESTAMPS:
        return column
    return None  # zoned timestamps and other types: the Ibis path decides


def _amount_expr(column: str, kind: str) -> str | None:
    if kind == "VARCHAR":
        return f"TRY_CAST({_trimmed(column)} AS DOUBLE)"
    if kind in _NUMERIC or kind.startswith("DECIMAL"):
        return f"CAST({column} AS DOUBLE)"
    return None


def read_checked(
    path: Path, columns: Columns, *, returns: Literal["reject", "net"] = "reject"
) -> CheckedFile | None:
    """Read and validate a transaction file in one pass; None when its column types need the Ibis path.

    Raises :class:`InputError` naming the missing columns, the first rows (1-based data rows) with an
    unparseable date, a non-numeric amount, an empty field or (unless ``returns="net"``) a negative
    amount, in that order of precedence.
    """
    import duckdb
    import numpy as np

    if not path.exists():
        raise InputError(f"{path}: no such file")
    name = path.name.lower()
    if name.endswith(_PARQUET):
        source = f"read_parquet({_literal(str(path))})"
    elif name.endswith(_CSV):
        # Everything as text: dates and amounts are cast here so bad rows can be reported by number.
        source = f"read_csv({_literal(str(path))}, all_varchar = true, header = true, auto_detect = true)"
    else:
        raise InputError(f"{path}: unsupported file type (use .csv, .csv.gz or .parquet)")
    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")  # DuckDB draws it on stdout past two seconds
        # Names and paths enter the SQL only through `_ident` and `_literal`, which quote them.
        raw = con.sql(f"SELECT * FROM {source}")  # noqa: S608
        kinds = dict(zip(raw.columns, (str(t) for t in raw.types), strict=True))
        missing = [c for c in (columns.customer, columns.date, columns.amount) if c not in kinds]
        if missing:
            raise InputError(
                f"missing column(s): {', '.join(missing)} (available: {', '.join(raw.columns)})",
                {"missing": missing},
            )
        cust, date, amount = (_ident(c) for c in (columns.customer, columns.date, columns.amount))
        ts = _date_expr(date, kinds[columns.date])
        value = _amount_expr(amount, kinds[columns.amount])
        if ts is None or value is None:
            return None
        flags = (
            f"(CASE WHEN _date IS NOT NULL AND ts IS NULL THEN {_BAD_DATE} ELSE 0 END"
            f" | CASE WHEN _amount IS NOT NULL AND amount IS NULL THEN {_BAD_AMOUNT} ELSE 0 END"
            f" | CASE WHEN customer_id IS NULL OR _date IS NULL OR _amount IS NULL THEN {_EMPTY} ELSE 0 END"
            f" | CASE WHEN amount < 0 THEN {_NEGATIVE} ELSE 0 END)::UTINYINT AS flags"
        )
        # Customer ids keep their type (text from CSV), as on the Ibis path.
        table = con.sql(
            f"SELECT customer_id, ts, amount, {flags} FROM (SELECT {cust} AS customer_id, {ts} AS ts, "  # noqa: S608
            f"{value} AS amount, {date} AS _date, {amount} AS _amount FROM {source})"
        ).to_arrow_table()
    finally:
        con.close()
    bits = table.column("flags").to_numpy()
    seen = int(np.bitwise_or.reduce(bits)) if len(bits) else 0
    if seen & (_BAD_DATE | _BAD_AMOUNT | _EMPTY) or (seen & _NEGATIVE and returns == "reject"):
        _raise_first_problem(bits, seen, columns)
    return CheckedFile(table.drop_columns(["flags"]).combine_chunks(), bool(seen & _NEGATIVE))


def _raise_first_problem(bits: object, seen: int, columns: Columns) -> NoReturn:
    import numpy as np

    flags = np.asarray(bits)

    def rows(bit: int) -> list[int]:
        return [int(i) + 1 for i in np.flatnonzero(flags & bit)[:_MAX_ROWS_IN_ERROR]]

    if seen & _BAD_DATE:
        bad = rows(_BAD_DATE)
        raise InputError(
            f"column {columns.date!r}: unparseable dates in rows {bad}", {"column": columns.date, "rows": bad}
        )
    if seen & _BAD_AMOUNT:
        bad = rows(_BAD_AMOUNT)
        raise InputError(
            f"column {columns.amount!r}: non-numeric amounts in rows {bad}",
            {"column": columns.amount, "rows": bad},
        )
    if seen & _EMPTY:
        nulls = rows(_EMPTY)
        raise InputError(f"empty customer, date or amount in rows {nulls}", {"rows": nulls})
    neg = rows(_NEGATIVE)
    raise InputError(
        f"column {columns.amount!r}: negative amounts (returns) in rows {neg}; "
        "net them against purchases with returns='net' (--returns net) or remove them",
        {"column": columns.amount, "rows": neg},
    )
