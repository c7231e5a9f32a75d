"""Benchmark: the churn model (loyalty.analytics.churn) beside P(alive) on a time split of Online Retail
and of the demo chain.

    .venv/bin/python bench/churn.py            # Online Retail in full; a 20,000-member demo chain
    .venv/bin/python bench/churn.py --small    # Online Retail in full; a 2,000-member demo chain
    .venv/bin/python bench/churn.py --retail-rows 60000 --members 300 --months 12 --no-jobs --no-pareto \
        --no-reference  # the smoke test

**The split** (issue #26: "the supervised model's AUC beside P(alive)'s"). A member churns after a
cutoff who makes no purchase in the horizon after it (90 days). With ``T`` the last day of the data,
the model is trained on the members of ``T − 2H`` (their features from what happened by then; their
labels from who bought from ``T − 2H`` to ``T − H``) and scores the members of ``T − H``, whose labels
(who bought from ``T − H`` to ``T``) it never saw. On the same members and labels: 1 − P(alive) from
BG/NBD (the product's purchase model, as ``analytics refresh`` fits it: days as purchase periods,
time in weeks) and from Pareto/NBD, both fitted on the history up to ``T − H``, and the days since
the last purchase. Each score's AUC, and the seconds each model's fit took. Then the next purchase
date of the purchase model beside the member's own rhythm (last purchase + their mean gap): mean
error in days against the first purchase each member made in the horizon (a date beyond it, or none,
counted as its last day + 1), and the whole product run (validate, train, score every member).

**Online Retail** (UCI; ../shared/data/online_retail.csv.gz): identified customers' invoices as
purchases, cancellations (invoice numbers starting with C), free lines and non-product codes
removed as bench/mining.py does; an invoice's amount is the sum of quantity × price; "categories"
are stock codes. The data end on 2011-12-09. ``--retail-rows N`` keeps every n-th customer (about N
lines), for the smoke test.

**The demo chain**: ``loyalty demo``'s builder (generated, imported through the product's import path,
its jobs run, the churn job among them) in a temporary SQLite database; the history is read back by
``services.churn.load`` as the churn job reads it. ``T`` is the build's today. ``--no-jobs`` builds
the chain as the demo does without its jobs (generator and import only, as bench/anomalies.py does),
for the smoke test.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import machine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

DATA_CANDIDATES = [ROOT.parent / "shared" / "data", Path("/work/shared/data"), ROOT / "shared" / "data"]
# Online Retail codes that are not products (postage, discounts, fees, samples, pads, charity, …): as
# bench/mining.py
NON_PRODUCTS = ("POST", "D", "M", "C2", "DOT", "BANK CHARGES", "AMAZONFEE", "CRUK", "PADS", "B", "S", "m")
RETAIL_END = dt.date(2011, 12, 9)


def data_dir() -> Path:
    for c in DATA_CANDIDATES:
        if (c / "online_retail.csv.gz").exists():
            return c
    raise SystemExit("shared data sets not found (online_retail.csv.gz)")


def online_retail(rows: int | None) -> Any:
    """Online Retail's customers' invoices as the churn model's history (see the module)."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc
    from pyarrow import csv

    from loyalty.analytics.churn import History

    table = csv.read_csv(
        data_dir() / "online_retail.csv.gz",
        convert_options=csv.ConvertOptions(
            include_columns=["InvoiceNo", "StockCode", "Quantity", "UnitPrice", "InvoiceDate", "CustomerID"],
            column_types={
                "InvoiceNo": pa.string(),
                "StockCode": pa.string(),
                "InvoiceDate": pa.timestamp("s"),
            },
        ),
    )
    keep = pc.and_(pc.invert(pc.starts_with(table["InvoiceNo"], "C")), pc.is_valid(table["CustomerID"]))
    keep = pc.and_(keep, pc.and_(pc.greater(table["Quantity"], 0), pc.greater(table["UnitPrice"], 0)))
    keep = pc.and_(keep, pc.invert(pc.is_in(table["StockCode"], pa.array(NON_PRODUCTS))))
    keep = pc.and_(keep, pc.invert(pc.starts_with(table["StockCode"], "gift_")))
    df = table.filter(keep).to_pandas()
    df["member_id"] = df["CustomerID"].astype("int64")
    if rows is not None:
        step = max(1, round(len(df) / rows))
        df = df[df["member_id"] % step == 0]
    df["day"] = df["InvoiceDate"].dt.normalize()
    df["amount"] = (df["Quantity"] * df["UnitPrice"] * 100).round()
    visits = (
        df.groupby("InvoiceNo", sort=False)
        .agg(member_id=("member_id", "first"), day=("day", "first"), total_minor=("amount", "sum"))
        .reset_index(drop=True)
    )
    lines = pd.DataFrame({"member_id": df["member_id"], "category": df["StockCode"], "day": df["day"]})
    return History(visits, lines=lines), len(df)


def _chain_without_jobs(url: str, members: int, months: int, data: Path) -> None:
    """The demo's chain, generated and imported as `loyalty demo` does, without its jobs."""
    from rich.console import Console

    from loyalty.bootstrap import Context
    from loyalty.db.migrate import upgrade
    from loyalty.demo.chain import ensure_stores
    from loyalty.demo.generator import ChainSpec, generate, history_start, write_files
    from loyalty.demo.programme import define_demo_programme
    from loyalty.imports.runner import ImportOptions, import_file
    from loyalty.services.seed import DEMO_TIERS, ensure_programme

    ctx = Context.from_url(url)
    try:
        upgrade(ctx.engine)
        ensure_programme(ctx, tier_ladder=DEMO_TIERS)
        spec = ChainSpec(members=members, months=months, end=ctx.now().date())
        generated = generate(spec)
        files = write_files(generated, data)
        ensure_stores(ctx, generated.stores.to_pylist())
        define_demo_programme(ctx, history_start(spec))
        quiet = Console(quiet=True)
        for kind, path in (
            ("members", files.members),
            ("purchases", files.purchases),
            ("returns", files.returns),
        ):
            import_file(ctx, kind, path, ImportOptions(progress=False), console=quiet)
    finally:
        ctx.engine.dispose()


def demo_chain(members: int, months: int, work: Path, jobs: bool) -> tuple[Any, dt.date, Any, float]:
    """Build the demo chain in `work` and read its history back: (history, today, stored run, seconds)."""
    from rich.console import Console

    from loyalty.analytics.store import business_day
    from loyalty.bootstrap import Context
    from loyalty.demo.chain import DemoOptions, build_demo
    from loyalty.services.churn import last_run
    from loyalty.services.churn.load import load_history

    url = f"sqlite:///{work / 'demo.db'}"
    started = time.perf_counter()
    if jobs:
        options = DemoOptions(members=members, months=months, data_dir=work / "demo-data", progress=False)
        build_demo(options, console=Console(file=io.StringIO()), database_url=url)
    else:
        _chain_without_jobs(url, members, months, work / "demo-data")
    built = time.perf_counter() - started
    ctx = Context.from_url(url)
    try:
        history = load_history(ctx)
        return history, business_day(ctx.now()).date(), last_run(ctx), built
    finally:
        ctx.engine.dispose()


def compare(history: Any, end: dt.date, horizon: int, pareto_too: bool = True) -> dict[str, Any]:
    """Every score on the same out-of-time split (see the module)."""
    import numpy as np

    from loyalty.analytics.churn import (
        ChurnModel,
        auc,
        churned,
        days_by_rhythm,
        days_to_next_purchase,
        first_purchase_after,
    )
    from loyalty.analytics.churn.purchase import fit_purchases, p_alive, summary_of
    from loyalty.analytics.errors import AnalyticsError
    from loyalty.analytics.models import ParetoNBD

    h = dt.timedelta(days=horizon)
    train_cutoff, cutoff = end - 2 * h, end - h
    started = time.perf_counter()
    x_train = history.features(train_cutoff)
    x_val = history.features(cutoff)
    features_s = time.perf_counter() - started
    y_train = churned(history.visits, x_train.index, cutoff=train_cutoff, horizon_days=horizon)
    y_val = churned(history.visits, x_val.index, cutoff=cutoff, horizon_days=horizon)
    out: dict[str, Any] = {
        "train_cutoff": train_cutoff,
        "cutoff": cutoff,
        "train_members": len(y_train),
        "members": len(y_val),
        "churned": int(y_val.sum()),
        "features_s": features_s,
        "auc": {},
        "fit_s": {},
    }
    started = time.perf_counter()
    model = ChurnModel().fit(x_train, y_train)
    out["fit_s"]["model"] = time.perf_counter() - started
    predicted = model.predict(x_val)
    out["auc"]["model"] = auc(y_val, predicted)
    out["calibration"] = (float(predicted.mean()), float(y_val.mean()))
    next_days = None
    try:
        started = time.perf_counter()
        bgnbd = fit_purchases(x_val)
        out["fit_s"]["bgnbd"] = time.perf_counter() - started
        out["auc"]["bgnbd"] = auc(y_val, 1.0 - p_alive(bgnbd, x_val))
        out["bgnbd_params"] = bgnbd.params_
        next_days = days_to_next_purchase(bgnbd, x_val)
    except AnalyticsError as exc:
        out["auc"]["bgnbd"] = None
        out["bgnbd_problem"] = exc.message
    out["auc"]["pareto"] = None
    if pareto_too:
        try:
            started = time.perf_counter()
            with np.errstate(invalid="ignore"):  # its likelihood's search passes through NaNs
                pareto = ParetoNBD().fit(*summary_of(x_val))
            out["fit_s"]["pareto"] = time.perf_counter() - started
            out["auc"]["pareto"] = auc(y_val, 1.0 - pareto.predict_p_alive(*summary_of(x_val)))
        except AnalyticsError:
            pass
    out["auc"]["recency"] = auc(y_val, x_val["recency_days"].to_numpy())
    repeaters = x_val["visit_days"].to_numpy() > 1
    out["repeat_share"] = float(repeaters.mean())
    if out["auc"]["bgnbd"] is not None:
        out["auc_repeaters"] = {
            "model": auc(y_val[repeaters], predicted[repeaters]),
            "bgnbd": auc(y_val[repeaters], 1.0 - p_alive(bgnbd, x_val)[repeaters]),
        }
    actual = first_purchase_after(history.visits, x_val.index, cutoff=cutoff, horizon_days=horizon)
    truth = np.where(actual.isna(), horizon + 1.0, actual.to_numpy(dtype=np.float64))

    def error(days: Any) -> float:
        capped = np.where(np.isnan(days), horizon + 1.0, np.minimum(days, horizon + 1.0))
        return float(np.mean(np.abs(capped - truth)))

    out["next_purchase"] = {
        "buyers": int(actual.notna().sum()),
        "model": error(next_days) if next_days is not None else None,
        "rhythm": error(days_by_rhythm(x_val)),
    }
    return out


def product_run(history: Any, end: dt.date, horizon: int) -> tuple[Any, float]:
    from loyalty.analytics.churn import run_churn

    started = time.perf_counter()
    run = run_churn(history, as_of=end, horizon_days=horizon)
    return run, time.perf_counter() - started


def _auc(v: float | None) -> str:
    return "     –" if v is None else f"{v:6.3f}"


def _s(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    return f"{seconds * 1000:,.0f} ms" if seconds < 1 else f"{seconds:,.2f} s"


def report(name: str, r: dict[str, Any], run: Any, run_s: float) -> None:
    print(f"\n{name}")
    print(
        f"  trained on the {r['train_members']:,} members of {r['train_cutoff']}; checked on the "
        f"{r['members']:,} members of {r['cutoff']}, of whom {r['churned']:,} "
        f"({r['churned'] / max(r['members'], 1):.1%}) made no purchase in the next days"
    )
    print(f"  {'churn score':<46} {'AUC':>6}  {'fit':>9}")
    rows = [
        ("churn model (gradient boosting, ours)", "model", "model"),
        ("1 − P(alive), BG/NBD (the product's P(alive))", "bgnbd", "bgnbd"),
        ("1 − P(alive), Pareto/NBD", "pareto", "pareto"),
        ("days since the last purchase", "recency", None),
    ]
    for label, key, fit in rows:
        print(f"  {label:<46} {_auc(r['auc'].get(key))}  {_s(r['fit_s'].get(fit)) if fit else '':>9}")
    model, alive = r["auc"].get("model"), r["auc"].get("bgnbd")
    if model is not None and alive is not None:
        print(f"  → the model's AUC is {model - alive:+.3f} beside P(alive)'s")
    if "auc_repeaters" in r:
        rep = r["auc_repeaters"]
        print(
            f"  on the {r['repeat_share']:.0%} who had bought on two days or more: model "
            f"{_auc(rep['model']).strip()}, 1 − P(alive) {_auc(rep['bgnbd']).strip()} "
            "(BG/NBD gives every one-day buyer P(alive) = 1)"
        )
    predicted, observed = r["calibration"]
    print(f"  mean churn probability {predicted:.3f} against the churn rate observed {observed:.3f}")
    n = r["next_purchase"]
    model_err = "–" if n["model"] is None else f"{n['model']:.1f}"
    print(
        f"  next purchase date, mean error in days (all {r['members']:,}; {n['buyers']:,} bought): "
        f"purchase model {model_err}, own rhythm {n['rhythm']:.1f}"
    )
    print(
        f"  the product's run (features ×3, validate, train, score {run.members:,} members): {_s(run_s)}; "
        f"its check: AUC {_auc(run.validation.aucs['model'] if run.validation else None).strip()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="a 2,000-member demo chain")
    parser.add_argument("--members", type=int, default=None, help="demo chain members (default 20,000)")
    parser.add_argument("--months", type=int, default=18, help="demo chain months of history")
    parser.add_argument("--horizon", type=int, default=90, help="days without a purchase that count as churn")
    parser.add_argument("--retail-rows", type=int, default=None, help="about this many Online Retail lines")
    parser.add_argument("--no-reference", action="store_true", help="skip the machine's reference timings")
    parser.add_argument("--no-jobs", action="store_true", help="build the demo chain without its jobs")
    parser.add_argument("--no-pareto", action="store_true", help="leave the Pareto/NBD baseline out")
    args = parser.parse_args()
    members = args.members or (2_000 if args.small else 20_000)
    import duckdb  # noqa: F401  (loaded once here, as a serving process has them)
    import sklearn.ensemble  # noqa: F401

    if not args.no_reference:
        print(machine.note(when="before"))
    print(f"churn = no purchase in the {args.horizon} days after a cutoff")

    started = time.perf_counter()
    retail, lines = online_retail(args.retail_rows)
    read_s = time.perf_counter() - started
    r = compare(retail, RETAIL_END, args.horizon, not args.no_pareto)
    run, run_s = product_run(retail, RETAIL_END, args.horizon)
    report(
        f"Online Retail: {lines:,} lines, {len(retail.visits):,} invoices (read in {_s(read_s)}), "
        f"to {RETAIL_END}",
        r,
        run,
        run_s,
    )

    with tempfile.TemporaryDirectory() as tmp:
        history, today, stored, built = demo_chain(members, args.months, Path(tmp), not args.no_jobs)
        d = compare(history, today, args.horizon, not args.no_pareto)
        run, run_s = product_run(history, today, args.horizon)
        report(
            f"demo chain: {members:,} members, {args.months} months, {len(history.visits):,} member "
            f"purchases (built {'without' if args.no_jobs else 'with'} its jobs in {_s(built)}), to {today}",
            d,
            run,
            run_s,
        )
        if stored is not None:
            print(
                f"  the demo's own churn job stored AUC {_auc(stored.aucs['model']).strip()} beside "
                f"P(alive)'s {_auc(stored.aucs['p_alive']).strip()} for {stored.members:,} members"
            )
    if not args.no_reference:
        print(machine.note(when="after"))


if __name__ == "__main__":
    main()
