"""Benchmark: the `loyalty` command as a user runs it, whole processes, beside plain scripts.

    .venv/bin/python bench/cli.py            # CDNOW-sized: 23,570 customers / 69,659 transactions
    .venv/bin/python bench/cli.py --small    # the 1/10 CDNOW sample itself: 2,357 / 6,919

A command's time is what the person at the terminal waits for: interpreter start-up, imports, reading
the file, the fit and writing the output. So each row times a whole process (the median of a few
runs): `loyalty --help`, `loyalty analytics clv` beside a plain lifetimes script doing the same fit
(BG/NBD + Gamma-Gamma + CLV on the calibration period, written to CSV), and `loyalty analytics rfm`
beside a plain pandas RFM script.

The CDNOW-sized file is the public 1/10 CDNOW sample (see /work/shared/data/SOURCES.md) repeated ten
times under new customer ids, with amounts jittered, plus same-day second orders drawn at random until
it has the master file's 69,659 rows: the master file's size and shape, the sample's statistics.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

import machine

ROOT = Path(__file__).resolve().parents[1]
DATA_DIRS = [Path("/work/shared/data"), ROOT.parent / "shared" / "data", ROOT / "shared" / "data"]
CDNOW_MASTER = (23_570, 69_659)  # customers, transactions in the full CDNOW master file
CALIBRATION_END = "1997-09-30"  # weeks 1-39, as in Fader, Hardie & Lee (2005)

LIFETIMES_SCRIPT = """
import json, sys
import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter
from lifetimes.utils import summary_data_from_transaction_data

src, out, cal = sys.argv[1:4]
tx = pd.read_csv(src, dtype={"customer_id": str}, parse_dates=["date"])
tx = tx[tx["date"] <= cal]
s = summary_data_from_transaction_data(
    tx, "customer_id", "date", monetary_value_col="amount", observation_period_end=cal,
    freq="D", freq_multiplier=7,
)
bgf = BetaGeoFitter().fit(s["frequency"], s["recency"], s["T"])
rep = s[(s["frequency"] > 0) & (s["monetary_value"] > 0)]
ggf = GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"])
s["p_alive"] = bgf.conditional_probability_alive(s["frequency"], s["recency"], s["T"])
s["expected_purchases"] = bgf.conditional_expected_number_of_purchases_up_to_time(
    12 * 4.345, s["frequency"], s["recency"], s["T"]
)
s["expected_avg_value"] = ggf.conditional_expected_average_profit(s["frequency"], s["monetary_value"])
s["clv"] = ggf.customer_lifetime_value(
    bgf, s["frequency"], s["recency"], s["T"], s["monetary_value"], time=12, discount_rate=0.01, freq="W"
)
s.reset_index().to_csv(out, index=False)
print(json.dumps({"r": float(bgf.params_["r"]), "n": len(s)}))
"""

PANDAS_RFM_SCRIPT = """
import sys
import pandas as pd

src, out = sys.argv[1:3]
tx = pd.read_csv(src, dtype={"customer_id": str}, parse_dates=["date"])
as_of = tx["date"].max()
g = tx.groupby("customer_id")
r = pd.DataFrame({
    "recency_days": (as_of - g["date"].max()).dt.days,
    "frequency": g["date"].nunique(),
    "monetary": g["amount"].sum(),
})
r["r_score"] = pd.qcut(r["recency_days"].rank(method="first", ascending=False), 5, labels=False) + 1
r["f_score"] = pd.qcut(r["frequency"].rank(method="first"), 5, labels=False) + 1
r["m_score"] = pd.qcut(r["monetary"].rank(method="first"), 5, labels=False) + 1
r["rfm_code"] = r["r_score"].astype(str) + r["f_score"].astype(str) + r["m_score"].astype(str)
r.reset_index().to_csv(out, index=False)
"""


def cdnow_sample() -> Path:
    for d in DATA_DIRS:
        if (d / "cdnow_sample.csv").exists():
            return d / "cdnow_sample.csv"
    sys.exit("bench/cli.py: cdnow_sample.csv not found in " + ", ".join(map(str, DATA_DIRS)))


def cdnow_sized(sample: Path, copies: int, target_rows: int, seed: int = 21) -> pd.DataFrame:
    """`copies` copies of the sample under new ids (amounts jittered), then same-day second orders."""
    rng = np.random.default_rng(seed)
    base = pd.read_csv(sample, dtype={"customer_id": str})
    parts = []
    for k in range(copies):
        part = base.copy()
        part["customer_id"] = f"{k}" + part["customer_id"]
        if k:
            jitter = rng.lognormal(0.0, 0.1, len(part))
            part["amount"] = (part["amount"] * jitter).round(2)
        parts.append(part)
    tx = pd.concat(parts, ignore_index=True)
    extra = target_rows - len(tx)
    if extra > 0:
        again = tx.iloc[rng.choice(len(tx), size=extra, replace=False)].copy()
        again["cds"] = 1
        again["amount"] = (rng.gamma(2.0, 7.5, extra) + 5).round(2)
        tx = pd.concat([tx, again], ignore_index=True)
    return tx.sort_values(["date", "customer_id"], kind="stable").reset_index(drop=True)


def timed_runs(argv: Sequence[str], runs: int, env: dict[str, str]) -> tuple[float, str]:
    """Median wall time of `runs` whole-process runs, and the last run's stdout."""
    times, out = [], ""
    for _ in range(runs):
        started = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
        times.append(time.perf_counter() - started)
        if proc.returncode != 0:
            sys.exit(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        out = proc.stdout
    return statistics.median(times), out


def loyalty_command() -> list[str]:
    script = Path(sys.executable).parent / "loyalty"
    if script.exists():
        return [str(script)]
    found = shutil.which("loyalty")
    return [found] if found else [sys.executable, "-m", "loyalty.cli"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", action="store_true", help="the 1/10 CDNOW sample (2,357 customers)")
    ap.add_argument("--runs", type=int, default=None, help="runs per command (median; default 5, 3 small)")
    args = ap.parse_args()
    runs = args.runs or (3 if args.small else 5)
    print(machine.note(repeat=1 if args.small else 3), flush=True)

    sample = cdnow_sample()
    loyalty = loyalty_command()
    env = {**os.environ, "LOYALTY_LOCALE": "en", "PYTHONWARNINGS": "ignore"}
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp_dir:
        tmp = Path(tmp_dir)
        if args.small:
            data = sample
        else:
            data = tmp / "cdnow_master_sized.csv"
            cdnow_sized(sample, 10, CDNOW_MASTER[1]).to_csv(data, index=False)
        tx = pd.read_csv(data, dtype={"customer_id": str})
        print(f"input: {data.name}, {tx['customer_id'].nunique():,} customers / {len(tx):,} transactions")
        lifetimes_py, rfm_py = tmp / "lifetimes_clv.py", tmp / "pandas_rfm.py"
        lifetimes_py.write_text(LIFETIMES_SCRIPT, encoding="utf-8")
        rfm_py.write_text(PANDAS_RFM_SCRIPT, encoding="utf-8")
        params = tmp / "PARAMS.json"

        rows: list[tuple[str, float, float | None, str]] = []
        t_help, _ = timed_runs([*loyalty, "--help"], runs, env)
        rows.append(("loyalty --help", t_help, None, "target <= 0.30 s"))
        t_group, _ = timed_runs([*loyalty, "analytics", "--help"], runs, env)
        rows.append(("loyalty analytics --help", t_group, None, "target <= 0.30 s"))
        t_clv, _ = timed_runs(
            [
                *loyalty,
                *("analytics", "clv", str(data), "-o", str(tmp / "clv.csv")),
                *("--calibration-end", CALIBRATION_END, "--time-unit", "week", "--params", str(params)),
            ],
            runs,
            env,
        )
        t_life, life_out = timed_runs(
            [sys.executable, str(lifetimes_py), str(data), str(tmp / "lifetimes.csv"), CALIBRATION_END],
            runs,
            env,
        )
        ours_r, theirs = json.loads(params.read_text())["r"], json.loads(life_out.strip().splitlines()[-1])
        rows.append(
            ("analytics clv vs lifetimes script", t_clv, t_life, f"r {ours_r:.4f} vs {theirs['r']:.4f}")
        )
        t_rfm, _ = timed_runs(
            [*loyalty, "analytics", "rfm", str(data), "-o", str(tmp / "rfm.csv")], runs, env
        )
        t_prfm, _ = timed_runs([sys.executable, str(rfm_py), str(data), str(tmp / "prfm.csv")], runs, env)
        rows.append(("analytics rfm vs pandas script", t_rfm, t_prfm, ""))

    print(f"\nwhole processes, median of {runs} runs")
    print(f"{'command':38s} {'ours s':>8s} {'base s':>8s} {'ratio':>7s}")
    for name, ours, base, note in rows:
        b = f"{base:8.2f}" if base is not None else f"{'-':>8s}"
        ratio = f"{base / ours:6.2f}x" if base is not None else f"{'-':>7s}"
        print(f"{name:38s} {ours:8.2f} {b} {ratio}  {note}")
    print("ratio = baseline seconds / ours (above 1: ours is faster)")
    print(machine.note(repeat=1 if args.small else 3, when="after"), flush=True)


if __name__ == "__main__":
    main()
