"""Recommendations in the product database: what is read, stored and served, on SQLite and PostgreSQL.

A shop in Shanghai (one store), March 2026:

* four coffee drinkers C1…C4: a latte and a croissant on the 2nd…5th, C1…C3 a mocha too;
* two tea drinkers T1, T2: a green tea on the 6th and 7th;
* member R: a latte at 23:30 UTC on the 9th (the 10th in Shanghai);
* member E: a latte on the 8th, then their personal data erased;
* member K: registered, never bought; an anonymous sale of a mocha and a latte on the 11th.

Receipts with a latte: C1…C4, R, E and the anonymous one (7); croissant 4; mocha C1…C3 and the
anonymous one (4); green tea 2. So the store's popular list starts with the latte, then the
croissant (a tie with the mocha, broken by name). Everything was
sold within four weeks, so there is no holdout to test on: the refresh says so and still stores the
recommendations.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from loyalty.api.app import create_app
from loyalty.api.security import issue_access_token
from loyalty.bootstrap import Context, FrozenClock
from loyalty.cli import app as cli_app
from loyalty.db.recommendation_tables import member_recommendations as stored
from loyalty.db.recommendation_tables import recommendation_popular
from loyalty.domain.actors import SYSTEM
from loyalty.domain.errors import NotFound
from loyalty.services import jobs, members, privacy, seed
from loyalty.services.recommendations import (
    NoSales,
    last_run,
    member_recommendations,
    run_recommendations,
)
from loyalty.services.recommendations.load import load_lines
from loyalty.services.schemas import MemberIn, PurchaseLineIn
from tests.analytics.shops import BACKENDS, sell_at, shop_on

SHANGHAI = timezone(timedelta(hours=8))


@dataclass
class Shop:
    ctx: Context
    url: str
    store: int
    coffee: list[int]
    tea: list[int]
    late: int
    erased: int
    cold: int


def _line(sku: str, category: str, price: int = 2_000) -> PurchaseLineIn:
    return PurchaseLineIn(sku=sku, category=category, quantity=1, unit_price_minor=price)


def _build(ctx: Context, clock: FrozenClock, url: str) -> Shop:
    clock.now = datetime(2026, 3, 1, 9, 0, tzinfo=SHANGHAI).astimezone(UTC)
    store = seed.ensure_programme(ctx).store_id
    n = iter(range(10_000))

    def member() -> int:
        data = MemberIn(phone=f"+861390013{next(n):04d}", name="m", registration_store_id=store)
        return members.register_member(ctx, data).id

    def sell(who: int | None, when: datetime, lines: list[PurchaseLineIn]) -> None:
        sell_at(ctx, clock, when, store=store, order=f"R{next(n)}", member=who, lines=lines)

    coffee = [member() for _ in range(4)]
    for i, who in enumerate(coffee):
        lines = [_line("latte", "coffee"), _line("croissant", "bakery", 1_200)]
        if i < 3:
            lines.append(_line("mocha", "coffee", 2_400))
        sell(who, datetime(2026, 3, 2 + i, 10, 0, tzinfo=SHANGHAI), lines)
    tea = [member() for _ in range(2)]
    for i, who in enumerate(tea):
        sell(who, datetime(2026, 3, 6 + i, 15, 0, tzinfo=SHANGHAI), [_line("green", "tea", 1_800)])
    late = member()
    sell(late, datetime(2026, 3, 9, 23, 30, tzinfo=UTC), [_line("latte", "coffee")])
    erased = member()
    sell(erased, datetime(2026, 3, 8, 12, 0, tzinfo=SHANGHAI), [_line("latte", "coffee")])
    clock.now = datetime(2026, 3, 9, 12, 0, tzinfo=SHANGHAI).astimezone(UTC)
    privacy.erase_member(ctx, erased, confirm=members.get_member(ctx, erased).card_no)
    cold = member()
    sell(
        None,
        datetime(2026, 3, 11, 12, 0, tzinfo=SHANGHAI),
        [_line("mocha", "coffee"), _line("latte", "coffee")],
    )
    clock.now = datetime(2026, 3, 31, 12, 0, tzinfo=SHANGHAI).astimezone(UTC)
    return Shop(ctx, url, store, coffee, tea, late, erased, cold)


@pytest.fixture(scope="module", params=BACKENDS)
def shop(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    yield from shop_on(
        request.param, tmp_path_factory, "recommendations", datetime(2026, 3, 1, tzinfo=UTC), _build
    )


def test_the_lines_are_read_by_business_day_and_erased_members_as_anonymous(shop: Shop) -> None:
    lines = load_lines(shop.ctx)
    assert len(lines) == 4 * 2 + 3 + 2 + 1 + 1 + 2
    late = lines[lines["member_id"] == shop.late]
    assert late["day"].dt.date.tolist() == [date(2026, 3, 10)]  # 23:30 UTC on the 9th: the 10th in Shanghai
    assert shop.erased not in set(lines["member_id"].dropna().astype(int))
    assert int(lines["member_id"].isna().sum()) == 3  # the anonymous sale's two lines and the erased member's
    croissant = lines[lines["item"] == "croissant"]
    assert set(croissant["category"]) == {"bakery"}
    assert croissant["price"].tolist() == [1_200.0] * 4


def test_a_refresh_stores_every_members_list_and_the_stores(shop: Shop) -> None:
    job, result = jobs.run_now(shop.ctx, jobs.RECOMMENDATIONS, SYSTEM)
    assert job.status == "done"
    assert job.progress_step == "done"
    run = last_run(shop.ctx)
    assert run is not None
    assert result["run_id"] == run.id
    assert (result["members"], result["items"]) == (7, 4)  # C1…C4, T1, T2, R; four products
    assert run.as_of == date(2026, 3, 11)
    assert run.evaluation is None
    assert run.problem is not None
    assert "cutoff" in run.problem  # four weeks of sales: nothing to test on
    with shop.ctx.engine.connect() as conn:
        given = set(conn.execute(select(stored.c.member_id).distinct()).scalars())
        reasons = set(conn.execute(select(stored.c.reason).distinct()).scalars())
        chain = conn.execute(
            select(recommendation_popular.c.sku)
            .where(recommendation_popular.c.store_id.is_(None))
            .order_by(recommendation_popular.c.rank)
        ).scalars()
        assert next(iter(chain)) == "latte"
    assert given == {*shop.coffee, *shop.tea, shop.late}
    assert reasons <= {"cf", "content", "popular"}


def test_a_member_with_history_gets_their_own_list(shop: Shop) -> None:
    mine = member_recommendations(shop.ctx, shop.tea[0], limit=3)
    assert mine.source == "member"
    assert mine.computed_at is not None
    assert len(mine.items) == 3
    assert [i.rank for i in mine.items] == [1, 2, 3]
    assert "green" not in {i.sku for i in mine.items}  # bought within 30 days of the end
    scores = [i.score for i in mine.items]
    assert scores == sorted(scores, reverse=True)


def test_a_member_without_history_gets_the_stores_popular_items(shop: Shop) -> None:
    cold = member_recommendations(shop.ctx, shop.cold, limit=2)
    assert cold.source == "store"
    assert [i.sku for i in cold.items] == [
        "latte",
        "croissant",
    ]  # 7 receipts; then 4, a tie with the mocha won by name
    assert {i.reason for i in cold.items} == {"popular"}
    assert cold.items[0].label == "latte · coffee"
    erased = member_recommendations(shop.ctx, shop.erased, limit=2)
    assert (erased.source, erased.items[0].reason) == ("store", "popular")  # nothing stored about them
    with pytest.raises(NotFound):
        member_recommendations(shop.ctx, 999_999)


def test_the_endpoint_serves_the_list_with_reasons(shop: Shop) -> None:
    ctx = shop.ctx
    token, _ = issue_access_token(
        ctx.settings.secret_key,
        user_id=1,
        username="till",
        role="cashier",
        store_ids=[shop.store],
        now=ctx.now(),
    )
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(ctx)) as client:
        resp = client.get(
            f"/api/v1/members/{shop.cold}/recommendations", params={"limit": 2}, headers=headers
        )
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["source"] == "store"
        assert [(i["sku"], i["reason"], i["rank"]) for i in body["items"]] == [
            ("latte", "popular", 1),
            ("croissant", "popular", 2),
        ]
        assert body["items"][0]["reason_en"] == "Popular at this member's store lately"
        assert body["items"][0]["reason_zh"] == "该会员所在门店近期热销"
        own = client.get(f"/api/v1/members/{shop.coffee[0]}/recommendations", headers=headers).json()
        assert own["source"] == "member"
        assert 1 <= len(own["items"]) <= 10
        assert (
            client.get(f"/api/v1/members/{shop.cold}/recommendations?limit=21", headers=headers).status_code
            == 422
        )
        assert client.get("/api/v1/members/999999/recommendations", headers=headers).status_code == 404


def test_an_erasure_removes_the_members_list(shop: Shop) -> None:
    gone = shop.tea[1]
    assert member_recommendations(shop.ctx, gone).source == "member"
    privacy.erase_member(shop.ctx, gone, confirm=members.get_member(shop.ctx, gone).card_no)
    assert member_recommendations(shop.ctx, gone).source == "store"
    with shop.ctx.engine.connect() as conn:
        left = conn.execute(
            select(func.count()).select_from(stored).where(stored.c.member_id == gone)
        ).scalar_one()
    assert left == 0
    run = run_recommendations(shop.ctx, evaluate=False)
    assert run.members == 6
    shop.tea.remove(gone)


@pytest.mark.parametrize("shop", ["sqlite"], indirect=True)  # the CLI is the same on both backends
def test_the_cli_refreshes_and_recommends(shop: Shop) -> None:
    runner = CliRunner()
    shown = runner.invoke(
        cli_app,
        [
            "analytics",
            "recommend",
            "--member",
            str(shop.cold),
            "--limit",
            "2",
            "--format",
            "json",
            "--database-url",
            shop.url,
        ],
    )
    assert shown.exit_code == 0, shown.output
    body = json.loads(shown.stdout)
    assert body["source"] == "store"
    assert [i["sku"] for i in body["items"]] == ["latte", "croissant"]
    table = runner.invoke(
        cli_app, ["analytics", "recommendations", "refresh", "--no-evaluate", "--database-url", shop.url]
    )
    assert table.exit_code == 0, table.output
    assert "members from 4 items" in table.stdout
    missing = runner.invoke(
        cli_app, ["analytics", "recommend", "--member", "999999", "--database-url", shop.url]
    )
    assert missing.exit_code == 1
    assert "MEMBER_NOT_FOUND" in missing.stderr


def test_without_sales_nothing_is_trained_and_nothing_stored(engine: Engine) -> None:
    ctx = Context(engine=engine)
    with pytest.raises(NoSales):
        run_recommendations(ctx)
    assert last_run(ctx) is None
