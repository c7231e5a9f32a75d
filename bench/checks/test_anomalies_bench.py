"""bench/anomalies.py runs end to end on a small chain (--small) and meets the issue's target:
recall ≥ 0.9 at precision ≥ 0.5 on the planted fraud, with its precision-recall curve."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import RunBench


@pytest.mark.slow
def test_anomaly_bench_meets_the_target(tmp_path: Path, run_bench: RunBench) -> None:
    page = tmp_path / "pr.html"
    out = run_bench("anomalies.py", "--small", "--out", str(page), timeout=600)
    text = out.stdout
    assert "planted 20 instances (5 of each of 4 patterns)" in text
    for method in ("rules only", "robust z only", "isolation forest only", "all (product)"):
        assert f"\n{method} " in text
    assert "← default rules" in text
    assert "targets met: yes" in text
    assert "rerun: 0 new" in text
    assert "<svg" in page.read_text(encoding="utf-8")
