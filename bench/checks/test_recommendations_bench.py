"""bench/recommendations.py runs end to end at a tiny size: the holdout's table with every model, the
determinism check, and the endpoint's latencies beside its baselines."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import RunBench


@pytest.mark.slow
def test_recommendations_bench_runs_tiny(run_bench: RunBench) -> None:
    out = run_bench(
        "recommendations.py", "--retail-rows", "30000", "--seeded", "30", "--requests", "60", "--no-reference"
    )
    text = out.stdout
    assert "Online Retail:" in text
    for name in ("[blend]", "[als]", "[item_knn]", "[popular]"):
        assert re.search(rf"{re.escape(name)}\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[\d.]+%\s+[\d.]+$", text, re.M), (
            text
        )
    assert "factors identical" in text
    assert "ALS / popularity: precision@10 ×" in text
    latency = re.search(
        r"GET /members/\{id\}/recommendations\?limit=10\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", text
    )
    assert latency is not None, text
    assert "GET /health (baseline" in text
    assert "target (p99 ≤ 20 ms):" in text
