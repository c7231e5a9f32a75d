"""The POS benchmark still runs end to end (server process + separate load process), tiny and SQLite-only."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import RunBench


@pytest.mark.slow
def test_bench_small_runs_without_errors(run_bench: RunBench) -> None:
    out = run_bench(
        "api.py",
        "--small",
        "--backends",
        "sqlite",
        "--duration",
        "1",
        "--concurrency",
        "4",
        "--programme",
        "realistic",  # the 24 earning rules: the engine on the POS path, end to end
        timeout=120,
    )
    assert "purchases/s" in out.stdout
    results = json.loads(out.stderr.strip().splitlines()[-1])
    assert results[0]["backend"] == "sqlite"
    assert results[0]["programme"] == "realistic"
    assert results[0]["requests"] > 0
    assert results[0]["errors"] == {}
    assert results[0]["coupon_sales"] > 0  # one sale in five brings a 满减 coupon, used without a refusal
    assert results[0]["quotes"] > 0  # tills quoting beside the sales, timed apart
    # the slowest answer of each second of the measured window (the --small window is 2 s)
    assert len(results[0]["slowest_ms_by_second"]) == 2
    assert all(ms > 0 for ms in results[0]["slowest_ms_by_second"])
    assert "slowest answer in each second of the window" in out.stdout
    assert results[0]["workers"] == 1  # one process on SQLite unless asked
    cpu = results[0]["cpu_ms_per_purchase"]
    if sys.platform == "linux":  # read from /proc
        assert cpu["server"] > 0
        assert cpu["load"] > 0
    assert cpu["database"] == 0  # SQLite's work is the server's
