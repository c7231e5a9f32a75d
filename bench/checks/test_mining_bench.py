"""bench/mining.py runs end to end on Groceries (--small): every library finds the published counts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "mining.py"


@pytest.mark.slow
def test_mining_bench_runs_on_groceries() -> None:
    out = subprocess.run(
        [sys.executable, str(BENCH), "--small", "--runs", "1"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    text = out.stdout
    assert "Groceries: 9,835 baskets, 169 items" in text
    assert "    ours     " in text
    assert ", 13,492\n" in text
    assert ", 410\n" in text
    assert ", 5,668\n" in text
    assert "COUNTS DIFFER" not in text
    assert "targets met:" in text
