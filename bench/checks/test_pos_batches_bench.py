"""The shared-transaction benchmark runs end to end at a tiny size, on both backends."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import RunBench


@pytest.mark.slow
def test_bench_small_measures_each_size_on_both_backends(run_bench: RunBench) -> None:
    # `--small`'s sizes and members, with enough sales that PostgreSQL's CPU, which /proc counts in
    # ticks of 10 ms per process, is more than a tick at each size (20 sales alone could stay under one)
    args = ("--sizes", "1,5", "--sales-per-size", "200", "--members", "50", "--history", "2")
    out = run_bench("pos_batches.py", *args, timeout=180)
    assert "whatever its size" in out.stdout  # the fitted fixed and per-sale parts are printed
    results = json.loads(out.stderr.strip().splitlines()[-1])
    assert set(results) == {"sqlite", "postgresql"}
    for backend, result in results.items():
        assert result["history"] == 2  # each member had two sales before the timed ones
        sizes = result["sizes"]
        assert [r["size"] for r in sizes] == [1, 5]
        assert all(r["transactions"] > 0 and r["python_ms"] > 0 and r["wall_ms"] > 0 for r in sizes), backend
        fixed, per_sale = result["fit"]["python"]
        assert fixed + 5 * per_sale == pytest.approx(sizes[1]["python_ms"])  # a line through two sizes
    if sys.platform == "linux":  # PostgreSQL's processes' CPU is read from /proc
        assert all(r["database_ms"] > 0 for r in results["postgresql"]["sizes"])
    assert all(r["database_ms"] == 0 for r in results["sqlite"]["sizes"])
