"""`loyalty programme init` and `loyalty stores add/list`: from `db upgrade` to a first import.

After `loyalty db upgrade` nothing could earn points: `loyalty import purchases` stopped with "no merchant
configured; run the programme seed first", and no command ran that seed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import Result

from loyalty.bootstrap import Context
from loyalty.services import seed
from tests.test_cli_database import invoke

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture
def chain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory whose default database is migrated and empty."""
    assert invoke(monkeypatch, tmp_path, ["db", "upgrade"]).exit_code == 0
    return tmp_path


def run(monkeypatch: pytest.MonkeyPatch, cwd: Path, *args: str) -> Result:
    return invoke(monkeypatch, cwd, list(args))


def state(cwd: Path) -> seed.ProgrammeState:
    return seed.programme_state(Context.from_url(f"sqlite:///{cwd / 'var' / 'loyalty.db'}"))


def test_init_builds_the_demo_programme_then_says_it_exists(
    chain: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = run(monkeypatch, chain, "programme", "init")
    assert first.exit_code == 0, first.output
    assert "created: programme, tiers, merchant" in first.stdout
    got = state(chain)
    assert got.currency == "CNY"
    assert got.merchant_name == seed.MERCHANT_NAME
    assert got.tiers == seed.ladder(seed.DEMO_TIERS)
    assert got.stores == 0  # stores come from `stores add`, with their own codes

    again = run(monkeypatch, chain, "programme", "init")
    assert again.exit_code == 0
    assert "the programme exists; nothing changed" in again.stdout
    assert "银卡 (silver): qualifying spend CN¥1,000.00, points ×1.20" in again.stdout
    assert state(chain) == got
    shown = run(monkeypatch, chain, "programme", "show")
    assert shown.exit_code == 0
    assert "钻石 (diamond): qualifying spend CN¥8,000.00, points ×2.00" in shown.stdout


def test_init_with_a_ladder_of_its_own(chain: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = run(
        monkeypatch,
        chain,
        "programme",
        "init",
        "--name",
        "悦享咖啡",
        "--currency",
        "cny",
        "--timezone",
        "Asia/Shanghai",
        "--tier",
        "会员:0:100",
        "--tier",
        "银卡:1,500.50:125%",
        "--tier",
        "Black Card:20000:200:black",
    )
    assert result.exit_code == 0, result.output
    got = state(chain)
    assert got.merchant_name == "悦享咖啡"
    assert got.tiers == (
        seed.TierSpec("tier1", "会员", 0, 100),
        seed.TierSpec("silver", "银卡", 150_050, 125),
        seed.TierSpec("black", "Black Card", 2_000_000, 200),
    )
    # The same options again: nothing to change. Other ones: refused, naming what differs.
    same = run(monkeypatch, chain, "programme", "init", "--name", "悦享咖啡")
    assert same.exit_code == 0
    other = run(monkeypatch, chain, "programme", "init", "--tier", "普通:0:100")
    assert other.exit_code == 1
    assert other.stderr.strip() == (
        "the programme exists with other tiers (会员 / 银卡 / Black Card); "
        "`loyalty programme init` never changes an existing programme"
    )
    renamed = run(monkeypatch, chain, "programme", "init", "--name", "别的连锁")
    assert renamed.exit_code == 1
    assert "'悦享咖啡', not '别的连锁'" in renamed.stderr
    assert state(chain) == got


@pytest.mark.parametrize(
    ("args", "option", "words"),
    [
        (["--tier", "银卡:1000"], "--tier", "expected NAME:SPEND:MULTIPLIER[:CODE]"),
        (["--tier", "普通:abc:100"], "--tier", "qualifying spend 'abc' is not an amount"),
        (["--tier", "普通:0.001:100"], "--tier", "more decimals than CNY has"),
        (["--tier", "普通:-5:100"], "--tier", "must be 0 or more"),
        (["--tier", "普通:0:1.2"], "--tier", "whole percentage, e.g. 120 for ×1.2"),
        (["--tier", "银卡:1000:120"], "--tier", "the first tier ('银卡') must need no spend"),
        (["--tier", "普通:0:100", "--tier", "银卡:0:120"], "--tier", "must need more spend than '普通'"),
        (["--tier", "普通:0:100", "--tier", "普通:10:120"], "--tier", "tier name '普通' is used twice"),
        (["--tier", "普通:0:100:Bad Code"], "--tier", "tier code 'Bad Code' must be lower-case"),
        (["--tier", "普通:0:5000"], "--tier", "multiplier must be 0 to 1000 percent"),
        (["--currency", "XYZ"], "--currency", "unknown currency 'XYZ'"),
        (["--currency", "USD"], "--currency", "export LOYALTY_CURRENCY=USD"),
        (["--timezone", "Mars/Olympus"], "--timezone", "unknown time zone 'Mars/Olympus'"),
        (["--timezone", "Asia/Tokyo"], "--timezone", "export LOYALTY_TIMEZONE=Asia/Tokyo"),
        (["--name", "  "], "--name", "the chain's name must be 1 to 200 characters"),
    ],
)
def test_init_names_the_bad_option(
    chain: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], option: str, words: str
) -> None:
    result = run(monkeypatch, chain, "programme", "init", *args)
    assert result.exit_code == 2, result.output
    flat = " ".join(result.output.replace("│", " ").split())
    assert f"Invalid value for '{option}'" in flat
    assert words in flat
    assert state(chain).programme_id is None  # nothing half-made


def test_stores_add_and_list(chain: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = run(monkeypatch, chain, "stores", "add", "NJ01", "南京新街口店")
    assert before.exit_code == 1
    assert before.stderr.strip() == "no programme yet: run `loyalty programme init` first"

    assert run(monkeypatch, chain, "programme", "init").exit_code == 0
    added = run(monkeypatch, chain, "stores", "add", "NJ01", "南京新街口店", "--city", "南京")
    assert added.exit_code == 0, added.output
    assert added.stdout.strip() == "added store NJ01 南京新街口店 (id 1, 南京, Asia/Shanghai)"
    far = run(monkeypatch, chain, "stores", "add", "UR02", "乌鲁木齐友好路店", "--timezone", "Asia/Urumqi")
    assert far.exit_code == 0, far.output

    twice = run(monkeypatch, chain, "stores", "add", "NJ01", "南京新街口店")
    assert twice.exit_code == 1
    assert twice.stderr.strip() == "store code 'NJ01' already exists"
    bad_code = run(monkeypatch, chain, "stores", "add", "NJ 02", "南京二店")
    assert bad_code.exit_code == 2
    assert "Invalid value for 'CODE'" in bad_code.output
    bad_zone = run(monkeypatch, chain, "stores", "add", "NJ02", "南京二店", "--timezone", "Asia/Nanjing")
    assert bad_zone.exit_code == 2
    assert "Invalid value for '--timezone'" in bad_zone.output

    listed = run(monkeypatch, chain, "stores", "list", "--json")
    assert [(s["code"], s["city"], s["timezone"]) for s in json.loads(listed.stdout)] == [
        ("NJ01", "南京", "Asia/Shanghai"),
        ("UR02", None, "Asia/Urumqi"),
    ]
    table = run(monkeypatch, chain, "stores", "list")
    assert "乌鲁木齐友好路店" in table.stdout


def test_after_init_and_stores_the_sample_files_import(chain: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue #21, item 3: `db upgrade` → `programme init` → `stores add` → imports, all exit 0."""
    assert run(monkeypatch, chain, "programme", "init").exit_code == 0
    for code, name in (("NJ01", "南京新街口店"), ("WH01", "武汉江汉路店")):
        assert run(monkeypatch, chain, "stores", "add", code, name).exit_code == 0
    for kind, sample in (
        ("members", "members.csv"),
        ("purchases", "sales.csv"),
        ("returns", "returns.csv"),
        ("balances", "balances.csv"),
    ):
        result = run(
            monkeypatch, chain, "import", kind, str(EXAMPLES / sample), "--json", "--rejects", "r.csv"
        )
        assert result.exit_code == 0, result.output
        summary = json.loads(result.stdout.strip().splitlines()[-1])
        assert summary["rejected"] == 0
        assert summary["imported"] == summary["read"] > 0
    assert state(chain).members == 8


def test_the_import_hint_names_the_command(
    chain: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A mapping file that declares its store, on a database without a programme."""
    mapping = tmp_path / "one-store.yaml"
    mapping.write_text("store: {code: NJ01, name: 南京新街口店}\n", encoding="utf-8")
    result = run(
        monkeypatch, chain, "import", "purchases", str(EXAMPLES / "sales.csv"), "--mapping", str(mapping)
    )
    assert result.exit_code == 2
    assert "no programme yet: run `loyalty programme init` first" in " ".join(result.output.split())
