"""Exports: PII masked unless the role may see it, every export audited, segments skipped when absent."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from openpyxl import load_workbook
from sqlalchemy import select, text

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
    wb = load_workbook(tmp_path / "m.xlsx", read_only=True)
    ws = wb.worksheets[0]
    header = [c.value for c in next(ws.iter_rows(max_row=1))]
    phone_col = header.index("phone")
    first = [c.value for c in next(ws.iter_rows(min_row=2, max_row=2))]
    wb.close()  # a read-only workbook keeps its file open until closed
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


def test_segments_export_reads_member_scores(ctx: Context, small_chain_dir, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """After `analytics refresh`, segments export one row per scored member: names, action, P(alive),
    expected purchases and CLV with its currency, scored at; PII masked as in the other exports."""
    from decimal import Decimal

    from loyalty.analytics.store import refresh
    from loyalty.db.analytics_tables import member_scores

    files, _ = small_chain_dir
    import_file(ctx, "members", files.members, ImportOptions())
    import_file(ctx, "purchases", files.purchases, ImportOptions())
    scored = refresh(ctx.engine, now=ctx.now())
    assert scored > 0

    result = export(ctx, "segments", tmp_path / "seg.parquet", role="analyst")
    table = pq.read_table(tmp_path / "seg.parquet")
    assert result.rows == table.num_rows == scored
    assert table.column_names == [
        "member_id",
        "card_no",
        "phone",
        "name",
        "rfm_code",
        "segment",
        "segment_zh",
        "segment_en",
        "action_zh",
        "action_en",
        "recency_days",
        "frequency",
        "monetary",
        "p_alive",
        "expected_purchases",
        "clv",
        "currency",
        "model",
        "scored_at",
    ]
    rows = table.to_pylist()
    assert all("****" in r["phone"] and r["name"].endswith("*") for r in rows)
    assert {r["currency"] for r in rows} == {"CNY"}
    with ctx.engine.connect() as conn:
        stored = {r.member_id: r for r in conn.execute(select(member_scores))}
    for r in rows:
        s = stored[r["member_id"]]
        assert r["rfm_code"] == s.rfm_code
        assert r["segment_zh"]
        assert r["segment_en"]
        assert r["action_zh"]
        assert r["action_en"]
        assert r["monetary"] == Decimal(s.monetary_minor).scaleb(-2)  # yuan, exact
        assert r["clv"] == (None if s.clv_minor is None else Decimal(s.clv_minor).scaleb(-2))
        assert r["p_alive"] == s.p_alive
        assert r["scored_at"]
    assert any(r["clv"] is not None for r in rows)  # the purchase model fitted: CLV is exported
    best = next(r for r in rows if r["rfm_code"] == "222")
    assert (best["segment_zh"], best["segment_en"]) == ("重要价值客户", "High value")

    clear = export(ctx, "segments", tmp_path / "seg.csv", role="admin")
    assert not clear.masked
    text = (tmp_path / "seg.csv").read_text(encoding="utf-8-sig")
    assert "****" not in text.splitlines()[1]
