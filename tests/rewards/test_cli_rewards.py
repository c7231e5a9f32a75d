"""`loyalty programme rewards …` and `loyalty members redeem-reward …`: a catalogue kept and a reward
ordered, fulfilled and cancelled from the command line, refusals naming the field or the code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_cli_database import invoke


@pytest.fixture
def chain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory whose default database has the programme, a store and a member with 500 points."""
    for args in (
        ["db", "upgrade"],
        ["programme", "init"],
        ["stores", "add", "SH01", "上海店"],
        ["members", "register", "+8613900000001", "Alice", "--store-id", "1"],
        ["points", "adjust", "1", "500", "--reason", "welcome", "--operator", "test"],
    ):
        result = invoke(monkeypatch, tmp_path, args)
        assert result.exit_code == 0, result.output
    return tmp_path


def run(monkeypatch: pytest.MonkeyPatch, cwd: Path, *args: str) -> tuple[int, str, str]:
    result = invoke(monkeypatch, cwd, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_a_catalogue_and_an_order_from_the_command_line(chain: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = run(monkeypatch, chain, "programme", "rewards", "list")
    assert (code, out.startswith("no reward")) == (0, True)
    code, out, err = run(
        monkeypatch, chain, "programme", "rewards", "define", "mug", "保温杯", "--points", "300",
        "--stock", "1", "--tier-price", "gold=250", "--valid-to", "2099-01-01T00:00",
    )  # fmt: skip
    assert code == 1  # the end is more than 180 days ahead
    assert json.loads(err)["details"]["errors"][0]["field"] == "valid_to"
    code, out, err = run(
        monkeypatch, chain, "programme", "rewards", "define", "mug", "保温杯", "--points", "300",
        "--stock", "1", "--tier-price", "gold=250",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["tier_prices"] == {"gold": 250}
    code, out, _ = run(monkeypatch, chain, "programme", "rewards", "list")
    assert out.split()[:5] == ["mug", "gift", "300", "1", "-"]
    code, out, _ = run(monkeypatch, chain, "programme", "rewards", "show", "mug")
    assert (code, json.loads(out)["stock"]) == (0, 1)

    code, out, err = run(monkeypatch, chain, "members", "redeem-reward", "1", "mug", "--store-id", "1")
    assert code == 0, err
    order = json.loads(out)
    assert (order["status"], order["points"], order["balance_after"]) == ("reserved", 300, 200)
    code, _, err = run(monkeypatch, chain, "members", "redeem-reward", "1", "mug", "--store-id", "1")
    assert (code, json.loads(err)["code"]) == (1, "REWARD_OUT_OF_STOCK")
    code, out, _ = run(monkeypatch, chain, "members", "cancel-reward", str(order["id"]), "--reason", "oops")
    assert (code, json.loads(out)["status"]) == (0, "cancelled")
    code, out, _ = run(monkeypatch, chain, "members", "redeem-reward", "1", "mug", "--store-id", "1")
    again = json.loads(out)
    code, out, _ = run(monkeypatch, chain, "members", "fulfil-reward", str(again["id"]), "collected")
    assert (code, json.loads(out)["status"]) == (0, "collected")
    code, out, _ = run(monkeypatch, chain, "members", "reward-orders", "1")
    assert [o["status"] for o in json.loads(out)] == ["collected", "cancelled"]
    code, out, _ = run(
        monkeypatch, chain, "programme", "rewards", "set", "mug", "--unlimited", "--points", "10"
    )
    assert (json.loads(out)["stock"], json.loads(out)["points"]) == (None, 10)
    code, _, err = run(monkeypatch, chain, "programme", "rewards", "show", "nothing")
    assert (code, json.loads(err)["code"]) == (1, "REWARD_NOT_FOUND")
    code, out, _ = run(monkeypatch, chain, "ledger", "verify")
    assert code == 0
