"""bench/churn.py runs end to end at a tiny size: both time splits, every score's AUC side by side."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import RunBench


@pytest.mark.slow
def test_churn_bench_runs_tiny(run_bench: RunBench) -> None:
    out = run_bench(
        "churn.py",
        "--retail-rows",
        "60000",
        "--members",
        "300",
        "--months",
        "12",
        "--no-jobs",
        "--no-pareto",
        "--no-reference",
    )
    text = out.stdout
    assert "Online Retail: " in text
    assert "demo chain: 300 members, 12 months" in text
    models = [float(a) for a in re.findall(r"churn model \(gradient boosting, ours\)\s+([\d.]+)", text)]
    alive = re.findall(r"1 − P\(alive\), BG/NBD \(the product's P\(alive\)\)\s+([\d.]+)", text)
    assert len(models) == 2, text
    assert len(alive) == 2, text
    assert models[0] > 0.65  # Online Retail: the model ranks churners well above a coin
    assert all(0.0 <= float(a) <= 1.0 for a in alive)
    assert len(re.findall(r"→ the model's AUC is [+-][\d.]+ beside P\(alive\)'s", text)) == 2
    assert (
        len(re.findall(r"next purchase date, mean error in days .*: purchase model [\d.]+, own rhythm", text))
        == 2
    )
