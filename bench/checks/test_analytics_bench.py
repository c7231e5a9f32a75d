"""The benchmark script runs end to end at a tiny size (the real run is manual: bench/analytics.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "analytics.py"


def test_bench_runs_tiny() -> None:
    res = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--customers",
            "2000",
            "--transactions",
            "20000",
            "--pareto-sample",
            "500",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    out = res.stdout
    for stage in ("summary + RFM", "BG/NBD fit", "Pareto/NBD fit", "Gamma-Gamma fit", "CLV (all customers)"):
        assert stage in out
    assert "linear scaling" in out
    assert "peak RSS" in out
