"""What every benchmark check does first: run one script of `bench/` as a process of its own, at a size
small enough for CI, and fail with everything it printed when it does not exit as expected."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Collection
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1]

RunBench = Callable[..., "subprocess.CompletedProcess[str]"]


def _run(
    script: str, *args: str, timeout: float = 300, codes: Collection[int] = (0,)
) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert out.returncode in codes, out.stdout + out.stderr
    return out


@pytest.fixture
def run_bench() -> RunBench:
    """`run_bench("api.py", "--small", timeout=300)`: the finished process (`stdout`, `stderr`)."""
    return _run
