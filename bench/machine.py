"""A fixed CPU workload timed before and after every benchmark, so runs can be compared.

The benchmark machines are shared virtual machines whose speed varies from day to day, and within a
run (a factor of three has been seen, between the start and the end of one import benchmark). Seconds
and rows per second only compare between runs whose references agree before and after; a reference
that moved during a run says its figures mix two speeds. It times the CPU only: database and disk work
can slow down differently.
"""

from __future__ import annotations

import time


def reference_s(repeat: int = 3) -> float:
    """Best of `repeat` timings of a pure-Python loop of 10,000,000 additions."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        total = 0
        for i in range(10_000_000):
            total += i
        best = min(best, time.perf_counter() - started)
    return best


def note(repeat: int = 3, when: str = "before") -> str:
    took = reference_s(repeat)
    return f"machine reference {when}: a 10M-addition Python loop took {took:.2f} s"
