"""The CLI benchmark (whole `loyalty` processes beside plain scripts) runs end to end on the sample."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import RunBench


@pytest.mark.slow
def test_bench_cli_runs_once_on_the_sample(run_bench: RunBench) -> None:
    out = run_bench("cli.py", "--small", "--runs", "1")
    assert "analytics clv vs lifetimes script" in out.stdout
    assert "r 0.2426 vs 0.2426" in out.stdout  # both fits land on the published estimate
