"""The benchmark script runs end to end at a tiny size (the real run is manual: bench/analytics.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import RunBench


def test_bench_runs_tiny(run_bench: RunBench) -> None:
    res = run_bench(
        "analytics.py",
        "--customers",
        "2000",
        "--transactions",
        "20000",
        "--pareto-sample",
        "500",
        timeout=120,
    )
    out = res.stdout
    for stage in ("summary + RFM", "BG/NBD fit", "Pareto/NBD fit", "Gamma-Gamma fit", "CLV (all customers)"):
        assert stage in out
    assert "linear scaling" in out
    assert "peak RSS" in out
