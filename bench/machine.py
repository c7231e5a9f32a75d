"""A fixed CPU workload timed before and after every benchmark, so runs can be compared.

The benchmark machines are shared virtual machines whose speed varies from day to day, and within a
run (a factor of three has been seen, between the start and the end of one import benchmark). Seconds
and rows per second only compare between runs whose references agree before and after; a reference
that moved during a run says its figures mix two speeds. Two references, because they have been
seen to move apart (CPU as fast as ever while every database figure was three times slower): a
pure-Python loop, and small SQLite write transactions on a temporary file (page writes and syscalls).
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from pathlib import Path


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


def sqlite_commits_per_s(n: int = 2_000) -> float:
    """Small write transactions per second on a temporary SQLite file (WAL, synchronous=NORMAL)."""
    with tempfile.TemporaryDirectory() as tmp:
        db = sqlite3.connect(Path(tmp) / "reference.db", isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER, b TEXT)")
        db.execute("CREATE INDEX t_a ON t (a)")
        started = time.perf_counter()
        for i in range(n):
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO t (a, b) VALUES (?, ?)", (i * 7919 % 10_007, "x" * 40))
            db.execute("COMMIT")
        rate = n / (time.perf_counter() - started)
        db.close()
    return rate


def note(repeat: int = 3, when: str = "before") -> str:
    took = reference_s(repeat)
    commits = sqlite_commits_per_s()
    return (
        f"machine reference {when}: a 10M-addition Python loop took {took:.2f} s; "
        f"{commits:,.0f} small SQLite commits/s"
    )
