"""`loyalty anomalies …` on the story's database (SQLite): rules changed, a scan, the queue, a review
that suspends redemptions, the suspension lifted; bad options named."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loyalty.cli import app
from loyalty.config import get_settings
from loyalty.db.engine import make_engine
from loyalty.db.migrate import upgrade
from tests.anomalies.conftest import build


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    url = f"sqlite:///{tmp_path / 'loyalty.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    story = build(url)
    story.ctx.engine.dispose()
    monkeypatch.setenv("LOYALTY_DATABASE_URL", url)
    get_settings.cache_clear()
    yield story.m
    get_settings.cache_clear()


def _run(*args: str) -> tuple[int, object, str]:
    result = CliRunner().invoke(app, ["anomalies", *args])
    out = json.loads(result.stdout) if result.stdout.strip() else None
    return result.exit_code, out, result.stderr


def _said(err: str) -> str:
    """A usage error's words, without the box and line breaks the terminal's width put in."""
    return " ".join(err.replace("│", " ").split())


def test_the_queue_from_the_command_line(database: dict[str, int]) -> None:
    code, rules, _ = _run("rules", "--set", "staff_adjustments.count_day=11", "--off", "isolation_forest")
    assert code == 0
    by_code = {r["code"]: r for r in rules}  # type: ignore[attr-defined]
    assert by_code["staff_adjustments"]["params"]["count_day"] == 11
    assert by_code["isolation_forest"]["enabled"] is False
    code, scanned, _ = _run("scan", "--from", "2026-03-02", "--to", "2026-03-31")
    assert code == 0
    assert scanned["by_kind"] == {"shared_card": 1, "after_hours": 1}  # type: ignore[index]
    code, listed, _ = _run("list", "--kind", "after_hours")
    assert code == 0
    (flag,) = listed["items"]  # type: ignore[index]
    assert flag["member_id"] == database["night"]
    assert flag["reason"].startswith("Redeemed 800 points at night")
    code, shown, _ = _run("show", str(flag["id"]))
    assert (code, shown["status"]) == (0, "open")  # type: ignore[index]
    code, reviewed, _ = _run("review", str(flag["id"]), "--approve", "--suspend", "--reviewer", "li.audit")
    assert code == 0
    assert (reviewed["status"], reviewed["member_suspended"], reviewed["reviewed_by"]) == (  # type: ignore[index]
        "approved",
        True,
        "li.audit",
    )
    code, suspended, _ = _run("suspensions")
    assert [s["member_id"] for s in suspended] == [database["night"]]  # type: ignore[attr-defined]
    code, _out, err = _run("review", str(flag["id"]), "--reject")
    assert code == 1
    assert json.loads(err)["code"] == "ANOMALY_FLAG_REVIEWED"
    code, lifted, _ = _run("lift", str(database["night"]), "--note", "ok")
    assert (code, lifted) == (0, {"member_id": database["night"], "lifted": True})


def test_bad_options_are_named(database: dict[str, int]) -> None:
    code, _out, err = _run("scan", "--from", "2026-03-31", "--to", "2026-03-01")
    assert code == 2
    assert "--from" in err
    code, _out, err = _run("rules", "--set", "velocity.per_hour=1")
    assert code == 2
    assert "rules.velocity.params.per_hour: must be between 2 and 1000" in _said(err)
    code, _out, err = _run("review", "1")
    assert code == 2
    assert "--approve or --reject" in _said(err)
