"""Benchmark: what one shared POS transaction costs by its number of sales, on SQLite and PostgreSQL.

    .venv/bin/python bench/pos_batches.py                  # sizes 1, 2, 5, 10, 20; both backends
    .venv/bin/python bench/pos_batches.py --small          # a few seconds, for the smoke test

The server posts the sales that arrive together in one transaction (`services.posting`: the group
commit on SQLite, set-based batches on PostgreSQL). How many arrive together depends on the load, so
what a sale costs depends on what a transaction costs at each size. For each backend this seeds the
programme (`--programme realistic`: the 24 earning rules and the 满300减30 coupon on one sale in five
of `bench/api.py`), then writes transactions of each size exactly as the server's writer thread
does (the process's posting strategy, its `_write`), and prints per transaction and per sale the
CPU of this thread (the server's Python) and, on PostgreSQL, of the database's processes. A line
fitted through those figures splits a transaction's cost into what it costs whatever its size (the
fixed part) and what each sale adds: the fixed part is what a small batch, and a sale alone, pays.
No HTTP and no other thread take part, so the figures vary less than `bench/api.py`'s. `--history`
gives every member that many earlier sales first, in the tier window (whose spend each sale reads),
and then has the grown tables analyzed as a server's statistics watch would. The figures
also go to stderr as JSON (`bench/compare.py --same-script pos_batches.py` compares two trees).
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import machine
from api import pg_database, postgres_cpu_s, sale_requests, seed_chain, seed_history, strategy_jobs

DEFAULT_SIZES = (1, 2, 5, 10, 20)


@dataclass(frozen=True)
class SizeResult:
    """The cost of transactions of `size` sales: CPU milliseconds per transaction."""

    size: int
    transactions: int
    python_ms: float
    database_ms: float
    wall_ms: float


def bench_backend(name: str, url: str, args: argparse.Namespace) -> list[SizeResult]:
    from loyalty.bootstrap import Context
    from loyalty.services.posting.group_commit import GroupCommit
    from loyalty.services.posting.shared_transactions import SharedTransactions
    from loyalty.services.posting.strategy import strategy_for

    total_sales = len(args.sizes) * args.sales_per_size + 20 * sum(args.sizes)
    n_codes = total_sales // 5 + 1 if args.programme == "realistic" else 0
    store, _key, members, codes = seed_chain(url, args.members, args.programme, n_codes)
    if args.history:  # the tables analyzed after, as a server process's statistics watch would
        seed_history(url, store, members, args.history)
    # What is alive now stays out of the garbage collector's full passes, as a server process keeps
    # its start-up heap (`api.app`): else the first size measured pays for passes over it that a
    # server never makes (up to 15 % of its Python, the later sizes not).
    gc.collect()
    gc.freeze()
    ctx = Context.from_url(url)
    posting = strategy_for(ctx)
    if not isinstance(posting, SharedTransactions):
        raise SystemExit("batching is off (LOYALTY_API_GROUP_COMMIT): nothing to measure")
    if isinstance(posting, GroupCommit):
        posting.set_based_from = args.set_based_from
    rng = random.Random(7)
    pg = name == "postgresql"
    results = []
    try:
        for size in args.sizes:
            rounds = max(3, args.sales_per_size // size)
            for _ in range(20):  # warm: prepared statements, the catalogue, the rule book
                posting._write(strategy_jobs(posting, sale_requests(store, members, codes, size, rng)))
            batches = [
                strategy_jobs(posting, sale_requests(store, members, codes, size, rng)) for _ in range(rounds)
            ]
            python_s = wall_s = 0.0
            db_before = postgres_cpu_s() if pg else 0.0
            for jobs in batches:
                cpu, wall = time.thread_time(), time.perf_counter()
                outcomes = posting._write(jobs)
                python_s += time.thread_time() - cpu
                wall_s += time.perf_counter() - wall
                failed = [value for ok, value in outcomes if not ok or value is None]
                if failed:
                    raise SystemExit(f"{name}: a sale was not posted in its batch: {failed[0]!r}")
            db_s = postgres_cpu_s() - db_before if pg else 0.0
            per_txn = [1000 * seconds / rounds for seconds in (python_s, db_s, wall_s)]
            results.append(SizeResult(size, rounds, *per_txn))
    finally:
        ctx.engine.dispose()
    return results


def fixed_and_marginal(results: list[SizeResult], field: str) -> tuple[float, float]:
    """A least-squares line through (size, ms per transaction): (ms whatever the size, ms per sale)."""
    sizes = np.array([r.size for r in results], dtype=float)
    costs = np.array([getattr(r, field) for r in results], dtype=float)
    if len(set(sizes.tolist())) < 2:
        return float(costs.mean()), float("nan")
    marginal, fixed = np.polyfit(sizes, costs, 1)
    return float(fixed), float(marginal)


def report(
    name: str, args: argparse.Namespace, results: list[SizeResult], fits: dict[str, tuple[float, float]]
) -> None:
    pg = name == "postgresql"
    history = f", {args.history} earlier sales a member" if args.history else ""
    print(f"\n{name}, {args.programme} programme{history}: CPU per shared transaction of N sales")
    head = f"{'N':>4}{'txns':>7}{'Python ms':>11}{'per sale':>10}"
    if pg:
        head += f"{'PostgreSQL ms':>15}{'per sale':>10}"
    print(head + f"{'wall ms':>10}{'sales/s':>9}")
    for r in results:
        line = f"{r.size:>4}{r.transactions:>7}{r.python_ms:>11.2f}{r.python_ms / r.size:>10.3f}"
        if pg:
            line += f"{r.database_ms:>15.2f}{r.database_ms / r.size:>10.3f}"
        print(line + f"{r.wall_ms:>10.2f}{1000 * r.size / r.wall_ms:>9.0f}")
    parts = [("Python", "python")] + ([("PostgreSQL", "database")] if pg else [])
    for label, field in parts:
        fixed, marginal = fits[field]
        print(f"  {label}: {fixed:.2f} ms per transaction whatever its size, + {marginal:.3f} ms per sale")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--programme", choices=["base", "realistic"], default="realistic")
    ap.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)), help="sales per transaction")
    ap.add_argument("--sales-per-size", type=int, default=2000, help="sales written at each size")
    ap.add_argument("--members", type=int, default=500)
    ap.add_argument(
        "--history",
        type=int,
        default=0,
        help="earlier sales per member posted first: the tier window's spend then has rows to read",
    )
    ap.add_argument(
        "--set-based-from",
        type=int,
        default=None,
        help="SQLite: post groups of this many sales or more set-based, fewer sale by sale (default: as "
        "the group commit decides; 1: every group set-based; a size above --sizes: none)",
    )
    ap.add_argument("--small", action="store_true", help="a few seconds: sizes 1 and 5, 20 sales each")
    args = ap.parse_args()
    args.sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    if args.small:
        args.sizes, args.sales_per_size, args.members = [1, 5], 20, 50
    print(machine.note(when="before"))
    out: dict[str, dict[str, Any]] = {}
    for name in [b.strip() for b in args.backends.split(",") if b.strip()]:
        if name == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                results = bench_backend(name, f"sqlite:///{Path(tmp) / 'bench.db'}", args)
        elif name == "postgresql":
            url, drop = pg_database()
            try:
                results = bench_backend(name, url, args)
            finally:
                drop()
        else:
            raise SystemExit(f"unknown backend {name!r}")
        fits = {field: fixed_and_marginal(results, f"{field}_ms") for field in ("python", "database")}
        report(name, args, results, fits)
        sizes = [r.__dict__ for r in results]
        out[name] = {"programme": args.programme, "history": args.history, "sizes": sizes, "fit": fits}
    print(machine.note(when="after"))
    print(json.dumps(out), file=sys.stderr)  # for bench/compare.py and the bench check


if __name__ == "__main__":
    main()
