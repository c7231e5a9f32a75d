"""Run a benchmark on this tree and on an earlier commit side by side, alternating, in one run.

    .venv/bin/python bench/compare.py --baseline-ref HEAD ledger.py --small
    .venv/bin/python bench/compare.py --baseline-ref HEAD --rounds 3 api.py --small
    .venv/bin/python bench/compare.py --baseline-ref main import.py --lines 1000000
    .venv/bin/python bench/compare.py --baseline-ref main --same-script pos_batches.py --backends postgresql
    .venv/bin/python bench/compare.py --baseline-ref 4393fbd --this-args="--programme base --quoters 0" api.py
    .venv/bin/python bench/compare.py --baseline-ref 4393fbd --same-script api.py --programme base --quoters 0

The earlier commit is checked out into a temporary `git worktree` (removed afterwards); each round
runs the benchmark script of the baseline's tree with its own `src` first on the import path and
this tree's, so both see the same phase of a shared machine (whose speed drifts within minutes, see
`machine.py`). Which of the two runs first swaps every round (give an even `--rounds`): the run
second in a round measured 4–11 % slower than the first with the same code on both sides. The
figures each benchmark prints are parsed and shown per round, with the ratio of the medians (this
tree ÷ baseline; for a time, below 1 is faster, for a rate above 1). `--this-args` go to this
tree's script only: options the baseline's script did not have yet, such as the POS benchmark's
programme and quoting tills, set to what the baseline did without them. With `--same-script` both
sides run this tree's benchmark script, each with its own `src`: the code is then all that
differs, not how the benchmark drives it (its load driver, its seeding), which has changed over
time too; the script's arguments then go to both. A script that starts processes of its own (the
import's command, the API's server) must start them with the `src` on PYTHONPATH, not its own tree's;
`import.py --data DIR --without-cashier` also has both sides import the very same files.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: figure name -> (value, True when higher is better)
Figures = dict[str, tuple[float, bool]]


def _import_figures(out: str) -> Figures:
    found: Figures = {}
    for backend, seconds in re.findall(
        r"^(sqlite|postgresql)\s+import purchases:\s+[\d,]+ lines in\s+([\d.]+) s", out, re.M
    ):
        found[f"{backend} import (s)"] = (float(seconds), False)
    return found


_LEDGER_ROWS = {
    "purchases/s, 3-line basket, 1 txn each": ("purchases/s, 1 txn", True),
    "purchases/s, batches of 100, 1 txn each": ("purchases/s, batches of 100", True),
    "purchases/s, set-based batch of one each": ("purchases/s, set-based batch of one", True),
    "expiry job": ("expiry (s)", False),
    "tier evaluation,": ("tiers (s)", False),
    "tier evaluation a month on": ("tiers a month on (s)", False),
}


def _ledger_figures(out: str) -> Figures:
    found: Figures = {}
    for line in out.splitlines():
        for head, (name, higher) in _LEDGER_ROWS.items():
            if line.startswith(head):
                numbers = re.findall(r"\d[\d,]*\.?\d*", line[len(head) :])
                if head == "expiry job" or head == "tier evaluation,":
                    numbers = numbers[1:]  # the member count in the label
                if len(numbers) >= 2:
                    found[f"SQLite {name}"] = (float(numbers[0].replace(",", "")), higher)
                    found[f"PostgreSQL {name}"] = (float(numbers[1].replace(",", "")), higher)
    return found


def _api_figures(out: str) -> Figures:
    found: Figures = {}
    last = [line for line in out.splitlines() if line.startswith("[{")]
    if not last:
        return found
    for run in json.loads(last[-1]):
        # each backend and programme of a `--programme both` run apart (the base programme unnamed)
        name = (
            run["backend"]
            if run.get("programme", "base") == "base"
            else f"{run['backend']} {run['programme']}"
        )
        found[f"{name} req/s"] = (float(run["throughput"]), True)
        found[f"{name} p99 ms"] = (float(run["p99_ms"]), False)
        cpu = run.get("cpu_ms_per_purchase", {})
        if cpu.get("server") is not None:
            found[f"{name} server CPU ms/purchase"] = (float(cpu["server"]), False)
        if cpu.get("database"):  # PostgreSQL's processes (SQLite runs inside the server)
            found[f"{name} database CPU ms/purchase"] = (float(cpu["database"]), False)
        if cpu.get("load"):  # the same work in every tree: how fast the machine ran that round
            found[f"{name} load driver CPU ms/purchase"] = (float(cpu["load"]), False)
        if run.get("quotes"):
            found[f"{name} quote p99 ms"] = (float(run["quote_p99_ms"]), False)
    return found


def _pos_batches_figures(out: str) -> Figures:
    found: Figures = {}
    last = [line for line in out.splitlines() if line.startswith('{"')]
    if not last:
        return found
    for backend, result in json.loads(last[-1]).items():
        parts = [("Python", "python")] + ([("PostgreSQL", "database")] if backend == "postgresql" else [])
        for row in result["sizes"]:
            for label, field in parts:
                found[f"{backend} {row['size']} a txn, {label} ms"] = (float(row[f"{field}_ms"]), False)
        for label, field in parts:
            fixed, per_sale = result["fit"][field]
            found[f"{backend} {label} ms a txn, fixed"] = (float(fixed), False)
            found[f"{backend} {label} ms a txn, per sale"] = (float(per_sale), False)
    return found


PARSERS: dict[str, Callable[[str], Figures]] = {
    "import.py": _import_figures,
    "ledger.py": _ledger_figures,
    "api.py": _api_figures,
    "pos_batches.py": _pos_batches_figures,
}


def _run(tree: Path, script: str, args: list[str], script_tree: Path | None = None) -> str:
    """Run `script` of `script_tree` (default: `tree`'s own) with `tree`'s `src` first on the path."""
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    done = subprocess.run(
        [sys.executable, str((script_tree or tree) / "bench" / script), *args],
        env=env,
        cwd=tree,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"{script} failed in {tree} (exit {done.returncode})")
    return done.stdout + done.stderr  # api.py writes its figures as JSON on stderr


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline-ref", default="HEAD", help="the commit to compare with (default HEAD)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds, best even (default 2)")
    parser.add_argument(
        "--this-args", default="", help="arguments for this tree's script only, as one string"
    )
    parser.add_argument(
        "--same-script", action="store_true", help="both sides run this tree's benchmark script"
    )
    parser.add_argument("script", choices=sorted(PARSERS))
    parser.add_argument("args", nargs=argparse.REMAINDER, help="the benchmark's own arguments")
    opts = parser.parse_args()
    parse = PARSERS[opts.script]
    this_args = shlex.split(opts.this_args)
    with tempfile.TemporaryDirectory(prefix="loyalty-baseline-") as tmp:
        base = Path(tmp) / "tree"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base), opts.baseline_ref],
            check=True,
            capture_output=True,
        )
        try:
            sides: dict[str, list[Figures]] = {"baseline": [], "this tree": []}
            sides_in_order = (("baseline", base, []), ("this tree", ROOT, this_args))
            for round_no in range(1, opts.rounds + 1):
                # Who runs first swaps every round: the second run of a round measured slower than
                # the first with the same code on both sides (see the module docstring).
                for side, tree, extra in sides_in_order if round_no % 2 else sides_in_order[::-1]:
                    script_tree = ROOT if opts.same_script else None
                    figures = parse(_run(tree, opts.script, [*opts.args, *extra], script_tree))
                    sides[side].append(figures)
                    shown = ", ".join(f"{k} {v:,.2f}" for k, (v, _) in figures.items())
                    print(f"round {round_no} {side}: {shown}", flush=True)
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)],
                check=False,
                capture_output=True,
            )
    _summary(sides, opts.baseline_ref)


def _summary(sides: dict[str, list[Figures]], ref: str) -> None:
    names = [name for name in sides["baseline"][0] if all(name in f for f in sides["this tree"])]
    print(f"\nmedian of {len(sides['baseline'])} rounds; baseline = {ref}")
    print(f"{'figure':<44}{'baseline':>12}{'this tree':>12}{'ratio':>8}  better")
    for name in names:
        base = statistics.median(f[name][0] for f in sides["baseline"])
        mine = statistics.median(f[name][0] for f in sides["this tree"])
        higher = sides["baseline"][0][name][1]
        ratio = mine / base if base else float("nan")
        print(f"{name:<44}{base:>12,.2f}{mine:>12,.2f}{ratio:>8.3f}  {'higher' if higher else 'lower'}")


if __name__ == "__main__":
    main()
