"""Bulk purchase import benchmark: N purchase lines into SQLite (and PostgreSQL), beside a naive baseline.

    .venv/bin/python bench/import.py                 # 10,000,000 lines, SQLite, then PostgreSQL
    .venv/bin/python bench/import.py --lines 200000  # smaller run
    .venv/bin/python bench/import.py --small         # smoke size (20,000 lines)
    .venv/bin/python bench/import.py --postgres-lines 1000000 --phases
                                                     # PostgreSQL on the first 1M lines; log each phase
    .venv/bin/python bench/compare.py --baseline-ref 4393fbd --same-script import.py --lines 1000000 \
        --no-postgres --data /tmp/import-1m --without-cashier
                                                     # an earlier commit on the very same files

The data is the demo chain generator scaled up (members ≈ lines / 10), written as a CSV exactly like a
POS export. The timed figure is `loyalty import purchases` end to end, run as a command in its own
process as a chain would run it (start-up included): read, map, validate in DuckDB, post (set-based:
`services.posting.set_based`, the live earning and tier rules on whole batches), commit in checkpointed
batches, build the indexes a large import defers. The baseline
is the naive approach — parse with the csv module and post each order on its own, row by row, with a
member lookup per order — timed on a sub-sample and scaled linearly to N (stated in the output).
"""

from __future__ import annotations

import argparse
import compileall
import csv
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

import machine

ROOT = Path(__file__).resolve().parent.parent


def _measured_src() -> Path:
    """The `src` whose code is measured: the one PYTHONPATH names first where it holds the product
    (`compare.py --same-script` runs this script with an earlier commit's), else this tree's."""
    named = os.environ.get("PYTHONPATH", "").split(os.pathsep)[0]
    return Path(named) if named and (Path(named) / "loyalty").is_dir() else ROOT / "src"


SRC = _measured_src()
sys.path.insert(0, str(SRC))

from loyalty.demo.generator import ChainSpec, generate  # noqa: E402

LINES_PER_MEMBER_YEAR = 17.0  # what the generator produces at intensity 1 over 12 months


#: the POS export's cashier column, which the generator writes since staff attribution came
CASHIER = "收银员"


def make_data(
    lines: int, workdir: Path, seed: int = 7, *, kept: Path | None = None, without_cashier: bool = False
) -> tuple[Path, Path, pa.Table, int]:
    """Generate ≥ `lines` purchase lines, cut at an order boundary, write members + purchases CSVs.

    `kept`: a folder where the files are kept and taken again by a later run of the same size, so
    that runs of two commits (`compare.py --same-script`) import the very same files, whichever
    commit's generator wrote them. `without_cashier`: the export without its cashier column, as
    importers from before staff attribution read it."""
    if kept is not None:
        wanted = {"lines": lines, "seed": seed, "without_cashier": without_cashier}
        meta = kept / "meta.json"
        if meta.exists() and {k: v for k, v in json.loads(meta.read_text()).items() if k in wanted} == wanted:
            orders = int(json.loads(meta.read_text())["orders"])
            stores = pq.read_table(kept / "stores.parquet")
            return kept / "members.csv", kept / "purchases.csv", stores, orders
        kept.mkdir(parents=True, exist_ok=True)
        made = make_data(lines, kept, seed, without_cashier=without_cashier)
        pq.write_table(made[2], kept / "stores.parquet")
        meta.write_text(json.dumps({**wanted, "orders": made[3]}))
        return made
    members = max(200, int(lines / LINES_PER_MEMBER_YEAR * 1.15))
    chain = generate(ChainSpec(members=members, months=12, seed=seed, end=date(2026, 11, 1)))
    purchases = chain.purchases
    if purchases.num_rows > lines:
        cut_order = purchases.column("订单号")[lines - 1]
        after = purchases.column("订单号").slice(lines)
        extra = pc.index(pc.not_equal(after, cut_order), True).as_py()
        purchases = purchases.slice(0, lines + (extra if extra >= 0 else after.length()))
    if without_cashier and CASHIER in purchases.column_names:
        purchases = purchases.drop_columns([CASHIER])
    members_csv = workdir / "members.csv"
    purchases_csv = workdir / "purchases.csv"
    pacsv.write_csv(chain.members, members_csv, pacsv.WriteOptions(quoting_style="none"))
    pacsv.write_csv(purchases, purchases_csv, pacsv.WriteOptions(quoting_style="none"))
    orders = int(pc.count_distinct(purchases.column("订单号")).as_py())
    return members_csv, purchases_csv, chain.stores, orders


def peak_rss_mib(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def _fresh(url: str, stores: pa.Table, programme: str = "base") -> object:
    """A migrated database with the stores and the programme: the base rule alone, or with the demo
    café's earning rules (`loyalty.demo.programme`) in force over the whole history."""
    from loyalty.bootstrap import Context
    from loyalty.db.migrate import upgrade
    from loyalty.demo.chain import ensure_stores
    from loyalty.services.seed import ensure_programme

    ctx = Context.from_url(url)
    upgrade(ctx.engine)
    ensure_programme(ctx)
    ensure_stores(ctx, stores.to_pylist())
    if programme == "rules":  # imported here: commits before the programme engine have no such module
        from loyalty.demo.programme import define_demo_programme

        define_demo_programme(ctx, date(2000, 1, 1), extra=import_rules())
    return ctx


def import_rules() -> list[dict[str, object]]:
    """18 rules beside the demo café's 5 (23 in all): a bonus per category, hours, weekends, a ladder of
    minimum-spend bonuses and an exclusion — a chain's programme, over the generator's categories."""
    from loyalty.demo.generator import CATEGORIES

    rules: list[dict[str, object]] = [
        {"code": f"cat-{i}", "kind": "bonus_per_unit", "points_per_unit": 1 + i % 3, "priority": 60,
         "when": {"categories": [c[0]], "hours": "07:00-22:00"}}
        for i, c in enumerate(CATEGORIES)
    ]  # fmt: skip
    rules += [
        {"code": "weekend", "kind": "multiplier", "multiplier_pct": 120, "priority": 70,
         "when": {"member_day": {"weekdays": ["sat", "sun"]}}},
        {"code": "ladder-50", "kind": "fixed_bonus", "points": 10, "priority": 80,
         "when": {"min_spend": "50"}},
        {"code": "ladder-100", "kind": "fixed_bonus", "points": 30, "priority": 81,
         "when": {"min_spend": "100"}},
        {"code": "ladder-300", "kind": "fixed_bonus", "points": 80, "priority": 82,
         "when": {"min_spend": "300"}},
        {"code": "no-stationery", "kind": "exclude", "when": {"categories": ["文具"]}},
        {"code": "online", "kind": "multiplier", "multiplier_pct": 110, "priority": 90,
         "when": {"channels": ["online", "mini_program"]}},
    ]  # fmt: skip
    return rules


_CLI_WITH_PHASES = (
    "import logging, sys; "
    "logging.basicConfig(format='%(asctime)s %(message)s', level=logging.WARNING); "
    "logging.getLogger('loyalty').setLevel(logging.INFO); "
    "from loyalty.cli import main; sys.argv[0] = 'loyalty'; main()"
)


def _cli_import(url: str, kind: str, path: Path, phases: bool) -> dict[str, object]:
    """`loyalty import KIND PATH --json` in its own process, as a person runs it; its summary."""
    env = {**os.environ, "LOYALTY_DATABASE_URL": url, "PYTHONPATH": str(SRC)}
    args = ["import", kind, str(path), "--json", "--no-progress"]
    cmd = (
        [sys.executable, "-c", _CLI_WITH_PHASES, *args]
        if phases
        else [sys.executable, "-m", "loyalty.cli", *args]
    )
    done = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=None, check=False)
    if done.returncode != 0:
        raise SystemExit(f"loyalty import {kind} failed with status {done.returncode}")
    summary: dict[str, object] = json.loads(done.stdout)
    return summary


def run_ours(
    url: str,
    members_csv: Path,
    purchases_csv: Path,
    stores: pa.Table,
    phases: bool = False,
    programme: str = "base",
) -> dict[str, float]:
    """The command a chain runs, end to end in a fresh process (start-up included)."""
    ctx = _fresh(url, stores, programme)
    ctx.engine.dispose()  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    m = _cli_import(url, "members", members_csv, phases)
    t1 = time.perf_counter()
    p = _cli_import(url, "purchases", purchases_csv, phases)
    t2 = time.perf_counter()
    assert p["rejected"] == 0, p["reasons"]
    return {
        "members": int(m["imported"]),  # type: ignore[call-overload]
        "members_s": t1 - t0,
        "lines": int(p["imported"]),  # type: ignore[call-overload]
        "purchases_s": t2 - t1,
    }


def run_naive(
    url: str, members_csv: Path, purchases_csv: Path, stores: pa.Table, sample_lines: int
) -> dict[str, float]:
    """Row by row: csv module, one member lookup and one `post_purchase` transaction per order."""
    from sqlalchemy import select

    from loyalty.db.core_tables import members
    from loyalty.db.core_tables import stores as stores_t
    from loyalty.imports.runner import ImportOptions, import_file
    from loyalty.services.purchases import post_purchase
    from loyalty.services.schemas import PurchaseIn, PurchaseLineIn

    ctx = _fresh(url, stores)
    import_file(ctx, "members", members_csv, ImportOptions(progress=False))
    with ctx.engine.connect() as conn:
        store_ids = dict(conn.execute(select(stores_t.c.code, stores_t.c.id)).all())
    from datetime import datetime as dt
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("Asia/Shanghai")
    t0 = time.perf_counter()
    lines = 0
    with purchases_csv.open(encoding="utf-8") as fh:
        reader = csv.reader(fh)
        next(reader)
        order: list[list[str]] = []

        def flush(rows: list[list[str]]) -> None:
            mid = None  # a walk-in's sale names no card: kept as an anonymous sale
            if rows[0][3]:
                with ctx.engine.connect() as conn:
                    card = members.c.card_no == rows[0][3]
                    mid = conn.execute(select(members.c.id).where(card)).scalar_one()
            post_purchase(
                ctx,
                PurchaseIn(
                    store_id=store_ids[rows[0][1]],
                    order_id=rows[0][0],
                    occurred_at=dt.fromisoformat(rows[0][2]).replace(tzinfo=tz),
                    member_id=mid,
                    lines=[
                        PurchaseLineIn(
                            sku=r[4],
                            category=r[5],
                            quantity=int(r[6]),
                            unit_price_minor=int(r[7].replace(".", "")),
                        )
                        for r in rows
                    ],
                ),
            )

        for row in reader:
            if order and row[0] != order[0][0]:
                flush(order)
                order = []
                if lines >= sample_lines:
                    break
            order.append(row)
            lines += 1
        else:
            if order:
                flush(order)
    return {"lines": lines, "seconds": time.perf_counter() - t0}


def _another(backend: str, work: Path, programme: str) -> str:
    """A second fresh database of `backend` for another programme's run."""
    if backend == "sqlite":
        return f"sqlite:///{work / f'bench-{programme}.db'}"
    from conftest import create_pg_database  # type: ignore[import-not-found]

    url: str = create_pg_database("loyalty_bench")
    return url


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=10_000_000)
    parser.add_argument("--small", action="store_true", help="smoke size: 20,000 lines")
    parser.add_argument("--baseline-lines", type=int, default=3_000)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--postgres-lines", type=int, default=None, help="PostgreSQL on the first N lines")
    parser.add_argument("--phases", action="store_true", help="log each import phase and batch")
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="keep the generated files in this folder and take them again in a later run of the same size",
    )
    parser.add_argument(
        "--without-cashier",
        action="store_true",
        help=f"the export without its cashier column ({CASHIER}), as before staff attribution",
    )
    parser.add_argument(
        "--programme",
        choices=["base", "rules", "both"],
        default="both",
        help="the base rule alone, the demo café's earning rules, or both in the same run",
    )
    args = parser.parse_args()
    if args.phases:
        import logging

        logging.basicConfig(format="%(asctime)s %(message)s", level=logging.WARNING)
        logging.getLogger("loyalty.imports").setLevel(logging.INFO)
    lines = 20_000 if args.small else args.lines
    print(machine.note(repeat=1 if args.small else 3), flush=True)
    work = Path(tempfile.mkdtemp(prefix="loyalty-bench-"))
    try:
        t = time.perf_counter()
        members_csv, purchases_csv, stores, orders = make_data(
            lines, work, kept=args.data, without_cashier=args.without_cashier
        )
        os.sync()  # the export files are on disk before the clock starts, as a chain's would be
        # The product's bytecode written first, as an installation has it (pip compiles on install):
        # a checkout run with PYTHONDONTWRITEBYTECODE would compile every module in each timed process.
        compileall.compile_dir(SRC, quiet=1)
        print(f"generated {lines:,}+ purchase lines ({orders:,} orders) in {time.perf_counter() - t:.1f} s")
        backends = [("sqlite", f"sqlite:///{work / 'bench.db'}", f"sqlite:///{work / 'naive.db'}")]
        if not args.no_postgres:
            try:
                sys.path.insert(0, str(ROOT / "tests"))
                from conftest import create_pg_database, drop_pg_database  # type: ignore[import-not-found]

                backends.append(
                    ("postgresql", create_pg_database("loyalty_bench"), create_pg_database("loyalty_bench"))
                )
            except BaseException as exc:
                print(f"PostgreSQL skipped: {exc}")
        for name, url, naive_url in backends:
            source = purchases_csv
            if name == "postgresql" and args.postgres_lines and args.postgres_lines < lines:
                source = work / "purchases-pg.csv"
                with purchases_csv.open(encoding="utf-8") as src, source.open("w", encoding="utf-8") as dst:
                    for i, text_line in enumerate(src):
                        if i > args.postgres_lines:
                            break
                        dst.write(text_line)
                print(f"postgresql: first {args.postgres_lines:,} lines of the file")
            programmes = ["base", "rules"] if args.programme == "both" else [args.programme]
            runs = {}
            for programme in programmes:
                target = url if programme == programmes[0] else _another(name, work, programme)
                runs[programme] = run_ours(target, members_csv, source, stores, args.phases, programme)
                if target != url and name == "postgresql":
                    drop_pg_database(target)
            ours = runs[programmes[0]]
            if len(runs) == 2:
                print(
                    f"{name:<10} with {len(import_rules()) + 5} earning rules: "
                    f"{runs['rules']['purchases_s']:.1f} s "
                    f"vs {runs['base']['purchases_s']:.1f} s for the base rule alone "
                    f"({runs['rules']['purchases_s'] / runs['base']['purchases_s']:.2f}×; target <= 1.5×)"
                )
            naive = run_naive(naive_url, members_csv, source, stores, min(args.baseline_lines, lines))
            ours_rate = ours["lines"] / ours["purchases_s"]
            naive_rate = naive["lines"] / naive["seconds"]
            scaled = ours["lines"] / naive_rate
            print(
                f"{name:<10} import purchases: {ours['lines']:>11,} lines in {ours['purchases_s']:8.1f} s = "
                f"{ours_rate:>9,.0f} lines/s | naive row-by-row: {naive_rate:>7,.0f} lines/s "
                f"(timed on {naive['lines']:,} lines, scaled to all: {scaled:,.0f} s) "
                f"| ratio {ours_rate / naive_rate:4.1f}x"
            )
            print(f"{'':<10} members: {ours['members']:,.0f} in {ours['members_s']:.1f} s")
            if name == "postgresql":
                drop_pg_database(url)
                drop_pg_database(naive_url)
        print(
            "target: 10,000,000 lines into SQLite in <= 120 s; peak RSS of an import process "
            f"{peak_rss_mib(resource.RUSAGE_CHILDREN):,.0f} MiB (this process, generator and baseline: "
            f"{peak_rss_mib():,.0f} MiB)"
        )
        print(machine.note(repeat=1 if args.small else 3, when="after"), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("LOYALTY_SQL_ECHO", "false")
    main()
