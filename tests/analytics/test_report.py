"""The HTML report renders with its four plots embedded."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from loyalty.cli import app


def test_report_from_file(cdnow_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    res = CliRunner().invoke(
        app,
        [
            "analytics",
            "report",
            "-o",
            str(out),
            "--input",
            str(cdnow_path),
            "--calibration-end",
            "1997-09-30",
        ],
    )
    assert res.exit_code == 0, res.output
    html = out.read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == 5
    assert "重要价值客户" in html
    assert "High value" in html
    assert "<th>r</th><td>0.24259" in html  # the fitted r (published 0.243)
