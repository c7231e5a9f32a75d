"""The ledger benchmark runs end to end at a tiny size (SQLite and, when present, PostgreSQL)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "ledger.py"


@pytest.mark.slow
def test_bench_runs_tiny() -> None:
    out = subprocess.run(
        [sys.executable, str(BENCH), "--members", "200", "--purchases", "100"],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    assert "purchases/s" in out.stdout
    assert "peak memory" in out.stdout
