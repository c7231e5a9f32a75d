"""`loyalty members export-data ID -o FILE` and `loyalty members erase ID [--yes]` on a SQLite file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from loyalty.bootstrap import Context, FrozenClock
from loyalty.config import Settings, get_settings
from loyalty.db.engine import make_engine
from loyalty.db.migrate import upgrade
from loyalty.services import members, purchases, seed
from loyalty.services.schemas import MemberIn
from tests.core.conftest import T0
from tests.core.sales import food_sale


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A database the CLI is pointed at, with two members, one with a receipt."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = make_engine(url)
    upgrade(engine)
    ctx = Context(engine=engine, settings=Settings(), clock=FrozenClock(T0))
    ids = seed.ensure_programme(ctx)
    a = members.register_member(ctx, MemberIn(phone="13800138201", name="陈一", email="chen@example.com"))
    b = members.register_member(ctx, MemberIn(phone="13800138202", name="陈二"))
    purchases.post_purchase(ctx, food_sale(ctx, ids.store_id, a.id, "cli-p-1", 8_800))
    monkeypatch.setenv("LOYALTY_DATABASE_URL", url)
    get_settings.cache_clear()
    yield {"ctx": ctx, "a": a, "b": b, "dir": tmp_path}
    get_settings.cache_clear()
    engine.dispose()


def _run(*args: str, input: str | None = None) -> Any:
    from loyalty.cli import app

    return CliRunner().invoke(app, list(args), input=input)


def test_export_data_writes_the_package(shop: dict[str, Any]) -> None:
    a, out = shop["a"], shop["dir"] / "a.json"
    result = _run("members", "export-data", str(a.id), "-o", str(out))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary == {
        "member_id": a.id,
        "file": str(out),
        "format": "loyalty.member-data/1",
        "purchases": 1,
        "statement_entries": 1,
        "tier_changes": 1,
        "claims": 0,
        "merged_records": 0,
    }
    package = json.loads(out.read_text(encoding="utf-8"))
    assert package["member"]["name"] == "陈一"  # UTF-8, not escaped
    assert "陈一" in out.read_text(encoding="utf-8")
    assert [p["order_id"] for p in package["purchases"]] == ["cli-p-1"]
    missing = _run("members", "export-data", "987654", "-o", str(shop["dir"] / "none.json"))
    assert missing.exit_code == 1
    assert json.loads(missing.output.strip().splitlines()[-1])["code"] == "MEMBER_NOT_FOUND"
    assert not (shop["dir"] / "none.json").exists()


def test_erase_asks_for_the_card_number_unless_yes(shop: dict[str, Any]) -> None:
    a, b, ctx = shop["a"], shop["b"], shop["ctx"]
    wrong = _run("members", "erase", str(a.id), input="1234\n")
    assert wrong.exit_code == 1
    assert "ERASURE_NOT_CONFIRMED" in wrong.output
    assert members.get_member(ctx, a.id).erased_at is None
    typed = _run("members", "erase", str(a.id), input=f"{a.card_no}\n")
    assert typed.exit_code == 0, typed.output
    assert f"Type the card number of member {a.id}" in typed.output
    assert json.loads(typed.output[typed.output.index("{") :])["erased_ids"] == [a.id]
    assert members.get_member(ctx, a.id).phone == f"erased:{a.id}"
    yes = _run("members", "erase", str(b.id), "--yes")
    assert yes.exit_code == 0, yes.output
    assert json.loads(yes.output)["erased_ids"] == [b.id]
    again = _run("members", "erase", str(b.id), "--yes")
    assert again.exit_code == 1
    assert json.loads(again.output.strip().splitlines()[-1])["code"] == "MEMBER_ERASED"
    shown = _run("members", "show", "--phone", "13800138202")
    assert shown.exit_code == 1  # the old phone finds nobody
