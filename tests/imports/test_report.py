"""Reject files keep line, reason and the original row; the summary adds up."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow as pa
from rich.console import Console

from loyalty.imports.report import Summary, default_reject_path, write_rejects


def test_reject_file_round_trips_chinese_text(tmp_path: Path) -> None:
    rejects = pa.table(
        {
            "_line": pa.array([3, 7], pa.int64()),
            "reason": ["bad_phone", "unknown_store"],
            "detail": ["phone 123", "store XX"],
            "手机号": ["123", "13800138000"],
            "门店": ["SH01", "XX"],
        }
    )
    path = write_rejects(tmp_path / "out" / "r.csv", rejects)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel needs the BOM to show Chinese
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows == [
        {"line": "3", "reason": "bad_phone", "detail": "phone 123", "手机号": "123", "门店": "SH01"},
        {"line": "7", "reason": "unknown_store", "detail": "store XX", "手机号": "13800138000", "门店": "XX"},
    ]


def test_default_reject_path_sits_next_to_the_source() -> None:
    assert default_reject_path("/data/sales.csv.gz") == Path("/data/sales.rejects.csv")
    assert default_reject_path("members.xlsx") == Path("members.rejects.csv")


def test_summary_renders_reasons() -> None:
    s = Summary(
        kind="purchases",
        source="x.csv",
        read=10,
        imported=7,
        rejected=2,
        duplicates=1,
        reasons={"bad_phone": 2},
    )
    console = Console(record=True, width=120)
    s.render(console)
    text = console.export_text()
    assert "bad_phone" in text
    assert "rejected" in text
    assert not s.ok
    assert s.as_dict()["read"] == 10
