"""bench/clusters.py runs end to end at a tiny size: every method finds the planted personas."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import RunBench


@pytest.mark.slow
def test_clusters_bench_runs_tiny(run_bench: RunBench) -> None:
    out = run_bench("clusters.py", "--members", "1000", "--exact-members", "400", "--no-reference")
    text = out.stdout
    assert "1,000 synthetic members" in text
    rows = re.findall(r"^  (ours|per-k)[^\n]*MiB  k=(\d)  ARI ([\d.]+)$", text, re.M)
    assert len(rows) == 4, text
    assert all(k == "4" for _who, k, _ari in rows), text
    assert float(rows[0][2]) > 0.95  # ours, on the planted personas
    assert "faster than the exact silhouette" in text
