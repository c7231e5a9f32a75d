"""bench/mining.py runs end to end on Groceries (--small): every library finds the published counts."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import RunBench


@pytest.mark.slow
def test_mining_bench_runs_on_groceries(run_bench: RunBench) -> None:
    out = run_bench("mining.py", "--small", "--runs", "1", timeout=600)
    text = out.stdout
    assert "Groceries: 9,835 baskets, 169 items" in text
    assert "    ours     " in text
    assert ", 13,492\n" in text
    assert ", 410\n" in text
    assert ", 5,668\n" in text
    assert "COUNTS DIFFER" not in text
    assert "targets met:" in text
