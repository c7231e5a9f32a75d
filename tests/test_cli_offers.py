"""`loyalty programme offers …` and `loyalty programme coupons void`: an offer defined from YAML with
its limits, codes issued to wallets and as a CSV of shared codes, listed, voided and the offer ended;
refusals name the field (or the command's option) and say why, in LOYALTY_LOCALE."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.test_cli_database import invoke

PRINTED = re.compile(r"^[A-HJ-NP-Z2-9]{4}(-[A-HJ-NP-Z2-9]{4}){3}$")
LADDER: dict[str, Any] = {
    "code": "spring",
    "name": "满100减20",
    "kind": "ladder",
    "steps": [{"over": 100, "off": 20}, {"over": 300, "off": 50}],
    "when": {"categories": ["apparel"]},
}


@pytest.fixture
def chain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory whose default database has the programme, a store and two members (ids 1 and 2)."""
    for args in (
        ["db", "upgrade"],
        ["programme", "init"],
        ["stores", "add", "SH01", "上海店"],
        ["members", "register", "+8613900000001", "Alice", "--store-id", "1"],
        ["members", "register", "+8613900000002", "Bob", "--store-id", "1"],
    ):
        result = invoke(monkeypatch, tmp_path, args)
        assert result.exit_code == 0, result.output
    return tmp_path


def run(monkeypatch: pytest.MonkeyPatch, cwd: Path, *args: str) -> tuple[int, str, str]:
    result = invoke(monkeypatch, cwd, list(args))
    return result.exit_code, result.stdout, result.stderr


def _write(cwd: Path, name: str, offer: dict[str, Any]) -> str:
    (cwd / name).write_text(yaml.safe_dump(offer, allow_unicode=True), encoding="utf-8")
    return name


def test_an_offer_from_its_definition_to_its_end(chain: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = run(monkeypatch, chain, "programme", "offers", "list")
    assert (code, out.startswith("no offer")) == (0, True)
    spring = _write(chain, "spring.yaml", LADDER)
    code, out, err = run(
        monkeypatch, chain, "programme", "offers", "define", spring,
        "--per-member", "1", "--budget", "5000", "--validity-days", "30",
    )  # fmt: skip
    assert code == 0, err
    assert out.splitlines()[0] == "spring — 满100减20"
    assert "budget CN¥5,000.00" in out
    assert "over: '300.00'" in out  # the definition, amounts as decimal strings
    code, out, _ = run(monkeypatch, chain, "programme", "offers", "list")
    assert out.split()[:3] == ["spring", "ladder", "running"]
    assert "budget left CN¥5,000.00, 0 coupons" in out

    code, out, err = run(monkeypatch, chain, "programme", "offers", "issue", "spring", "--members", "1,2")
    assert code == 0, err
    wallets = [line.split() for line in out.splitlines()]
    assert [w[1] for w in wallets] == ["1", "2"]
    assert all(PRINTED.match(w[0]) for w in wallets)
    assert err.startswith("2 codes of spring: usable from")
    code, _, err = run(
        monkeypatch, chain, "programme", "offers", "issue", "spring", "--count", "3", "--max-uses", "5",
        "-o", "codes.csv",
    )  # fmt: skip
    assert code == 0, err
    assert "codes.csv" in err
    with (chain / "codes.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3
    assert all(PRINTED.match(r["code"]) and r["member_id"] == "" for r in rows)

    code, out, _ = run(monkeypatch, chain, "programme", "offers", "coupons", "spring")
    listed = out.splitlines()
    assert len(listed) == 5
    assert {line.split()[0] for line in listed} == {w[0] for w in wallets} | {r["code"] for r in rows}
    assert all(line.split()[1] == "usable" for line in listed)
    code, out, _ = run(monkeypatch, chain, "programme", "offers", "show", "spring")
    assert "uses 0, discounted CN¥0.00, budget left CN¥5,000.00, 5 coupons" in out

    shared = rows[0]["code"]
    code, out, _ = run(monkeypatch, chain, "programme", "coupons", "void", shared.replace("-", "").lower())
    assert (code, out.strip()) == (0, f"coupon {shared} voided")
    code, _, err = run(monkeypatch, chain, "programme", "coupons", "void", shared)
    assert (code, err.strip()) == (1, f"coupon {shared} is void already")
    code, out, _ = run(monkeypatch, chain, "programme", "offers", "coupons", "spring")
    assert next(line for line in out.splitlines() if line.startswith(shared)).split()[1] == "voided"

    code, out, _ = run(monkeypatch, chain, "programme", "offers", "end", "spring")
    assert (code, out.startswith("offer spring ended at")) == (0, True)
    code, _, err = run(monkeypatch, chain, "programme", "offers", "end", "spring")
    assert (code, err.strip()) == (1, "offer spring has ended")
    code, out, _ = run(monkeypatch, chain, "programme", "offers", "list", "--current")
    assert out.startswith("no offer")


def test_refusals_name_the_field_or_the_option(
    chain: Path, monkeypatch: pytest.MonkeyPatch, locale: Callable[[str], None]
) -> None:
    falling = _write(
        chain, "falling.yaml", LADDER | {"steps": [{"over": 300, "off": 50}, {"over": 100, "off": 20}]}
    )
    code, _, err = run(monkeypatch, chain, "programme", "offers", "define", falling)
    assert code == 1
    assert "  steps: steps must rise" in err
    nowhere = _write(chain, "nowhere.yaml", LADDER | {"when": {"stores": ["NOWHERE"]}})
    code, _, err = run(monkeypatch, chain, "programme", "offers", "define", nowhere)
    assert (code, "  when.stores: no store has the code NOWHERE" in err) == (1, True)
    spring = _write(chain, "spring.yaml", LADDER)
    code, _, err = run(monkeypatch, chain, "programme", "offers", "define", spring, "--per-member", "0")
    assert (code, "  --per-member: must be a whole number above zero" in err) == (1, True)
    code, _, err = run(monkeypatch, chain, "programme", "offers", "define", spring, "--budget", "lots")
    assert (code, "'--budget'" in err) == (2, True)
    code, _, err = run(monkeypatch, chain, "programme", "offers", "define", "missing.yaml")
    assert (code, err.startswith("cannot read missing.yaml")) == (1, True)
    code, _, err = run(monkeypatch, chain, "programme", "offers", "show", "spring")
    assert (code, err.strip()) == (1, "no offer spring")

    assert run(monkeypatch, chain, "programme", "offers", "define", spring)[0] == 0
    code, _, err = run(monkeypatch, chain, "programme", "offers", "define", spring)
    assert (code, "  code: an offer spring exists already" in err) == (1, True)
    code, _, err = run(monkeypatch, chain, "programme", "offers", "issue", "spring")
    assert (code, "  --members: issue to members or a count of shared codes" in err) == (1, True)
    code, _, err = run(monkeypatch, chain, "programme", "offers", "issue", "spring", "--members", "1,99")
    assert (code, "  --members: no active member has the id 99" in err) == (1, True)
    code, _, err = run(monkeypatch, chain, "programme", "offers", "issue", "spring", "--members", "one")
    assert (code, "'--members'" in err) == (2, True)
    code, _, err = run(monkeypatch, chain, "programme", "coupons", "void", "AAAA-BBBB-CCCC-DDDD")
    assert (code, err.strip()) == (1, "no coupon AAAA-BBBB-CCCC-DDDD")

    locale("zh-CN")
    code, out, _ = run(monkeypatch, chain, "programme", "offers", "list")
    assert out.split()[:3] == ["spring", "ladder", "进行中"]
    assert "使用 0 次，已优惠 ¥0.00，剩余预算 -，已发 0 张券" in out
    code, _, err = run(monkeypatch, chain, "programme", "offers", "end", "nothing")
    assert (code, err.strip()) == (1, "没有优惠 nothing")
