"""Basket files: a long table of (basket, item) rows, or one basket per line (``basket-lines``).

``long`` is CSV (``.csv``, ``.csv.gz``, ``.txt``) with a header, or Parquet (``.parquet``, ``.pq``);
the basket and item columns are read as text, so stock codes such as ``85123A`` or ``00123`` stay as
written. ``basket-lines`` is text with one basket per line and items separated by commas, without a
header or quoting (R's ``read.transactions(format = "basket")``), gzip-compressed or not.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Literal

from loyalty.analytics.basket.errors import BasketInputError
from loyalty.analytics.basket.transactions import Baskets, from_basket_lines, from_columns

Format = Literal["long", "basket-lines"]
FORMATS: tuple[str, ...] = ("long", "basket-lines")
_CSV = (".csv", ".csv.gz", ".txt", ".txt.gz")
_PARQUET = (".parquet", ".pq")
OUTPUTS = (".csv", ".csv.gz", ".parquet", ".pq")


def _missing(path: Path) -> BasketInputError:
    return BasketInputError(None, "{path}: no such file", {"path": str(path)})


def read_basket_lines(path: str | Path) -> Baskets:
    """One basket per line, items separated by commas (gzip is recognised by its first bytes)."""
    p = Path(path)
    if not p.is_file():
        raise _missing(p)
    raw = p.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise BasketInputError(
                None, "{path}: not a readable gzip file ({reason})", {"path": str(p), "reason": str(exc)}
            ) from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise BasketInputError(
            None, "{path}, line {line}: not UTF-8 text", {"path": str(p), "line": line}
        ) from exc
    return from_basket_lines(text)


def read_long(path: str | Path, basket: str = "basket", item: str = "item") -> Baskets:
    """A long table with a header: one (basket, item) pair per row, in columns ``basket`` and ``item``."""
    import pyarrow as pa

    p = Path(path)
    if not p.is_file():
        raise _missing(p)
    name = p.name.lower()
    try:
        if name.endswith(_PARQUET):
            import pyarrow.parquet as pq

            table = pq.read_table(p)
        elif name.endswith(_CSV):
            from pyarrow import csv

            table = csv.read_csv(
                p,
                convert_options=csv.ConvertOptions(
                    column_types={basket: pa.string(), item: pa.string()}, strings_can_be_null=True
                ),
            )
        else:
            raise BasketInputError(
                None, "{path}: unsupported file type (use .csv, .csv.gz or .parquet)", {"path": str(p)}
            )
    except pa.ArrowInvalid as exc:
        raise BasketInputError(
            None,
            "{path}: cannot be read as a table with a header ({reason}); a file of one basket per line "
            "needs --format basket-lines",
            {"path": str(p), "reason": str(exc)},
        ) from exc
    for option, column in (("--basket", basket), ("--item", item)):
        if column not in table.column_names:
            raise BasketInputError(
                None,
                "{path} has no column {column} ({option}); its columns: {columns}",
                {
                    "path": str(p),
                    "column": column,
                    "option": option,
                    "columns": ", ".join(table.column_names),
                },
            )
    return from_columns(table.column(basket), table.column(item))


def read_baskets(path: str | Path, fmt: str = "long", basket: str = "basket", item: str = "item") -> Baskets:
    """Baskets from a file in format ``long`` or ``basket-lines``."""
    if fmt == "basket-lines":
        return read_basket_lines(path)
    if fmt == "long":
        return read_long(path, basket, item)
    raise BasketInputError(None, "unknown format {fmt}: use long or basket-lines", {"fmt": fmt})


def check_output(path: str | Path) -> None:
    """Refuse an output name whose type is unknown before any work is done."""
    if not Path(path).name.lower().endswith(OUTPUTS):
        raise BasketInputError(
            None, "{path}: unsupported output type (use .csv, .csv.gz or .parquet)", {"path": str(path)}
        )
