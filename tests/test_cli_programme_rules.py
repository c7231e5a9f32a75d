"""`loyalty programme rules …` and `loyalty purchases explain`: a marketer's earning rules from the
command line (presets, define, list, export, import with a dry run, retire) and a sale's "why"."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from loyalty.bootstrap import Context
from loyalty.services import members, merchants, purchases
from loyalty.services.schemas import MemberIn, PurchaseIn, PurchaseLineIn
from tests.test_cli_database import invoke


@pytest.fixture
def chain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory whose default database has the programme and a store."""
    for args in (["db", "upgrade"], ["programme", "init"], ["stores", "add", "SH01", "上海店"]):
        result = invoke(monkeypatch, tmp_path, args)
        assert result.exit_code == 0, result.output
    return tmp_path


def run(monkeypatch: pytest.MonkeyPatch, cwd: Path, *args: str) -> tuple[int, str, str]:
    result = invoke(monkeypatch, cwd, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_a_programme_from_presets_to_import(chain: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = run(monkeypatch, chain, "programme", "rules", "presets")
    assert code == 0
    assert [line.split()[0] for line in out.splitlines() if not line.startswith(" ")] == [
        "points-programme",
        "member-day",
        "birthday",
        "min-spend-bonus",
        "visit-streak",
    ]
    code, out, _ = run(monkeypatch, chain, "programme", "rules", "presets", "visit-streak")
    assert code == 0
    assert yaml.safe_load(out)["rules"][0]["when"] == {"visit_streak": {"periods": 4, "per": "week"}}
    code, out, _ = run(monkeypatch, chain, "programme", "rules", "presets", "member-day")
    assert code == 0
    assert yaml.safe_load(out)["rules"][0]["when"] == {"member_day": {"days_of_month": [8]}}
    (chain / "member-day.yaml").write_text(out, encoding="utf-8")
    code, out, _ = run(monkeypatch, chain, "programme", "rules", "define", "member-day.yaml")
    assert code == 0
    assert out.split()[:3] == ["member-day", "v1", "multiplier"]
    code, out, _ = run(monkeypatch, chain, "programme", "rules", "list")
    assert (code, len(out.splitlines())) == (0, 1)

    code, _, err = run(monkeypatch, chain, "programme", "rules", "export", "-o", "rules.yaml")
    assert code == 0
    assert "rules.yaml" in err
    exported = yaml.safe_load((chain / "rules.yaml").read_text(encoding="utf-8"))
    assert (exported["programme"], exported["currency"]) == ("default", "CNY")
    assert [r["code"] for r in exported["rules"]] == ["member-day"]

    # a whole programme: the birthday preset added, member day changed; a dry run first
    exported["rules"][0]["multiplier_pct"] = 300
    exported["rules"].append({"code": "birthday-month", "kind": "multiplier", "multiplier_pct": 200,
                              "when": {"birthday": "month"}})  # fmt: skip
    (chain / "rules.yaml").write_text(yaml.safe_dump(exported, allow_unicode=True), encoding="utf-8")
    code, out, _ = run(monkeypatch, chain, "programme", "rules", "import", "rules.yaml", "--dry-run")
    assert code == 0
    assert [line.split()[:2] for line in out.splitlines()[:2]] == [
        ["member-day", "v2"],
        ["birthday-month", "new"],
    ]
    assert "nothing was written" in out
    code, out, _ = run(monkeypatch, chain, "programme", "rules", "list")
    assert len(out.splitlines()) == 1
    code, out, _ = run(monkeypatch, chain, "programme", "rules", "import", "rules.yaml")
    assert code == 0
    code, out, _ = run(monkeypatch, chain, "programme", "rules", "list", "--history")
    assert [line.split()[:2] for line in out.splitlines()] == [
        ["member-day", "v1"],
        ["member-day", "v2"],
        ["birthday-month", "v1"],
    ]
    code, out, _ = run(monkeypatch, chain, "programme", "rules", "retire", "birthday-month")
    assert code == 0
    code, out, _ = run(monkeypatch, chain, "programme", "rules", "list")
    assert [line.split()[0] for line in out.splitlines()] == ["member-day"]
    code, out, err = run(monkeypatch, chain, "programme", "rules", "retire", "birthday-month")
    assert code == 1
    assert "no rule birthday-month is in force" in err


def test_refusals_name_the_field(chain: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (chain / "bad.yaml").write_text(
        "rules:\n"
        "  - {code: night, kind: fixed_bonus, points: 5, when: {hours: '25:00-26:00'}}\n"
        "  - {code: sh, kind: multiplier, multiplier_pct: 150, when: {stores: [SH99]}}\n",
        encoding="utf-8",
    )
    code, out, err = run(monkeypatch, chain, "programme", "rules", "import", "bad.yaml", "--dry-run")
    assert (code, out) == (1, "")
    assert "  rules[0].when.hours: must read HH:MM-HH:MM (got 25:00-26:00)" in err.splitlines()
    assert "  rules[1].when.stores: no store has the code SH99" in err.splitlines()
    (chain / "ok.yaml").write_text("- {code: a, kind: fixed_bonus, points: 5}\n", encoding="utf-8")
    code, _, err = run(
        monkeypatch, chain, "programme", "rules", "define", "ok.yaml", "--effective-from", "2000-01-01T00:00"
    )
    assert code == 1
    assert "effective_from:" in err
    code, _, err = run(
        monkeypatch, chain, "programme", "rules", "define", "ok.yaml", "--effective-from", "soon"
    )
    assert code == 2
    assert "--effective-from" in err
    code, _, err = run(monkeypatch, chain, "programme", "rules", "define", "missing.yaml")
    assert code == 1
    code, _, err = run(monkeypatch, chain, "programme", "rules", "presets", "coupons")
    assert code == 1
    assert "no preset coupons" in err
    code, out, _ = run(monkeypatch, chain, "programme", "rules", "list")
    assert "no earning rule in force" in out


def test_explain_says_why_a_sale_earned_its_points(chain: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (chain / "rules.yaml").write_text(
        "rules:\n  - {code: apparel-x2, name: 服装双倍, kind: multiplier, multiplier_pct: 200,"
        " when: {categories: [apparel]}}\n",
        encoding="utf-8",
    )
    assert run(monkeypatch, chain, "programme", "rules", "import", "rules.yaml")[0] == 0
    ctx = Context.from_url(f"sqlite:///{chain / 'var' / 'loyalty.db'}")
    store = merchants.list_stores(ctx)[0].id
    member = members.register_member(
        ctx, MemberIn(phone="+8613800000077", name="E", registration_store_id=store)
    )
    sale = purchases.post_purchase(
        ctx,
        PurchaseIn(
            store_id=store,
            order_id="EXPLAIN-1",
            occurred_at=ctx.now() + timedelta(seconds=1),
            member_id=member.id,
            lines=[
                PurchaseLineIn(sku="TEE", category="apparel", quantity=1, unit_price_minor=9950),
                PurchaseLineIn(sku="CAP", category="hats", quantity=1, unit_price_minor=3000),
            ],
        ),
    )
    ctx.engine.dispose()
    code, out, _ = run(monkeypatch, chain, "purchases", "explain", str(sale.purchase_id))
    assert code == 0, out
    lines = out.splitlines()
    assert (
        lines[0]
        == f"purchase {sale.purchase_id} (order EXPLAIN-1): 228 points earned, 0 taken back by returns"
    )
    assert lines[2].endswith(": 198 points = base 99 + apparel-x2 v1 +99 (服装双倍)")
    assert lines[3].endswith(": 30 points = base 30")
    code, out, _ = run(monkeypatch, chain, "purchases", "explain", str(sale.purchase_id), "--json")
    shown = json.loads(out)
    assert [ln["points"] for ln in shown["lines"]] == [198, 30]
    assert shown["lines"][0]["entries"][0]["code"] == "apparel-x2"
    code, out, err = run(monkeypatch, chain, "purchases", "explain", "999999")
    assert (code, out) == (1, "")
    assert json.loads(err)["code"] == "ORDER_NOT_FOUND"


def test_a_draft_is_simulated_from_the_command_line(chain: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = Context.from_url(f"sqlite:///{chain / 'var' / 'loyalty.db'}")
    store = merchants.list_stores(ctx)[0].id
    member = members.register_member(
        ctx, MemberIn(phone="+8613800000078", name="S", registration_store_id=store)
    )
    at = ctx.now() - timedelta(days=1)
    purchases.post_purchase(
        ctx,
        PurchaseIn(
            store_id=store,
            order_id="SIM-1",
            occurred_at=at,
            member_id=member.id,
            lines=[PurchaseLineIn(sku="TEE", category="apparel", quantity=1, unit_price_minor=10_000)],
        ),
    )
    ctx.engine.dispose()
    (chain / "draft.yaml").write_text(
        "rules:\n  - {code: apparel-x3, kind: multiplier, multiplier_pct: 300,"
        " when: {categories: [apparel]}}\n",
        encoding="utf-8",
    )
    day = str((at.astimezone(ZoneInfo("Asia/Shanghai"))).date())
    code, out, err = run(
        monkeypatch, chain, "programme", "rules", "simulate", "draft.yaml", "--from", day, "--to", day
    )
    assert code == 0, err
    assert out.splitlines()[0].endswith(": 100 points earned, 300 by the draft (+200)")
    assert "apparel-x3" in out.splitlines()[1]
    code, out, _ = run(
        monkeypatch,
        chain,
        "programme",
        "rules",
        "simulate",
        "draft.yaml",
        "--from",
        day,
        "--to",
        day,
        "--json",
    )
    assert json.loads(out)["points_draft"] == 300
    code, _, err = run(
        monkeypatch, chain, "programme", "rules", "simulate", "draft.yaml", "--from", "x", "--to", day
    )
    assert code == 2
    assert "--from" in err
    assert run(monkeypatch, chain, "programme", "rules", "list")[1].startswith(
        "no earning rule"
    )  # nothing written
