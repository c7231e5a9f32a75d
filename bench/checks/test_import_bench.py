"""The import benchmark runs end to end at a tiny size, its row-by-row baseline included.

The baseline posts each generated order through the live service; when the generator began to write
walk-in sales without a card, only a run of the benchmark showed that the baseline could not post them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "import.py"


@pytest.mark.slow
def test_bench_runs_tiny() -> None:
    out = subprocess.run(
        [sys.executable, str(BENCH), "--lines", "3000", "--baseline-lines", "600"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "naive row-by-row" in out.stdout
    assert "sqlite" in out.stdout
    assert "with 23 earning rules" in out.stdout  # the same import with a programme's rules, beside
