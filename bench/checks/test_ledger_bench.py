"""The ledger benchmark runs end to end at a tiny size (SQLite and, when present, PostgreSQL)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import RunBench


@pytest.mark.slow
def test_bench_runs_tiny(run_bench: RunBench) -> None:
    out = run_bench("ledger.py", "--members", "200", "--purchases", "100", timeout=180)
    assert "purchases/s" in out.stdout
    assert "peak memory" in out.stdout
