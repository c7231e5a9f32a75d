"""SQLite's multi-row inserts (`db.rows.write_rows`): every row lands once, whatever the count.

A statement carries at most `_MAX_BOUND_PARAMETERS // width` rows; the rows are sent in full
statements and a last, shorter one. The counts around those edges (none, fewer than a statement,
exactly one or two statements, and one row past) are where a chunking slip loses or repeats a row.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from loyalty.db.engine import make_engine
from loyalty.db.rows import _MAX_BOUND_PARAMETERS, write_rows

WIDTH = 3
PER = _MAX_BOUND_PARAMETERS // WIDTH


@pytest.mark.parametrize("count", [0, 1, PER - 1, PER, PER + 1, 2 * PER, 2 * PER + 7])
def test_every_row_lands_once(tmp_path: Path, count: int) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'rows.db'}")
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT, c INTEGER, kind TEXT)"))
            rows = ((i, f"r{i}", i * 2) for i in range(count))  # a generator, as an import hands them
            write_rows(conn, "t", ["a", "b", "c"], rows, {"kind": "k"})
        with engine.connect() as conn:
            got = conn.execute(text("SELECT a, b, c, kind FROM t ORDER BY a")).all()
        assert [tuple(r) for r in got] == [(i, f"r{i}", i * 2, "k") for i in range(count)]
    finally:
        engine.dispose()
