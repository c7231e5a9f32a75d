"""`loyalty targets …` on the chain of tests/targets/conftest.py: March 2026's plan typed by hand and
broken down from last March, followed once the month is over (the commands run on the real clock, so
March's figures are final: each store's actual is its whole month's, 100 % of it gone), the league
and the alerts, a store's target changed, the history, the alert thresholds; refusals naming the
argument or option, in LOYALTY_LOCALE.

March 2026 (worked out by hand from the chain's story): S001 ¥1,500 (three Mondays of ¥500), BER ¥900
(three Sundays of ¥300), SH2 ¥400 (two Saturdays of ¥200), NEW ¥300. March 2025, the basis of a
breakdown by last year: S001 ¥300, BER ¥100, SH2 ¥600 (¥700 less a ¥100 refund), NEW nothing (it
opened in 2026).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from loyalty.bootstrap import Context, FrozenClock
from loyalty.config import Settings
from loyalty.db.engine import make_engine
from loyalty.db.migrate import upgrade
from tests.targets.conftest import NOW, build
from tests.test_cli_database import invoke


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The chain, built once (its story needs a clock moved event by event)."""
    path = tmp_path_factory.mktemp("cli-targets") / "chain.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    clock = FrozenClock(NOW)
    build(Context(engine=engine, settings=Settings(timezone="Asia/Shanghai"), clock=clock), clock)
    engine.dispose()
    return path


@pytest.fixture
def chain(built: Path, tmp_path: Path) -> str:
    """A copy of the chain for this test: its database URL."""
    shutil.copy(built, tmp_path / "chain.db")
    return f"sqlite:///{tmp_path / 'chain.db'}"


def run(monkeypatch: pytest.MonkeyPatch, url: str, *args: str) -> tuple[int, str, str]:
    result = invoke(monkeypatch, Path(url.removeprefix("sqlite:///")).parent, list(args), url)
    return result.exit_code, result.stdout, result.stderr


def test_a_month_set_by_hand_followed_ranked_and_changed(chain: str, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = run(
        monkeypatch, chain, "targets", "set", "2026-03", "sales", "6100",
        "--target", "S001=3000", "--target", "BER=1,500", "--target", "SH2=1200.00", "--target", "NEW=400",
    )  # fmt: skip
    assert code == 0, err
    assert out.splitlines()[0] == "plan 1: sales targets for 2026-03, chain CN¥6,100.00 (typed by hand)"
    assert "set by system:cli at " in out
    assert out.splitlines()[3].split() == ["S001", "总店", "East", "CN¥3,000.00", "—", "—", "yes"]

    code, out, err = run(monkeypatch, chain, "targets", "progress", "2026-03", "--json")
    assert code == 0, err
    p = json.loads(out)
    final = [
        (s["store"]["code"], s["state"], s["elapsed"], s["forecast_method"], s["standings"][0]["actual"],
         s["standings"][0]["progress"], s["standings"][0]["ahead_points"], s["standings"][0]["forecast"])
        for s in p["stores"]
    ]  # fmt: skip
    assert final == [
        ("S001", "past", "1.0000", "final", 150_000, "0.5000", "-50.00", 150_000),
        ("BER", "past", "1.0000", "final", 90_000, "0.6000", "-40.00", 90_000),
        ("SH2", "past", "1.0000", "final", 40_000, "0.3333", "-66.67", 40_000),
        ("NEW", "past", "1.0000", "final", 30_000, "0.7500", "-25.00", 30_000),
    ]
    assert p["chain"]["standings"][0]["actual"] == 310_000

    code, out, _ = run(monkeypatch, chain, "targets", "progress", "2026-03")
    assert out.splitlines()[0].startswith("sales, 2026-03, as of ")
    sh2 = next(line.split() for line in out.splitlines() if line.startswith("SH2"))
    assert sh2 == [
        "SH2", "SH2", "CN¥1,200.00", "CN¥400.00", "33.3%", "100.0%", "-66.67", "CN¥400.00", "33.3%", "—",
        "behind",
    ]  # fmt: skip
    chain_line = next(line.split() for line in out.splitlines() if line.startswith("whole chain"))
    assert chain_line[2:7] == ["stores:", "4", "CN¥6,100.00", "CN¥3,100.00", "50.8%"]

    code, out, _ = run(monkeypatch, chain, "targets", "league", "2026-03")
    ranks = [line.split()[:2] for line in out.splitlines()[2:]]
    assert ranks == [["1", "NEW"], ["2", "BER"], ["3", "S001"], ["4", "SH2"]]
    code, out, _ = run(monkeypatch, chain, "targets", "alerts", "2026-03", "--metric", "sales")
    assert out.splitlines()[4] == (
        "SH2 sales: 33.3% of CN¥1,200.00 achieved with 100.0% of the month gone (more than 10 points behind)"
    )
    assert len(out.splitlines()) == 8  # every store, both rules: the month ended short everywhere

    code, out, err = run(
        monkeypatch, chain, "targets", "edit", "2026-03", "sales", "--target", "SH2=400", "--replaces", "1",
        "--json",
    )  # fmt: skip
    assert code == 0, err
    edited = json.loads(out)
    assert (edited["id"], edited["method"], edited["chain_target"]) == (2, "manual", 530_000)
    code, _, err = run(
        monkeypatch, chain, "targets", "edit", "2026-03", "sales", "--target", "SH2=1", "--replaces", "1"
    )
    assert (code, err.strip()) == (
        1, "the targets were changed meanwhile (plan 2 is current, not 1): reload them"
    )  # fmt: skip
    code, out, _ = run(monkeypatch, chain, "targets", "history", "2026-03", "sales")
    rows = [line.split() for line in out.splitlines()[1:]]
    assert [(r[0], r[-1]) for r in rows] == [("2", "CN¥5,300.00"), ("1", "2")]
    code, out, _ = run(monkeypatch, chain, "targets", "show", "2026-03")
    assert out.splitlines()[0] == "plan 2: sales targets for 2026-03, chain CN¥5,300.00 (typed by hand)"

    code, out, err = run(
        monkeypatch, chain, "targets", "alert-rules", "--behind-points", "45", "--forecast-pct", "40"
    )
    assert code == 0, err
    assert out.splitlines()[0] == (
        "a store is behind when its progress trails the time elapsed by more than 45 points, "
        "or its forecast falls below 40 % of its target"
    )
    assert out.splitlines()[1].startswith("changed by system:cli at ")
    code, out, _ = run(monkeypatch, chain, "targets", "alerts", "2026-03")
    assert [line.split(":")[0] for line in out.splitlines()] == ["S001 sales"]  # 50 points behind, no more


def test_a_breakdown_by_last_years_month(chain: str, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = run(
        monkeypatch, chain, "targets", "set", "2026-03", "sales", "1000", "--method", "auto", "--step", "10",
        "--note", "spring", "--json",
    )  # fmt: skip
    assert code == 0, err
    plan = json.loads(out)
    assert (plan["method"], plan["reason"], plan["basis_start"], plan["basis_end"], plan["note"]) == (
        "last_year", None, "2025-03-01", "2025-03-31", "spring"
    )  # fmt: skip
    assert [(t["store"]["code"], t["target"], t["basis"], t["share"]) for t in plan["stores"]] == [
        ("S001", 30_000, 30_000, "0.3000"), ("BER", 10_000, 10_000, "0.1000"),
        ("SH2", 60_000, 60_000, "0.6000"), ("NEW", 0, 0, "0.0000"),
    ]  # fmt: skip
    code, out, _ = run(monkeypatch, chain, "targets", "show", "2026-03", "sales")
    assert "(shares of the same month last year)" in out.splitlines()[0]
    assert out.splitlines()[1] == "  basis: 2025-03-01 to 2025-03-31"


def test_refusals_name_the_argument_or_option(
    chain: str, monkeypatch: pytest.MonkeyPatch, locale: Callable[[str], None]
) -> None:
    for args, named in (
        (["targets", "set", "2026-13", "sales", "100"], "'MONTH'"),
        (["targets", "set", "0001-01", "sales", "100"], "'MONTH'"),
        (["targets", "set", "2026-04", "profit", "100"], "'METRIC'"),
        (["targets", "set", "2026-04", "sales", "--", "-100"], "'CHAIN_TARGET'"),
        (["targets", "set", "2026-04", "sales", "100", "--target", "S001=-5"], "'--target'"),
        (["targets", "set", "2026-04", "sales", "1.001"], "'CHAIN_TARGET'"),
        (["targets", "set", "2026-04", "new_members", "2.5"], "'CHAIN_TARGET'"),
        (["targets", "set", "2026-04", "sales", "100", "--method", "magic"], "'--method'"),
        (["targets", "set", "2026-04", "sales", "150", "--step", "100"], "'CHAIN_TARGET'"),
        (["targets", "set", "2026-04", "sales", "100", "--target", "NOPE=10"], "'--target'"),
        (["targets", "set", "2026-04", "sales", "100", "--target", "S001"], "'--target'"),
        (["targets", "set", "2026-04", "sales", "100", "--target", "S001=200"], "'--target'"),
        (["targets", "edit", "2026-04", "sales"], "'--target'"),
        (["targets", "progress", "2026-04", "--metric", "profit"], "'--metric'"),
        (["targets", "league", "2026-04", "--metric", "profit"], "'--metric'"),
        (["targets", "progress", "2026-04", "--store", "NOPE"], "'--store'"),
        (["targets", "alert-rules", "--behind-points", "101"], "'--behind-points'"),
    ):
        code, out, err = run(monkeypatch, chain, *args)
        assert code == 2, (args, out, err)
        assert named in err, (args, err)
    code, _, err = run(monkeypatch, chain, "targets", "show", "2026-07", "sales")
    assert (code, err.strip()) == (1, "no sales targets are set for 2026-07")
    code, _, err = run(monkeypatch, chain, "targets", "league", "2026-04", "--region", "Mars")
    assert (code, err.strip()) == (1, "no store is in region Mars")
    code, out, _ = run(monkeypatch, chain, "targets", "alerts", "2026-04")
    assert (code, out.strip()) == (0, "no store is behind its targets for 2026-04")

    locale("zh-CN")
    code, out, _ = run(monkeypatch, chain, "targets", "alert-rules")
    assert out.strip() == "门店完成率落后时间进度超过 10 个百分点，或预测低于目标的 90%，即视为落后"
    code, _, err = run(monkeypatch, chain, "targets", "show", "2026-07")
    assert (code, err.strip()) == (1, "2026-07 尚未设定 sales 目标")
    code, out, err = run(monkeypatch, chain, "targets", "set", "2026-03", "sales", "100", "--method", "equal")
    assert code == 0, err
    assert out.splitlines()[0] == "方案 1：2026-03 的 sales 目标，全连锁 ¥100.00（平均分配）"
