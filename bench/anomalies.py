"""Benchmark: anomaly detection on a generated chain with planted fraud — recall, precision, PR curve.

    .venv/bin/python bench/anomalies.py            # 5,000 members, 6 months, 15 instances of each pattern
    .venv/bin/python bench/anomalies.py --small    # 800 members, 3 months, 5 of each (the smoke test)

A demo-like chain (`loyalty.demo.generator`, imported through the real import path into a temporary
SQLite database) gets the four fraud patterns of `loyalty.demo.fraud` planted into its last four
weeks through the product's own services; then the period is scanned. An instance counts as found
when its main subject (the shared card's member, the abuser, the farmer, the adjusting staff member)
has a flag; a flag is right when its subject is involved in a planted instance (an accomplice who
received the staff's points included). Everything else the scan flags is a false alarm.

Printed side by side in one run: the threshold rules alone, the robust z-scores alone, the isolation
forest alone, and everything together (what the product runs), each with recall per pattern and
overall precision; then the precision-recall curve of the whole scan over the flags' score (1.0 is
each rule's line) as a table, also written as an HTML page with its chart (``--out``). Target
(issue #26): recall ≥ 0.9 at precision ≥ 0.5, at the product's default rules. Finally the scan is
run for real (flags written) twice, to show the second run adds nothing.
"""

from __future__ import annotations

import argparse
import html
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import machine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from loyalty.analytics.anomalies import RULE_CODES, Finding, RuleSet, detect, resolve  # noqa: E402
from loyalty.bootstrap import Context  # noqa: E402
from loyalty.demo.fraud import PATTERNS, Planted, plant_fraud  # noqa: E402

TARGET_RECALL = 0.9
TARGET_PRECISION = 0.5
THRESHOLD_RULES = (
    "points_earned",
    "points_spent",
    "velocity",
    "shared_card",
    "return_ratio",
    "after_hours",
    "staff_adjustments",
)
METHODS: dict[str, tuple[str, ...]] = {
    "rules only": THRESHOLD_RULES,
    "robust z only": ("robust_z",),
    "isolation forest only": ("isolation_forest",),
    "all (product)": RULE_CODES,
}
GRID = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0, 3.0, 5.0)
#: how far the curve's rules are loosened below the product's lines (scores stay in the lines' units)
LOOSER = 0.5


def build_chain(url: str, members: int, months: int, seed: int, data_dir: Path) -> Context:
    """A demo-like chain in the database at `url`, built as `loyalty demo` builds it (without its jobs)."""
    from rich.console import Console

    from loyalty.db.migrate import upgrade
    from loyalty.demo.chain import ensure_stores
    from loyalty.demo.generator import ChainSpec, generate, history_start, write_files
    from loyalty.demo.programme import define_demo_programme
    from loyalty.imports.runner import ImportOptions, import_file
    from loyalty.services.seed import DEMO_TIERS, ensure_programme

    ctx = Context.from_url(url)
    upgrade(ctx.engine)
    ensure_programme(ctx, tier_ladder=DEMO_TIERS)
    spec = ChainSpec(members=members, months=months, seed=seed, end=ctx.now().date())
    data = generate(spec)
    files = write_files(data, data_dir)
    ensure_stores(ctx, data.stores.to_pylist())
    define_demo_programme(ctx, history_start(spec))
    quiet = Console(quiet=True)
    for kind, path in (
        ("members", files.members),
        ("purchases", files.purchases),
        ("returns", files.returns),
        ("balances", files.balances),
    ):
        import_file(ctx, kind, path, ImportOptions(progress=False), console=quiet)
    return ctx


def loosened(rules: RuleSet) -> tuple[RuleSet, dict[str, float]]:
    """The rules with every line that a finding's score is measured against moved to `LOOSER` of
    itself (the isolation forest's to its floor, 0.5), and per kind the factor that puts a finding's
    score back in the product's units (1.0 = the default line). Gates that count occurrences (least
    purchases, pairs, redemptions) stay as they are, so the curve at 1.0 is exactly the product."""
    changes: dict[str, dict[str, float]] = {}
    scale: dict[str, float] = {}
    for code in ("points_earned", "points_spent"):
        changes[code] = {w: round(rules[code][w] * LOOSER) for w in ("day", "week", "month")}
        scale[code] = LOOSER
    changes["velocity"] = {"per_hour": max(2, round(rules["velocity"]["per_hour"] * LOOSER))}
    scale["velocity"] = changes["velocity"]["per_hour"] / rules["velocity"]["per_hour"]
    changes["return_ratio"] = {"ratio": rules["return_ratio"]["ratio"] * LOOSER}
    scale["return_ratio"] = LOOSER
    staff = rules["staff_adjustments"]
    changes["staff_adjustments"] = {
        k: round(staff[k] * LOOSER) for k in ("count_day", "points_day", "points_month")
    }
    scale["staff_adjustments"] = LOOSER
    changes["robust_z"] = {"threshold": max(2.0, rules["robust_z"]["threshold"] * LOOSER)}
    scale["robust_z"] = changes["robust_z"]["threshold"] / rules["robust_z"]["threshold"]
    changes["isolation_forest"] = {"min_score": 0.5}
    scale["isolation_forest"] = 0.5 / rules["isolation_forest"]["min_score"]
    scale["shared_card"] = scale["after_hours"] = 1.0
    stored = rules.as_stored()
    for code, params in changes.items():
        stored[code]["params"].update(params)
    return resolve(stored), scale


def only(rules: RuleSet, codes: Iterable[str]) -> RuleSet:
    keep = set(codes)
    return resolve({c: {"enabled": c in keep, "params": dict(s.params)} for c, s in rules.settings.items()})


@dataclass
class Scores:
    """Per subject, the highest score of its findings (and of which kinds)."""

    best: dict[str, float]
    kinds: dict[str, set[str]]


def subject_scores(findings: list[Finding], scale: dict[str, float] | None = None) -> Scores:
    best: dict[str, float] = {}
    kinds: dict[str, set[str]] = {}
    for f in findings:
        score = f.score * (scale or {}).get(f.kind, 1.0)
        best[f.subject] = max(best.get(f.subject, 0.0), score)
        kinds.setdefault(f.subject, set()).add(f.kind)
    return Scores(best, kinds)


@dataclass
class Measured:
    recall: dict[str, float]
    overall_recall: float
    precision: float
    flagged: int
    right: int


def measure(scores: Scores, planted: list[Planted], threshold: float = 1.0) -> Measured:
    flagged = {s for s, v in scores.best.items() if v >= threshold}
    involved = {s for p in planted for s in p.subjects}
    right = len(flagged & involved)
    recall = {}
    for pattern in PATTERNS:
        mine = [p for p in planted if p.pattern == pattern]
        recall[pattern] = sum(p.main in flagged for p in mine) / len(mine) if mine else float("nan")
    overall = sum(p.main in flagged for p in planted) / len(planted) if planted else float("nan")
    precision = right / len(flagged) if flagged else 1.0
    return Measured(recall, overall, precision, len(flagged), right)


def pr_curve(scores: Scores, planted: list[Planted]) -> list[tuple[float, Measured]]:
    return [(t, measure(scores, planted, t)) for t in GRID]


def write_html(curve: list[tuple[float, Measured]], path: Path, title: str) -> None:
    from loyalty.analytics import charts

    xs = [t for t, _ in curve]
    by_threshold = charts.lines(
        xs,
        [
            ("precision", [m.precision for _, m in curve], charts.BLUE, "-o"),
            ("recall", [m.overall_recall for _, m in curve], charts.ORANGE, "-s"),
        ],
        name="pr-threshold",
        xlabel="score threshold (1.0 = the default lines)",
        ylabel="share",
        marker_x=1.0,
        marker_label="default",
    )
    rows = "".join(
        f"<tr><td>{t:g}</td><td>{m.flagged}</td><td>{m.right}</td><td>{m.precision:.3f}</td>"
        f"<td>{m.overall_recall:.3f}</td></tr>"
        for t, m in curve
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "<!doctype html><meta charset='utf-8'><title>{t}</title><h1>{t}</h1>{svg}"
        "<table border=1 cellpadding=4><tr><th>score ≥</th><th>flagged</th><th>right</th>"
        "<th>precision</th><th>recall</th></tr>{rows}</table>".format(
            t=html.escape(title), svg=by_threshold, rows=rows
        ),
        encoding="utf-8",
    )


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", action="store_true", help="800 members, 3 months, 5 instances of each pattern")
    ap.add_argument("--members", type=int, default=5_000)
    ap.add_argument("--months", type=int, default=6)
    ap.add_argument("--per-pattern", type=int, default=15)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=ROOT / "var" / "bench" / "anomalies-pr.html")
    args = ap.parse_args()
    if args.small:
        args.members, args.months, args.per_pattern = 800, 3, 5

    from loyalty.services.anomalies import get_rules, list_flags, scan
    from loyalty.services.anomalies.activity import load_activity

    ref_before = machine.reference_s()
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        ctx = build_chain(
            f"sqlite:///{tmp}/bench.db", args.members, args.months, args.seed, Path(tmp) / "data"
        )
        built = time.perf_counter() - started
        started = time.perf_counter()
        planted = plant_fraud(ctx, args.per_pattern, seed=args.seed)
        plant_s = time.perf_counter() - started
        print(
            f"chain: {args.members:,} members, {args.months} months (built in {built:.1f} s); "
            f"planted {len(planted)} instances ({args.per_pattern} of each of {len(PATTERNS)} patterns) "
            f"in {plant_s:.1f} s"
        )
        rules = get_rules(ctx)
        from loyalty.services.anomalies.scan import period

        start, end = period(ctx, None, None)
        started = time.perf_counter()
        activity = load_activity(ctx, start, end)
        load_s = time.perf_counter() - started
        print(
            f"period {start} … {end}: {len(activity.purchases):,} purchases, {len(activity.redemptions):,} "
            f"redemptions, {len(activity.adjustments):,} manual adjustments (read in {load_s:.2f} s)"
        )
        print()
        header = f"{'method':<24}{'seconds':>9}{'flagged':>9}{'right':>7}{'precision':>11}"
        header += "".join(f"{p:>19}" for p in PATTERNS) + f"{'recall':>9}"
        print(header)
        results: dict[str, Scores] = {}
        for name, codes in METHODS.items():
            started = time.perf_counter()
            detected = detect(activity, only(rules, codes))
            seconds = time.perf_counter() - started
            scores = subject_scores(detected.findings)
            results[name] = scores
            m = measure(scores, planted)
            line = f"{name:<24}{seconds:>9.2f}{m.flagged:>9}{m.right:>7}{m.precision:>11.3f}"
            line += "".join(f"{m.recall[p]:>19.2f}" for p in PATTERNS) + f"{m.overall_recall:>9.3f}"
            print(line)
        print()
        print(
            "precision-recall curve of the whole scan: the subjects whose best finding scores at least the "
            "threshold,\nin units of the default lines (1.0 = the product's defaults; below 1, every line "
            f"loosened to {LOOSER:g} of itself):"
        )
        print(f"{'score ≥':>8}{'flagged':>9}{'right':>7}{'precision':>11}{'recall':>9}")
        looser, scale = loosened(rules)
        curve = pr_curve(subject_scores(detect(activity, looser).findings, scale), planted)
        for t, m in curve:
            mark = "   ← default rules" if t == 1.0 else ""
            print(f"{t:>8g}{m.flagged:>9}{m.right:>7}{m.precision:>11.3f}{m.overall_recall:>9.3f}{mark}")
        meeting = [
            t for t, m in curve if m.overall_recall >= TARGET_RECALL and m.precision >= TARGET_PRECISION
        ]
        if meeting:
            print(f"thresholds meeting the target: {min(meeting):g} … {max(meeting):g}")
        write_html(curve, args.out, "Anomaly detection: precision and recall by score threshold")
        print(f"chart and table: {args.out}")
        product = measure(results["all (product)"], planted)
        met = product.overall_recall >= TARGET_RECALL and product.precision >= TARGET_PRECISION
        print()
        print(
            f"target recall ≥ {TARGET_RECALL} at precision ≥ {TARGET_PRECISION} (default rules): "
            f"recall {product.overall_recall:.3f}, precision {product.precision:.3f} → "
            + ("targets met: yes" if met else "targets met: NO")
        )
        started = time.perf_counter()
        first = scan(ctx, start, end)
        scan_s = time.perf_counter() - started
        second = scan(ctx, start, end)
        open_flags = list_flags(ctx, limit=1).total
        print(
            f"scan with flags written: {scan_s:.2f} s, {first.new} new flags; "
            f"rerun: {second.new} new, {second.updated} updated; open flags {open_flags}"
        )
        ctx.engine.dispose()
    ref_after = machine.reference_s()
    print(f"machine reference: {ref_before:.3f} s before, {ref_after:.3f} s after")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
