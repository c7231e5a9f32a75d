"""The import benchmark runs end to end at a tiny size, its row-by-row baseline included.

The baseline posts each generated order through the live service; when the generator began to write
walk-in sales without a card, only a run of the benchmark showed that the baseline could not post them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import RunBench


@pytest.mark.slow
def test_bench_runs_tiny(run_bench: RunBench) -> None:
    out = run_bench("import.py", "--lines", "3000", "--baseline-lines", "600")
    assert "naive row-by-row" in out.stdout
    assert "sqlite" in out.stdout
    assert "with 23 earning rules" in out.stdout  # the same import with a programme's rules, beside
