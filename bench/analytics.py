"""Benchmark: loyalty.analytics vs lifetimes (and a pandas script) on a seeded synthetic chain.

    .venv/bin/python bench/analytics.py            # 1,000,000 customers / 10,000,000 transactions
    .venv/bin/python bench/analytics.py --small    # 20,000 / 200,000 (smoke test)

Every stage starts from the same in-memory pandas transaction frame and prints ours beside the
baseline, the ratio and peak memory (process RSS sampled every 5 ms during the stage). lifetimes'
Pareto/NBD fit is far too slow at full size (~640 s measured), so it is timed on a random customer
sub-sample and scaled linearly to the full count; the output says so on that line.
"""

from __future__ import annotations

import argparse
import gc
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

import machine


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096


class Peak:
    """Sample the process RSS in a thread while a stage runs."""

    def __enter__(self) -> Peak:
        self.peak = rss_bytes()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, rss_bytes())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, rss_bytes())


def timed(fn: Callable[[], Any]) -> tuple[Any, float, int]:
    gc.collect()
    with Peak() as p:
        t0 = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t0
    return out, dt, p.peak


def generate(n_customers: int, n_tx: int, seed: int = 42) -> pd.DataFrame:
    """A BG/NBD-like chain: gamma purchase rates, beta drop-out after each purchase, joins over a year.

    Exactly ``n_tx`` rows: every customer's first purchase is kept and the repeat purchases beyond the
    target are dropped at random (the generating process is tuned to overshoot slightly).
    """
    rng = np.random.default_rng(seed)
    horizon = 730
    lam = rng.gamma(1.5, 1 / 12, n_customers)  # purchases per day while alive
    p = rng.beta(1.2, 9.0, n_customers)  # chance of dropping out after each purchase
    n_alive = rng.geometric(p)  # purchases made before dropping out (including the first)
    birth = rng.integers(0, 365, n_customers)
    cust = np.repeat(np.arange(n_customers, dtype=np.int64), n_alive)
    gaps = rng.exponential(1.0, cust.size) / lam[cust]
    starts = np.concatenate([[0], np.cumsum(n_alive)[:-1]])
    gaps[starts] = 0.0
    csum = np.cumsum(gaps)
    day = birth[cust] + (csum - np.repeat(csum[starts], n_alive))
    keep = day < horizon
    cust, day = cust[keep], day[keep].astype(np.int64)
    first = np.zeros(cust.size, dtype=bool)
    first[np.searchsorted(cust, np.arange(n_customers))] = True
    extra = cust.size - n_tx
    if extra > 0:
        drop = rng.choice(np.flatnonzero(~first), size=extra, replace=False)
        mask = np.ones(cust.size, dtype=bool)
        mask[drop] = False
        cust, day = cust[mask], day[mask]
    n = cust.size
    ts = np.datetime64("2023-01-01", "s") + (day * 86400 + rng.integers(8 * 3600, 21 * 3600, n)).astype(
        "timedelta64[s]"
    )
    spend = rng.gamma(3.0, 15.0, n_customers)
    amount = np.round(rng.gamma(4.0, 1.0, n) * spend[cust] / 4.0, 2)
    order = rng.permutation(n)  # a log arrives in time order across customers, not grouped by customer
    return pd.DataFrame({"customer_id": cust[order], "date": ts[order], "amount": amount[order]})


def pandas_summary(df: pd.DataFrame, end: pd.Timestamp) -> pd.DataFrame:
    """What an analyst's pandas script does: group by customer-day, then by customer."""
    d = df.assign(day=df["date"].dt.floor("D")).groupby(["customer_id", "day"], sort=False)["amount"].sum()
    d = d.reset_index()
    g = d.groupby("customer_id")
    first, last, n, total = g["day"].min(), g["day"].max(), g["day"].size(), g["amount"].sum()
    first_amt = d.sort_values("day").drop_duplicates("customer_id").set_index("customer_id")["amount"]
    freq = n - 1
    return pd.DataFrame(
        {
            "frequency": freq,
            "recency": (last - first).dt.days,
            "T": (end - first).dt.days,
            "monetary_value": ((total - first_amt.loc[total.index]) / freq.where(freq > 0)).fillna(0.0),
        }
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", action="store_true", help="20k customers / 200k transactions")
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--transactions", type=int, default=10_000_000)
    ap.add_argument("--pareto-sample", type=int, default=20_000, help="lifetimes Pareto/NBD sub-sample size")
    ap.add_argument("--skip-lifetimes", action="store_true")
    args = ap.parse_args()
    if args.small:
        args.customers, args.transactions, args.pareto_sample = 20_000, 200_000, 2_000
    print(machine.note(repeat=1 if args.small else 3), flush=True)

    from loyalty.analytics import BetaGeo, GammaGamma, ParetoNBD, clv, summary
    from loyalty.analytics.rfm import rfm_from_summary, score

    t0 = time.perf_counter()
    df = generate(args.customers, args.transactions)
    end = df["date"].max().normalize()
    print(
        f"generated {df['customer_id'].nunique():,} customers / {len(df):,} transactions "
        f"in {time.perf_counter() - t0:.1f} s (seed 42); baseline RSS {rss_bytes() / 2**30:.2f} GiB"
    )
    rows: list[tuple[str, float, int, float | None, int | None, str]] = []
    # warm-up on a tiny log so lazy imports (SciPy optimisers, DuckDB, Ibis compilation) are not timed
    tiny = generate(500, 5_000, seed=1)
    ts0 = summary(tiny, time_unit="day")
    BetaGeo().fit(ts0["frequency"], ts0["recency"], ts0["T"])
    ParetoNBD().fit(ts0["frequency"], ts0["recency"], ts0["T"])

    def ours_summary() -> pd.DataFrame:
        s = summary(df, observation_end=end, time_unit="day")
        score(rfm_from_summary(s), scheme="quintile")
        return s

    s, t_sum, m_sum = timed(ours_summary)
    x, tx, T, m = (s[c].to_numpy(np.float64) for c in ("frequency", "recency", "T", "monetary_value"))
    bg, t_bg, m_bg = timed(lambda: BetaGeo().fit(x, tx, T))
    _pn, t_pn, m_pn = timed(lambda: ParetoNBD().fit(x, tx, T))
    rep = (x > 0) & (m > 0)
    gg, t_gg, m_gg = timed(lambda: GammaGamma().fit(x[rep], m[rep]))
    _, t_clv, m_clv = timed(lambda: clv(bg, gg, x, tx, T, m, months=12, discount_rate=0.01, time_unit="day"))
    print(
        f"distinct (x, t_x, T) histories: {len(np.unique(np.stack([x, tx, T], 1), axis=0)):,} of {len(x):,}"
    )

    if args.skip_lifetimes:
        for name, t, mm in [
            ("summary + RFM", t_sum, m_sum),
            ("BG/NBD fit", t_bg, m_bg),
            ("Pareto/NBD fit", t_pn, m_pn),
            ("Gamma-Gamma fit", t_gg, m_gg),
            ("CLV (all customers)", t_clv, m_clv),
        ]:
            rows.append((name, t, mm, None, None, ""))
    else:
        from lifetimes import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter
        from lifetimes.utils import summary_data_from_transaction_data

        _, t_pd, m_pd = timed(lambda: pandas_summary(df, end))
        ref, t_lsum, m_lsum = timed(
            lambda: summary_data_from_transaction_data(
                df, "customer_id", "date", monetary_value_col="amount", observation_period_end=end
            )
        )
        assert np.array_equal(
            ref["frequency"].to_numpy(), s.set_index("customer_id").loc[ref.index, "frequency"].to_numpy()
        )
        rows.append(("summary + RFM (vs lifetimes summary)", t_sum, m_sum, t_lsum, m_lsum, ""))
        rows.append(("summary + RFM (vs pandas script)", t_sum, m_sum, t_pd, m_pd, ""))
        bgf, t_lbg, m_lbg = timed(lambda: BetaGeoFitter().fit(x, tx, T))
        rows.append(("BG/NBD fit", t_bg, m_bg, t_lbg, m_lbg, ""))
        rng = np.random.default_rng(7)
        idx = rng.choice(len(x), size=min(args.pareto_sample, len(x)), replace=False)
        _, t_lpn, m_lpn = timed(lambda: ParetoNBDFitter().fit(x[idx], tx[idx], T[idx]))
        scale = len(x) / len(idx)
        rows.append(
            (
                "Pareto/NBD fit",
                t_pn,
                m_pn,
                t_lpn * scale,
                m_lpn,
                f"lifetimes timed on {len(idx):,} customers ({t_lpn:.1f} s) x {scale:.0f}, linear scaling",
            )
        )
        ggf, t_lgg, m_lgg = timed(lambda: GammaGammaFitter().fit(x[rep], m[rep]))
        rows.append(("Gamma-Gamma fit", t_gg, m_gg, t_lgg, m_lgg, ""))
        _, t_lclv, m_lclv = timed(
            lambda: ggf.customer_lifetime_value(
                bgf,
                pd.Series(x),
                pd.Series(tx),
                pd.Series(T),
                pd.Series(m),
                time=12,
                discount_rate=0.01,
                freq="D",
            )
        )
        rows.append(("CLV (all customers)", t_clv, m_clv, t_lclv, m_lclv, ""))
        print(f"BG/NBD r: ours {bg.params_['r']:.6g}  lifetimes {float(bgf.params_['r']):.6g}")

    print(
        f"\n{'stage':40s} {'ours s':>8s} {'base s':>9s} {'ratio':>8s} {'ours peak':>10s} {'base peak':>10s}"
    )
    for name, t, mm, tb, mb, note in rows:
        base = f"{tb:9.2f}" if tb is not None else f"{'-':>9s}"
        ratio = f"{tb / t:7.1f}x" if tb is not None else f"{'-':>8s}"
        mbs = f"{mb / 2**30:8.2f}GB" if mb is not None else f"{'-':>10s}"
        print(f"{name:40s} {t:8.3f} {base} {ratio} {mm / 2**30:8.2f}GB {mbs}  {note}")
    ours_pipeline = t_sum + t_bg + t_gg + t_clv
    print(f"\nours BG/NBD pipeline (summary+RFM, BG/NBD, Gamma-Gamma, CLV): {ours_pipeline:.2f} s")
    if not args.skip_lifetimes:
        base_pipeline = t_lsum + t_lbg + t_lgg + t_lclv
        print(f"lifetimes same pipeline: {base_pipeline:.2f} s  ({base_pipeline / ours_pipeline:.1f}x)")
    print(f"peak RSS of the whole process: {max(r[2] for r in rows) / 2**30:.2f} GiB (ours' stages)")
    print(machine.note(repeat=1 if args.small else 3, when="after"), flush=True)


if __name__ == "__main__":
    main()
