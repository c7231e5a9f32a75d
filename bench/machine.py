"""A fixed CPU workload timed beside every benchmark, so figures from different days can be compared.

The benchmark machines are shared virtual machines whose speed varies from day to day (by a factor of
three has been seen). Seconds and rows per second only compare between runs when this reference does.
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


def note(repeat: int = 3) -> str:
    took = reference_s(repeat)
    return f"machine reference: a 10M-addition Python loop took {took:.2f} s (compare runs by it)"
