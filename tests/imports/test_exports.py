"""Exports: PII masked unless the role may see it, every export audited, segments skipped when absent."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from openpyxl import load_workbook
from sqlalchemy import text

from loyalty.bootstrap import Context
from loyalty.exports.service import ExportUnavailable, export
from loyalty.imports.runner import ImportOptions, import_file


def test_exports_mask_and_audit(ctx: Context, small_chain_dir, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    files, _ = small_chain_dir
    import_file(ctx, "members", files.members, ImportOptions())
    import_file(ctx, "purchases", files.purchases, ImportOptions())

    masked = export(ctx, "members", tmp_path / "m.parquet", role="analyst")
    table = pq.read_table(tmp_path / "m.parquet")
    assert masked.rows == table.num_rows == 120
    assert all("****" in p for p in table.column("phone").to_pylist())
    assert all(n.endswith("*") for n in table.column("name").to_pylist())

    clear = export(ctx, "members", tmp_path / "m.xlsx", role="admin")
    assert not clear.masked
    ws = load_workbook(tmp_path / "m.xlsx", read_only=True).worksheets[0]
    header = [c.value for c in next(ws.iter_rows(max_row=1))]
    phone_col = header.index("phone")
    first = [c.value for c in next(ws.iter_rows(min_row=2, max_row=2))]
    assert str(first[phone_col]).startswith("+86")
    assert "*" not in str(first[phone_col])

    purchases = export(ctx, "purchases", tmp_path / "p.csv")
    assert purchases.rows > 0
    statements = export(ctx, "statements", tmp_path / "s.csv")
    assert statements.rows > 0
    with pytest.raises(ExportUnavailable):
        export(ctx, "segments", tmp_path / "seg.csv")

    with ctx.engine.connect() as conn:
        actions = [
            r[0]
            for r in conn.execute(
                text("SELECT action FROM audit_log WHERE action LIKE 'export.%' ORDER BY id")
            )
        ]
    assert actions == ["export.members", "export.members", "export.purchases", "export.statements"]
