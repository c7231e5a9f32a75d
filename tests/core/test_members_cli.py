"""`loyalty members show/list/purchases/merge`: scores, score filters, purchase history, merge options."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert
from typer.testing import CliRunner

from loyalty.bootstrap import Context, FrozenClock
from loyalty.config import Settings, get_settings
from loyalty.db.analytics_tables import member_scores
from loyalty.db.engine import make_engine
from loyalty.db.migrate import upgrade
from loyalty.services import members, purchases, seed
from loyalty.services.schemas import MemberIn
from tests.core.conftest import T0
from tests.core.sales import food_sale


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A SQLite database the CLI is pointed at: two members, one scored, one with two receipts."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = make_engine(url)
    upgrade(engine)
    clock = FrozenClock(T0)
    ctx = Context(engine=engine, settings=Settings(), clock=clock)
    ids = seed.ensure_programme(ctx)
    a = members.register_member(ctx, MemberIn(phone="13800138091", name="A")).id
    b = members.register_member(ctx, MemberIn(phone="13800138092", name="B")).id
    first = purchases.post_purchase(ctx, food_sale(ctx, ids.store_id, b, "cli-1", 10_000))
    clock.advance(days=1)
    second = purchases.post_purchase(ctx, food_sale(ctx, ids.store_id, b, "cli-2", 5_000))
    with engine.begin() as conn:
        conn.execute(
            insert(member_scores).values(
                member_id=a,
                rfm_code="212",
                segment="develop",
                recency_days=10,
                frequency=3,
                monetary_minor=50_000,
                p_alive=0.6,
                expected_purchases=1.2,
                clv_minor=40_000,
                model="bgnbd",
                computed_at=datetime(2026, 1, 4, tzinfo=UTC),
            )
        )
    engine.dispose()
    monkeypatch.setenv("LOYALTY_DATABASE_URL", url)
    get_settings.cache_clear()
    yield {"a": a, "b": b, "receipts": [second.purchase_id, first.purchase_id]}
    get_settings.cache_clear()


def _run(*args: str) -> Any:
    from loyalty.cli import app

    return CliRunner().invoke(app, list(args))


def _json(*args: str) -> Any:
    result = _run(*args)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_show_prints_the_scores(shop: dict[str, Any]) -> None:
    shown = _json("members", "show", str(shop["a"]))
    assert shown["scores"]["segment"] == "develop"
    assert (shown["scores"]["segment_zh"], shown["scores"]["segment_en"]) == ("重要发展客户", "Develop")
    assert shown["scores"]["p_alive"] == 0.6
    assert shown["scores"]["clv_minor"] == 40_000
    assert _json("members", "show", str(shop["b"]))["scores"] is None


def test_list_filters_by_scores_and_names_a_bad_filter(shop: dict[str, Any]) -> None:
    page = _json("members", "list", "--segment", "develop", "--clv-min", "399.99")
    assert [m["id"] for m in page["items"]] == [shop["a"]]
    assert _json("members", "list", "--p-alive-min", "0.7")["items"] == []
    assert [m["id"] for m in _json("members", "list", "--limit", "1")["items"]] == [shop["b"]]
    bad = _run("members", "list", "--segment", "vip", "--tier", "platinum")
    assert bad.exit_code == 1
    error = json.loads(bad.output.strip().splitlines()[-1])
    assert error["code"] == "FILTER_INVALID"
    assert [e["field"] for e in error["details"]["errors"]] == ["segment", "tier"]
    money = _run("members", "list", "--clv-min", "ten")
    assert money.exit_code == 2
    assert "--clv-min" in money.output


def test_purchases_lists_a_members_receipts_newest_first(shop: dict[str, Any]) -> None:
    page = _json("members", "purchases", str(shop["b"]), "--lines")
    assert [p["id"] for p in page["items"]] == shop["receipts"]
    assert page["items"][0]["lines"][0]["sku"] == "s"
    assert page["items"][0]["business_date"] == "2026-01-06"
    one = _json("members", "purchases", str(shop["b"]), "--limit", "1")
    assert one["items"][0]["lines"] is None
    rest = _json("members", "purchases", str(shop["b"]), "--cursor", one["next_cursor"])
    assert [p["id"] for p in rest["items"]] == shop["receipts"][1:]


def test_merge_takes_named_options_only(shop: dict[str, Any]) -> None:
    positional = _run("members", "merge", str(shop["a"]), str(shop["b"]))
    assert positional.exit_code == 2  # the old SURVIVOR_ID MERGED_ID form is refused, not guessed
    merged = _json("members", "merge", "--duplicate", str(shop["b"]), "--survivor", str(shop["a"]))
    assert merged["id"] == shop["a"]
    assert _json("members", "show", str(shop["b"]))["status"] == "merged"
    assert [p["id"] for p in _json("members", "purchases", str(shop["a"]))["items"]] == shop["receipts"]
