"""Benchmark: clustering members (loyalty.analytics.clusters) beside the textbook scikit-learn way.

    .venv/bin/python bench/clusters.py            # 1,000,000 synthetic members (issue #26: ≤ 30 s)
    .venv/bin/python bench/clusters.py --small    # 100,000 members
    .venv/bin/python bench/clusters.py --members 1000 --exact-members 400 --no-reference  # smoke test

The members are synthetic, four planted personas (`loyalty.analytics.clusters.synthetic`), about
fourteen purchases each; making them is not timed. **Ours** runs the whole pipeline: the features in
DuckDB from the purchases (a window and two GROUP BYs), the log scales and robust scaling, k chosen
from 2…8 by the silhouette (k-means on a 50,000-member sample, every k scored on one 8,000-member
sub-sample) and the fit of every member, then the profiles.

Two baselines, each in the same run and on our scaled features (their feature work is not timed):

* **per-k k-means, sampled silhouette**: what an analyst writes first: for each k, scikit-learn's
  ``KMeans`` on every member, then ``silhouette_score(sample_size=8000)``; on as many members as ours;
* **exact**: the same with the exact silhouette of every member (O(n²)), on ``--exact-members``
  members only (it cannot run on a million), beside ours on the same members.

Each measurement runs in a fresh child process forked after the data are made and reports its time
and its peak memory above what the child started with (its resident high-water mark). The ARI column
is the adjusted Rand index of the clusters against the planted personas (1: found exactly).
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import machine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from loyalty.analytics.clusters import cluster_members, member_features, synthetic  # noqa: E402
from loyalty.analytics.clusters.design import Scaler, transformed  # noqa: E402
from loyalty.analytics.clusters.model import K_RANGE, SEED, SILHOUETTE_SAMPLE  # noqa: E402

TARGET_S = 30.0
MEMBERS = 1_000_000


def _child(conn: Any, fn: Callable[[], dict[str, Any]]) -> None:
    start_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        started = time.perf_counter()
        out = fn()
        out["seconds"] = time.perf_counter() - started
        out["peak"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - start_rss) * 1024
        conn.send(("ok", out))
    except Exception as exc:  # a baseline that fails is reported, not fatal to the run
        conn.send(("error", {"error": type(exc).__name__ + ": " + str(exc)[:200]}))
    conn.close()


def measure(fn: Callable[[], dict[str, Any]], timeout: float) -> tuple[str, dict[str, Any]]:
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, fn))
    proc.start()
    child.close()
    if not parent.poll(timeout):
        proc.kill()
        proc.join()
        return ("timeout", {"error": f"over {timeout:.0f} s"})
    try:
        result: tuple[str, dict[str, Any]] = parent.recv()
    except EOFError:
        result = ("crashed", {"error": f"exit code {proc.exitcode}"})
    proc.join()
    return result


def _ari(truth: np.ndarray, labels: np.ndarray) -> float:
    from sklearn.metrics import adjusted_rand_score

    return float(adjusted_rand_score(truth, labels))


def ours(data: synthetic.Synthetic) -> dict[str, Any]:
    """The whole pipeline, stage by stage."""
    stages: dict[str, float] = {}
    t = time.perf_counter()
    features = member_features(data.visits, data.spend, as_of=data.as_of, joined=data.joined)
    stages["features"] = time.perf_counter() - t
    t = time.perf_counter()
    run = cluster_members(features)
    stages["scale, choose k, fit, profile"] = time.perf_counter() - t
    return {"k": run.k, "ari": _ari(data.persona, run.labels.to_numpy()), "stages": stages}


def scaled(data: synthetic.Synthetic) -> np.ndarray:
    features = member_features(data.visits, data.spend, as_of=data.as_of, joined=data.joined)
    t = transformed(features)
    return Scaler.fit(t).transform(t)


def per_k(x: np.ndarray, truth: np.ndarray, sample: int | None) -> dict[str, Any]:
    """scikit-learn's KMeans for every k on every member, scored by silhouette_score."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    best: tuple[float, int, np.ndarray] | None = None
    for k in range(K_RANGE[0], K_RANGE[1] + 1):
        labels = KMeans(n_clusters=k, random_state=SEED).fit(x).labels_
        score = float(silhouette_score(x, labels, sample_size=sample, random_state=SEED))
        if best is None or score > best[0]:
            best = (score, k, labels)
    assert best is not None
    return {"k": best[1], "ari": _ari(truth, best[2])}


def ours_on_matrix(x: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    from loyalty.analytics.clusters import MemberClusters

    model = MemberClusters().fit(x)
    return {"k": model.k_, "ari": _ari(truth, model.labels_)}


def fmt_s(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if seconds < 1 else f"{seconds:,.2f} s"


def row(name: str, result: tuple[str, dict[str, Any]]) -> str:
    status, r = result
    if status != "ok":
        return f"  {name:<44} {status}: {r.get('error')}"
    return (
        f"  {name:<44} {fmt_s(r['seconds']):>10}  {r['peak'] / 2**20:>9,.0f} MiB"
        f"  k={r['k']}  ARI {r['ari']:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="100,000 members")
    parser.add_argument("--members", type=int, default=None, help="members to cluster (default 1,000,000)")
    parser.add_argument(
        "--exact-members", type=int, default=20_000, help="members for the exact-silhouette baseline"
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds one measurement may take")
    parser.add_argument("--no-reference", action="store_true", help="skip the machine's reference timings")
    args = parser.parse_args()
    n = args.members or (100_000 if args.small else MEMBERS)
    # loaded once here, as a serving process has them: no child times an import (importing starts no
    # OpenMP threads, so forking after it is safe)
    import duckdb  # noqa: F401
    import sklearn.cluster
    import sklearn.metrics  # noqa: F401

    if not args.no_reference:
        print(machine.note(when="before"))
    started = time.perf_counter()
    data = synthetic.members(n, seed=1)
    print(
        f"\n{n:,} synthetic members, {data.visits.num_rows:,} purchases, {data.spend.num_rows:,} "
        f"(member, category) spend rows; made in {fmt_s(time.perf_counter() - started)} (not timed)"
    )
    print(f"  {'':<44} {'time':>10}  {'peak mem':>13}")

    mine = measure(lambda: ours(data), args.timeout)
    print(row("ours: features → scaling → k → fit → profiles", mine))
    if mine[0] == "ok":
        for stage, seconds in mine[1]["stages"].items():
            print(f"    {stage:<42} {fmt_s(seconds):>10}")
    x = scaled(data)
    base = measure(lambda: per_k(x, data.persona, SILHOUETTE_SAMPLE), args.timeout)
    print(row(f"per-k KMeans, silhouette on {SILHOUETTE_SAMPLE:,} (no features)", base))

    m = min(args.exact_members, n)
    small = synthetic.members(m, seed=2)
    xs = scaled(small)
    print(f"\n{m:,} synthetic members, on the same scaled features (features not timed)")
    fast = measure(lambda: ours_on_matrix(xs, small.persona), args.timeout)
    exact = measure(lambda: per_k(xs, small.persona, None), args.timeout)
    print(row("ours: choose k, fit", fast))
    print(row("per-k KMeans, exact silhouette", exact))

    met = mine[0] == "ok" and mine[1]["seconds"] <= TARGET_S
    if n >= MEMBERS:
        print(f"\ntarget (≤ {TARGET_S:.0f} s for {MEMBERS:,} members): {'met' if met else 'NOT MET'}")
    if mine[0] == "ok" and base[0] == "ok":
        whole, model = mine[1]["seconds"], sum(v for k, v in mine[1]["stages"].items() if k != "features")
        print(
            f"on {n:,}: ours {base[1]['seconds'] / whole:.1f}× faster than per-k KMeans with the features, "
            f"{base[1]['seconds'] / model:.1f}× without"
        )
    if fast[0] == "ok" and exact[0] == "ok":
        print(
            f"on {m:,}: ours {exact[1]['seconds'] / fast[1]['seconds']:.1f}× faster than the exact silhouette"
        )
    if not args.no_reference:
        print(machine.note(when="after"))


if __name__ == "__main__":
    main()
