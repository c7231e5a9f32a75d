"""The CLI benchmark (whole `loyalty` processes beside plain scripts) runs end to end on the sample."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "cli.py"


@pytest.mark.slow
def test_bench_cli_runs_once_on_the_sample() -> None:
    out = subprocess.run(
        [sys.executable, str(BENCH), "--small", "--runs", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "analytics clv vs lifetimes script" in out.stdout
    assert "r 0.2426 vs 0.2426" in out.stdout  # both fits land on the published estimate
