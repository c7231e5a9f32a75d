"""`loyalty feedback list|handle`: members' ratings newest first (by store, low ones, open ones) and a
low one marked handled once, audited as the CLI's; a bad option named, a refusal in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loyalty.bootstrap import Context
from loyalty.config import Settings
from loyalty.db.engine import make_engine
from loyalty.db.migrate import upgrade
from loyalty.services import feedback
from tests.feedback.helpers import sell, shop
from tests.test_cli_database import invoke


@pytest.fixture
def rated(tmp_path: Path) -> tuple[str, dict[str, int]]:
    """A database with three ratings: Alice's 5 and Bob's 1 at store A, Alice's 2 at store B."""
    url = f"sqlite:///{tmp_path / 'loyalty.db'}"
    engine = make_engine(url)
    upgrade(engine)
    ctx = Context(engine=engine, settings=Settings())
    s = shop(ctx)
    ids = {
        "five": feedback.rate_purchase(ctx, s.alice, sell(ctx, s.store_a, s.alice), 5).id,
        "one": feedback.rate_purchase(ctx, s.bob, sell(ctx, s.store_a, s.bob), 1, "太慢").id,
        "two_b": feedback.rate_purchase(ctx, s.alice, sell(ctx, s.store_b, s.alice), 2).id,
    }
    engine.dispose()
    return url, ids


def test_list_filters_and_handle_once(
    rated: tuple[str, dict[str, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, ids = rated
    where = Path(url.removeprefix("sqlite:///")).parent

    def run(*args: str) -> tuple[int, str, str]:
        result = invoke(monkeypatch, where, ["feedback", *args], url)
        return result.exit_code, result.stdout, result.stderr

    code, out, err = run("list")
    assert code == 0, err
    assert [f["id"] for f in json.loads(out)["items"]] == [ids["two_b"], ids["one"], ids["five"]]
    code, out, err = run("list", "--store", "S001", "--low")
    assert code == 0, err
    listed = json.loads(out)["items"]
    assert [(f["id"], f["comment"]) for f in listed] == [(ids["one"], "太慢")]
    code, out, err = run("handle", str(ids["one"]), "--note", "已致电")
    assert code == 0, err
    done = json.loads(out)
    assert (done["handled_by"], done["handled_note"]) == ("system:cli", "已致电")
    code, out, err = run("list", "--low", "--open")
    assert [f["id"] for f in json.loads(out)["items"]] == [ids["two_b"]]
    code, out, err = run("handle", str(ids["one"]))
    assert code == 1
    assert json.loads(err)["code"] == "FEEDBACK_ALREADY_HANDLED"
    code, out, err = run("list", "--limit", "0")
    assert code == 2
    assert "--limit" in err
    code, out, err = run("list", "--store", "NOWHERE")
    assert code == 2
    assert "--store" in err
