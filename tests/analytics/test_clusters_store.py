"""Member clusters of the product database: what is read, what is stored, on SQLite and PostgreSQL.

A small shop in Shanghai, March 2026, clustering as of the 31st:

* six coffee regulars: four small purchases each through the mini-program, coffee only;
* six gift buyers: one big purchase each in store, gift boxes, on discount;
* four coffee-and-bread members, each like member R (the others a day, two, three later): on 03-09
  at 23:30 UTC (03-10 in Shanghai) through the mini-program two coffees at ¥20 with ¥5 off the line
  and a bread at ¥10 (¥45), one coffee returned (¥17.50 back); on 03-20 in store one coffee at ¥20.
  So R has two visit days ten days apart, spend ¥47.50, of which ¥27.50 online; lines: coffee ¥17.50
  (discounted) + ¥20, bread ¥10;
* an erased member with a purchase, a member who never bought, and an anonymous sale: none clustered.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from loyalty.analytics.clusters import TooFewMembers
from loyalty.bootstrap import Context, FrozenClock
from loyalty.cli import app
from loyalty.db.cluster_tables import member_cluster_runs, member_clusters
from loyalty.domain.actors import SYSTEM
from loyalty.domain.errors import NotFound
from loyalty.services import jobs, members, privacy, seed
from loyalty.services.clusters import last_run, member_cluster, run_clusters
from loyalty.services.clusters.load import load_features
from loyalty.services.schemas import MemberIn, PurchaseLineIn
from tests.analytics.shops import BACKENDS, check_replaced, return_at, sell_at, shop_on

SHANGHAI = timezone(timedelta(hours=8))
AS_OF = date(2026, 3, 31)


@dataclass
class Shop:
    ctx: Context
    url: str
    coffee: list[int]
    gifts: list[int]
    bread: list[int]  # the first is member R
    erased: int
    idle: int


def _build(ctx: Context, clock: FrozenClock, url: str) -> Shop:
    clock.now = datetime(2026, 3, 1, 9, 0, tzinfo=SHANGHAI).astimezone(UTC)
    store = seed.ensure_programme(ctx).store_id
    n = iter(range(10_000))

    def member() -> int:
        return members.register_member(ctx, MemberIn(phone=f"+861380013{next(n):04d}", name="m")).id

    def sell(who: int | None, when: datetime, lines: list[PurchaseLineIn], channel: str = "store") -> str:
        order = f"O{next(n)}"
        sell_at(ctx, clock, when, store=store, order=order, member=who, lines=lines, channel=channel)
        return order

    def coffee(q: int = 1, price: int = 1500, discount: int = 0) -> PurchaseLineIn:
        return PurchaseLineIn(
            sku="latte", category="coffee", quantity=q, unit_price_minor=price, discount_minor=discount
        )

    coffee_members = [member() for _ in range(6)]
    for i, who in enumerate(coffee_members):
        for day in (3, 10, 17, 24):
            sell(who, datetime(2026, 3, day + i % 2, 8, 0, tzinfo=SHANGHAI), [coffee()], "mini_program")
    gift_members = [member() for _ in range(6)]
    for i, who in enumerate(gift_members):
        box = PurchaseLineIn(
            sku="box", category="gifts", quantity=1, unit_price_minor=39_900 + 100 * i, discount_minor=5_000
        )
        sell(who, datetime(2026, 3, 5 + i, 15, 0, tzinfo=SHANGHAI), [box])
    bread_members = [member() for _ in range(4)]
    for i, who in enumerate(bread_members):
        first = sell(
            who,
            datetime(2026, 3, 9 + i, 23, 30, tzinfo=UTC),
            [
                coffee(2, 2000, 500),
                PurchaseLineIn(sku="bun", category="bread", quantity=1, unit_price_minor=1000),
            ],
            "mini_program",
        )
        return_at(
            ctx, clock, datetime(2026, 3, 14 + i, 10, 0, tzinfo=SHANGHAI), store=store, order=first, line_no=1
        )
        sell(who, datetime(2026, 3, 20 + i, 12, 0, tzinfo=SHANGHAI), [coffee(1, 2000)])
    erased = member()
    sell(erased, datetime(2026, 3, 6, 12, 0, tzinfo=SHANGHAI), [coffee()])
    clock.now = datetime(2026, 3, 30, 12, 0, tzinfo=SHANGHAI).astimezone(UTC)
    privacy.erase_member(ctx, erased, confirm=members.get_member(ctx, erased).card_no)
    idle = member()
    sell(None, datetime(2026, 3, 7, 12, 0, tzinfo=SHANGHAI), [coffee(3)])  # anonymous
    clock.now = datetime(2026, 3, 31, 12, 0, tzinfo=SHANGHAI).astimezone(UTC)
    return Shop(ctx, url, coffee_members, gift_members, bread_members, erased, idle)


@pytest.fixture(scope="module", params=BACKENDS)
def shop(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    yield from shop_on(request.param, tmp_path_factory, "clusters", datetime(2026, 3, 1, tzinfo=UTC), _build)


def test_features_read_from_the_database(shop: Shop) -> None:
    f = load_features(shop.ctx, AS_OF)
    clustered = set(shop.coffee) | set(shop.gifts) | set(shop.bread)
    assert set(f.member_ids.tolist()) == clustered  # no erased, idle or anonymous buyer
    row = f.table.loc[shop.bread[0]]
    assert row["visit_days"] == 2  # 03-10 (23:30 UTC on the 9th is Shanghai's 10th) and 03-20
    assert row["orders"] == 2
    assert row["recency_days"] == 11
    assert row["spend_minor"] == pytest.approx(2750 + 2000)
    assert row["online_share"] == pytest.approx(2750 / 4750)
    assert row["discount_share"] == pytest.approx(1750 / 4750)
    assert row["cat:coffee"] == pytest.approx(3750 / 4750)
    assert row["cat:bread"] == pytest.approx(1000 / 4750)
    assert row["gap_mean_days"] == 10
    assert math.isnan(row["gap_cv"])  # one gap: no variation to speak of
    assert f.categories == ("gifts", "coffee", "bread")


def test_a_run_is_stored_with_each_members_cluster(shop: Shop) -> None:
    job, result = jobs.run_now(shop.ctx, jobs.MEMBER_CLUSTERS, SYSTEM)
    assert job.status == "done"
    assert job.progress_step == "done"
    run = last_run(shop.ctx)
    assert run is not None
    assert result == {"run_id": run.id, "members_clustered": 16, "k": run.k, "best_k": run.best_k}
    assert (run.k, run.criterion, run.as_of, run.currency, run.forced) == (
        3,
        "silhouette",
        AS_OF,
        "CNY",
        False,
    )
    assert [s.k for s in run.scores] == list(range(2, 9))
    assert run.reason("en").startswith("k=3 because its silhouette ")
    with shop.ctx.engine.connect() as conn:
        stored = dict(
            conn.execute(select(member_clusters.c.member_id, member_clusters.c.cluster)).tuples().all()
        )
    # numbered by mean spend: the gift buyers, the coffee regulars (¥60), the coffee-and-bread (¥47.50)
    assert {stored[m] for m in shop.gifts} == {1}
    assert {stored[m] for m in shop.coffee} == {2}
    assert {stored[m] for m in shop.bread} == {3}
    assert len(stored) == 16
    one = next(p for p in run.profiles if p.cluster == 1)
    assert one.members == 6
    assert {t.feature for t in one.traits} >= {"cat:gifts"}
    assert one.means["spend_minor"] == pytest.approx(sum(39_900 + 100 * i - 5_000 for i in range(6)) / 6)
    mine = member_cluster(shop.ctx, shop.bread[0])
    assert mine.cluster == 3
    assert mine.profile is not None
    assert {t.feature for t in mine.profile.traits} >= {"cat:bread"}
    assert member_cluster(shop.ctx, shop.idle).cluster is None
    assert member_cluster(shop.ctx, shop.erased).cluster is None
    with pytest.raises(NotFound):
        member_cluster(shop.ctx, 999_999)


def test_a_rerun_replaces_the_members_rows_and_keeps_the_numbers(shop: Shop) -> None:
    before = last_run(shop.ctx)
    after = run_clusters(shop.ctx)
    assert before is not None
    assert after.id > before.id
    assert check_replaced(shop.ctx, member_clusters, member_cluster_runs, after.id) == 16
    assert [p.to_dict()["members"] for p in after.profiles] == [p.members for p in before.profiles]
    assert member_cluster(shop.ctx, shop.gifts[0]).cluster == 1


def test_k_can_be_forced_through_the_job(shop: Shop) -> None:
    _job, result = jobs.run_now(shop.ctx, jobs.MEMBER_CLUSTERS, SYSTEM, params={"k": 2})
    assert (result["k"], result["best_k"]) == (2, 3)
    run = last_run(shop.ctx)
    assert run is not None
    assert run.forced
    assert run.reason("en").startswith("k=2 as asked")
    run_clusters(shop.ctx)  # back to the criterion's k for the tests after


def test_an_erasure_removes_the_members_cluster(shop: Shop) -> None:
    gone = shop.gifts[-1]
    assert member_cluster(shop.ctx, gone).cluster is not None
    privacy.erase_member(shop.ctx, gone, confirm=members.get_member(shop.ctx, gone).card_no)
    assert member_cluster(shop.ctx, gone).cluster is None
    run = run_clusters(shop.ctx)
    assert run.members == 15
    shop.gifts.remove(gone)


@pytest.mark.parametrize("shop", ["sqlite"], indirect=True)  # the CLI is the same on both backends
def test_the_cli_shows_and_refreshes(shop: Shop) -> None:
    runner = CliRunner()
    shown = runner.invoke(
        app, ["analytics", "clusters", "show", "--format", "json", "--database-url", shop.url]
    )
    assert shown.exit_code == 0, shown.output
    body = json.loads(shown.stdout)
    assert body["k"] == 3
    assert body["criterion"] == "silhouette"
    assert [c["cluster"] for c in body["clusters"]] == [1, 2, 3]
    assert "favour gifts" in body["clusters"][0]["description_en"]
    table = runner.invoke(app, ["analytics", "clusters", "refresh", "--k", "2", "--database-url", shop.url])
    assert table.exit_code == 0, table.output
    assert "k=2 as asked" in table.stdout
    assert "15 members in 2 clusters as of " in table.stdout  # the CLI's clock: today
    bad = runner.invoke(app, ["analytics", "clusters", "show", "--format", "xml", "--database-url", shop.url])
    assert bad.exit_code == 2
    assert "--format table|json" in bad.stderr


def test_without_purchases_nothing_is_clustered_and_nothing_stored(engine: Engine) -> None:
    ctx = Context(engine=engine)
    with pytest.raises(TooFewMembers) as none:
        run_clusters(ctx)
    assert none.value.details == {"members": 0, "needed": 3}
    assert last_run(ctx) is None
