"""Tier benefits from the command line, on both backends: `loyalty programme tier-add/tier-set
--service` (an unknown service refused naming the option, nothing written; `--no-services` clears
them; `programme show` lists them by name), and `loyalty programme rewards define/set --for-tier`
(a member of another tier refused naming the tiers, `--all-tiers` opening the reward again)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import Result

from loyalty.bootstrap import Context
from loyalty.services import tiers
from tests.test_cli_database import invoke


@pytest.fixture
def chain(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """The programme, a store and member 1 with 1,000 points, on `db_url`."""
    for args in (
        ["programme", "init"],
        ["stores", "add", "SH01", "上海店"],
        ["members", "register", "+8613900000001", "Alice", "--store-id", "1"],
        ["points", "adjust", "1", "1000", "--reason", "welcome", "--operator", "test"],
    ):
        result = invoke(monkeypatch, tmp_path, args, url=db_url)
        assert result.exit_code == 0, result.output
    return tmp_path, db_url


def run(monkeypatch: pytest.MonkeyPatch, chain: tuple[Path, str], *args: str) -> Result:
    return invoke(monkeypatch, chain[0], list(args), url=chain[1])


def _services(url: str) -> dict[str, list[str]]:
    ctx = Context.from_url(url)
    try:
        return {t.code: t.services for t in tiers.list_tiers(ctx)}
    finally:
        ctx.engine.dispose()


def test_tier_services_from_the_command_line(
    chain: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    changed = run(monkeypatch, chain, "programme", "tier-set", "gold", "--service", "vip_lane", "--service",
                  "free_parking")  # fmt: skip
    assert changed.exit_code == 0, changed.output
    assert "services: VIP lane (vip_lane), Free parking (free_parking)" in changed.stdout
    unknown = run(monkeypatch, chain, "programme", "tier-set", "gold", "--service", "helipad")
    assert unknown.exit_code == 2
    assert "'--service'" in unknown.output
    assert "helipad" in unknown.output
    both = run(monkeypatch, chain, "programme", "tier-set", "gold", "--service", "vip_lane", "--no-services")
    assert both.exit_code != 0
    assert _services(chain[1])["gold"] == ["vip_lane", "free_parking"]

    added = run(monkeypatch, chain, "programme", "tier-add", "黑卡", "--spend", "90000",
                "--multiplier", "250", "--service", "member_lounge")  # fmt: skip
    assert added.exit_code == 0, added.output
    shown = run(monkeypatch, chain, "programme", "show")
    assert "services: Member lounge (member_lounge)" in shown.stdout
    assert "services: VIP lane (vip_lane), Free parking (free_parking)" in shown.stdout

    cleared = run(monkeypatch, chain, "programme", "tier-set", "gold", "--no-services")
    assert cleared.exit_code == 0, cleared.output
    assert _services(chain[1]) == {
        "normal": [],
        "silver": [],
        "gold": [],
        "diamond": [],
        "black": ["member_lounge"],
    }
    member = run(monkeypatch, chain, "members", "show", "1")
    assert json.loads(member.stdout)["tier_services"] == []


def test_a_reward_for_some_tiers_from_the_command_line(
    chain: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    made = run(monkeypatch, chain, "programme", "rewards", "define", "lounge", "贵宾室", "--points", "200",
               "--kind", "service", "--for-tier", "gold", "--for-tier", "diamond")  # fmt: skip
    assert made.exit_code == 0, made.output
    assert json.loads(made.stdout)["tiers"] == ["gold", "diamond"]
    listed = run(monkeypatch, chain, "programme", "rewards", "list")
    assert "for tiers: gold, diamond" in listed.stdout
    unknown = run(monkeypatch, chain, "programme", "rewards", "define", "x", "X", "--points", "5",
                  "--for-tier", "platinum-x")  # fmt: skip
    assert unknown.exit_code == 1
    assert json.loads(unknown.stderr)["details"]["errors"][0]["field"] == "tiers"

    refused = run(monkeypatch, chain, "members", "redeem-reward", "1", "lounge", "--store-id", "1")
    assert refused.exit_code == 1
    problem = json.loads(refused.stderr)
    assert problem["code"] == "REWARD_TIER_ONLY"
    assert problem["details"]["allowed_tiers"] == ["gold", "diamond"]

    opened = run(monkeypatch, chain, "programme", "rewards", "set", "lounge", "--all-tiers")
    assert opened.exit_code == 0, opened.output
    assert json.loads(opened.stdout)["tiers"] is None
    ordered = run(monkeypatch, chain, "members", "redeem-reward", "1", "lounge", "--store-id", "1")
    assert ordered.exit_code == 0, ordered.output
    assert json.loads(ordered.stdout)["points"] == 200
    both = run(
        monkeypatch, chain, "programme", "rewards", "set", "lounge", "--all-tiers", "--for-tier", "gold"
    )
    assert both.exit_code == 2
