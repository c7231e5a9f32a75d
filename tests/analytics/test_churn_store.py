"""Churn in the product database: what is read, what is stored and served, on SQLite and PostgreSQL.

A shop in Shanghai, February and March 2026, scored as of 03-31 with a 14-day horizon (the model is
trained on the members of 03-17 and who of them bought from 03-18 to 03-31; checked by a model trained
on those of 03-03):

* ten regulars buy every four days from early February to the end;
* ten leavers buy every four days from 02-01 until they stop, the first on 02-10 and each next one
  three days later (the last on 03-07): at 03-03, nine of them have made their last purchase;
* member R: on 02-09 at 23:30 UTC (02-10 in Shanghai) tea and a cake (¥30 + ¥20), the cake returned
  on 02-20 (¥20 back); then tea every week from 02-17 to 03-31;
* an erased member with purchases, a member who never bought, and an anonymous sale: none scored.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from loyalty.analytics.churn import TooLittleHistory
from loyalty.api.app import create_app
from loyalty.api.security import issue_access_token
from loyalty.bootstrap import Context, FrozenClock
from loyalty.cli import app
from loyalty.db.churn_tables import churn_runs, member_churn
from loyalty.domain.actors import SYSTEM
from loyalty.domain.errors import InvalidInput, NotFound
from loyalty.services import jobs, members, privacy, seed
from loyalty.services.churn import at_risk, last_run, member_churn_scores, refresh_churn
from loyalty.services.churn.load import load_history
from loyalty.services.schemas import MemberIn, PurchaseLineIn
from tests.analytics.shops import BACKENDS, check_replaced, return_at, sell_at, shop_on

SHANGHAI = timezone(timedelta(hours=8))
AS_OF = date(2026, 3, 31)
HORIZON = 14


@dataclass
class Shop:
    ctx: Context
    url: str
    store: int
    regulars: list[int]
    leavers: list[int]
    r: int
    erased: int
    idle: int

    @property
    def scored(self) -> set[int]:
        return {*self.regulars, *self.leavers, self.r}


def _build(ctx: Context, clock: FrozenClock, url: str) -> Shop:
    clock.now = datetime(2026, 1, 20, 9, 0, tzinfo=SHANGHAI).astimezone(UTC)
    store = seed.ensure_programme(ctx).store_id
    n = iter(range(10_000))

    def member() -> int:
        return members.register_member(ctx, MemberIn(phone=f"+861390013{next(n):04d}", name=f"M{next(n)}")).id

    def sell(who: int | None, when: datetime, lines: list[PurchaseLineIn] | None = None) -> str:
        order = f"O{next(n)}"
        tea = PurchaseLineIn(sku="tea", category="tea", quantity=1, unit_price_minor=3000)
        sell_at(ctx, clock, when, store=store, order=order, member=who, lines=lines or [tea])
        return order

    def every_four(who: int, first: date, last: date) -> None:
        day = first
        while day <= last:
            sell(who, datetime(day.year, day.month, day.day, 10, 0, tzinfo=SHANGHAI))
            day += timedelta(days=4)

    regulars = [member() for _ in range(10)]
    leavers = [member() for _ in range(10)]
    r = member()
    erased = member()
    idle = member()
    for i, who in enumerate(regulars):
        every_four(who, date(2026, 2, 1 + i % 4), date(2026, 3, 31))
    for i, who in enumerate(leavers):
        every_four(who, date(2026, 2, 1), date(2026, 2, 10) + timedelta(days=3 * i))
    first = sell(
        r,
        datetime(2026, 2, 9, 23, 30, tzinfo=UTC),
        [
            PurchaseLineIn(sku="tea", category="tea", quantity=1, unit_price_minor=3000),
            PurchaseLineIn(sku="cake", category="cakes", quantity=1, unit_price_minor=2000),
        ],
    )
    return_at(ctx, clock, datetime(2026, 2, 20, 15, 0, tzinfo=SHANGHAI), store=store, order=first, line_no=2)
    for week in range(7):
        sell(r, datetime(2026, 2, 17, 11, 0, tzinfo=SHANGHAI) + timedelta(days=7 * week))
    sell(r, datetime(2026, 3, 31, 9, 0, tzinfo=SHANGHAI))
    every_four(erased, date(2026, 2, 1), date(2026, 3, 1))
    sell(None, datetime(2026, 3, 5, 12, 0, tzinfo=SHANGHAI))  # anonymous
    clock.now = datetime(2026, 3, 31, 11, 0, tzinfo=SHANGHAI).astimezone(UTC)
    privacy.erase_member(ctx, erased, confirm=members.get_member(ctx, erased).card_no)
    clock.now = datetime(2026, 3, 31, 12, 0, tzinfo=SHANGHAI).astimezone(UTC)
    return Shop(ctx, url, store, regulars, leavers, r, erased, idle)


@pytest.fixture(scope="module", params=BACKENDS)
def shop(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    yield from shop_on(request.param, tmp_path_factory, "churn", datetime(2026, 1, 1, tzinfo=UTC), _build)


def test_the_history_is_read_as_it_happened(shop: Shop) -> None:
    h = load_history(shop.ctx)
    ids = set(h.visits["member_id"].tolist())
    assert ids == shop.scored  # no erased member, no anonymous sale
    r = h.visits[h.visits["member_id"] == shop.r].sort_values("day")
    assert r["day"].tolist()[0] == date(2026, 2, 10)  # 23:30 UTC on the 9th is the 10th in Shanghai
    assert r["total_minor"].tolist()[0] == 5000  # what the sale came to when made, before the return
    returned = h.returns[h.returns["member_id"] == shop.r]
    assert (returned["day"].tolist(), returned["refund_minor"].tolist()) == ([date(2026, 2, 20)], [2000])
    assert h.returns["member_id"].isin([shop.erased]).sum() == 0
    firsts = h.lines[h.lines["member_id"] == shop.r].sort_values("category")
    assert firsts[["category", "day"]].values.tolist() == [
        ["cakes", date(2026, 2, 10)],
        ["tea", date(2026, 2, 10)],
    ]
    assert set(h.joined["member_id"]) == shop.scored | {shop.idle}
    f = h.features(date(2026, 2, 19))
    assert f.loc[shop.r, "spend_minor"] == 5000 + 3000  # the refund of 02-20 is not known on 02-19
    assert f.loc[shop.r, "categories"] == 2
    assert h.features(date(2026, 2, 20)).loc[shop.r, "spend_minor"] == 6000


def test_a_run_is_stored_with_every_members_scores(shop: Shop) -> None:
    job, result = jobs.run_now(shop.ctx, jobs.CHURN_MODEL, SYSTEM, params={"horizon_days": HORIZON})
    assert (job.status, job.progress_step) == ("done", "done")
    run = last_run(shop.ctx)
    assert run is not None
    assert result == {
        "run_id": run.id,
        "members_scored": 21,
        "horizon_days": HORIZON,
        "auc_model": run.aucs["model"],
        "auc_p_alive": run.aucs["p_alive"],
    }
    assert (run.as_of, run.train_cutoff, run.validation_train_cutoff, run.validation_cutoff) == (
        AS_OF,
        date(2026, 3, 17),
        date(2026, 3, 3),
        date(2026, 3, 17),
    )
    assert (run.currency, run.horizon_days, run.members, run.problem) == ("CNY", HORIZON, 21, None)
    # at 03-17 every leaver had gone and no regular (nor R) had: ten churners of 21
    assert (run.validation_members, run.validation_churned, run.train_members) == (21, 10, 21)
    assert run.aucs["model"] is not None
    assert run.aucs["model"] >= 0.9
    assert run.aucs["recency"] is not None
    assert len(run.roc) == 21
    assert {i.feature for i in run.importances} == set(run.settings["features"])
    assert run.next_purchase is not None
    assert run.next_purchase.members == 21
    assert set(run.timings) == {"model", "p_alive", "fit", "run"}
    with shop.ctx.engine.connect() as conn:
        rows = {r.member_id: r for r in conn.execute(select(member_churn))}
    assert set(rows) == shop.scored
    regular = [rows[m].churn_probability for m in shop.regulars]
    leaver = [rows[m].churn_probability for m in shop.leavers]
    assert min(leaver) > max(regular)
    assert all(rows[m].next_purchase_on is None or rows[m].next_purchase_on > AS_OF for m in rows)
    assert rows[shop.leavers[0]].recency_days == 50  # bought on 02-01, 02-05 and 02-09
    found = member_churn_scores(shop.ctx, shop.r)
    assert found.scores is not None
    assert found.run is not None
    assert found.scores.recency_days == 0
    assert found.scores.churn_probability < 0.5
    assert member_churn_scores(shop.ctx, shop.idle).scores is None
    assert member_churn_scores(shop.ctx, shop.erased).scores is None
    with pytest.raises(NotFound):
        member_churn_scores(shop.ctx, 999_999)


def test_the_members_at_risk_are_the_leavers_most_value_first(shop: Shop) -> None:
    risky = at_risk(shop.ctx, limit=5)
    assert risky.total == 10
    assert len(risky.members) == 5
    assert {m.scores.member_id for m in risky.members} <= set(shop.leavers)
    values = [m.scores.value_at_risk_minor for m in risky.members]
    assert values == sorted(values, reverse=True)
    for m in risky.members:
        s = m.scores
        assert s.churn_probability >= 0.5
        assert (
            s.value_at_risk_minor == round(s.churn_probability * s.yearly_spend_minor)
            or abs(s.value_at_risk_minor - s.churn_probability * s.yearly_spend_minor) <= 1
        )
        assert m.phone is not None
        assert m.phone.startswith("+86139")
    assert at_risk(shop.ctx, limit=0).members == []
    assert at_risk(shop.ctx, limit=0).total == 10


def test_the_api_serves_the_run_and_masks_phones(shop: Shop) -> None:
    ctx = shop.ctx

    def headers(role: str) -> dict[str, str]:
        token, _ = issue_access_token(
            ctx.settings.secret_key, user_id=1, username=role, role=role, store_ids=[], now=ctx.now()
        )
        return {"Authorization": f"Bearer {token}"}

    with TestClient(create_app(ctx)) as client:
        resp = client.get("/api/v1/analytics/churn", params={"limit": 3}, headers=headers("analyst"))
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert (body["horizon_days"], body["members"], body["at_risk_total"]) == (HORIZON, 21, 10)
        assert [a["score"] for a in body["aucs"]] == ["model", "p_alive", "recency"]
        assert body["aucs"][0]["name_en"] == "Churn model (gradient boosting)"
        assert body["validation"]["cutoff"] == "2026-03-17"
        assert len(body["roc"]) == 21
        assert body["roc"][-1]["fpr"] == 1.0
        listed = body["at_risk"]
        assert len(listed) == 3
        assert all(m["pii_masked"] and "****" in m["phone"] for m in listed)  # an analyst: masked
        assert listed[0]["value_at_risk"]["currency"] == "CNY"
        full = client.get("/api/v1/analytics/churn", params={"limit": 3}, headers=headers("admin")).json()
        assert not any(m["pii_masked"] for m in full["at_risk"])
        assert [m["member_id"] for m in full["at_risk"]] == [m["member_id"] for m in listed]
        mine = client.get(f"/api/v1/members/{shop.leavers[0]}/churn", headers=headers("marketer")).json()
        assert mine["horizon_days"] == HORIZON
        assert mine["churn_probability"] >= 0.5
        idle = client.get(f"/api/v1/members/{shop.idle}/churn", headers=headers("marketer")).json()
        assert idle["churn_probability"] is None
        assert client.get("/api/v1/members/999999/churn", headers=headers("admin")).status_code == 404
        assert (
            client.get("/api/v1/analytics/churn", params={"limit": 201}, headers=headers("admin")).status_code
            == 422
        )


def test_a_rerun_replaces_the_members_rows(shop: Shop) -> None:
    before = last_run(shop.ctx)
    after = refresh_churn(shop.ctx, horizon_days=HORIZON)
    assert before is not None
    assert after.id > before.id
    check_replaced(shop.ctx, member_churn, churn_runs, after.id)
    assert after.aucs == before.aucs  # seeded: the same data give the same run


def test_an_erasure_removes_the_members_scores(shop: Shop) -> None:
    gone = shop.leavers[-1]
    assert member_churn_scores(shop.ctx, gone).scores is not None
    privacy.erase_member(shop.ctx, gone, confirm=members.get_member(shop.ctx, gone).card_no)
    assert member_churn_scores(shop.ctx, gone).scores is None
    assert refresh_churn(shop.ctx, horizon_days=HORIZON).members == 20
    assert member_churn_scores(shop.ctx, gone).scores is None
    shop.leavers.remove(gone)


@pytest.mark.parametrize("shop", ["sqlite"], indirect=True)  # the CLI is the same on both backends
def test_the_cli_shows_and_refreshes(shop: Shop) -> None:
    runner = CliRunner()
    shown = runner.invoke(app, ["analytics", "churn", "show", "--format", "json", "--database-url", shop.url])
    assert shown.exit_code == 0, shown.output
    body = json.loads(shown.stdout)
    assert body["horizon_days"] == HORIZON
    assert set(body["aucs"]) == {"model", "p_alive", "recency"}
    assert body["at_risk"]["total"] >= 1
    # the CLI's clock is today's: the shop's history ended long ago, so everyone has churned since
    refused = runner.invoke(app, ["analytics", "churn", "refresh", "--database-url", shop.url])
    assert refused.exit_code == 1
    assert "CHURN_TOO_LITTLE_HISTORY" in refused.stderr
    table = runner.invoke(app, ["analytics", "churn", "show", "--database-url", shop.url])
    assert table.exit_code == 0, table.output
    assert "AUC" in table.stdout
    assert "Churn model (gradient boosting)" in table.stdout
    bad = runner.invoke(app, ["analytics", "churn", "show", "--format", "xml", "--database-url", shop.url])
    assert bad.exit_code == 2


def test_without_purchases_nothing_is_learnt_and_nothing_stored(engine: Engine) -> None:
    ctx = Context(engine=engine)
    with pytest.raises(TooLittleHistory) as none:
        refresh_churn(ctx)
    assert (none.value.details["members"], none.value.details["needed"]) == (0, 10)
    with pytest.raises(InvalidInput) as bad:
        jobs.run_now(ctx, jobs.CHURN_MODEL, SYSTEM, params={"horizon_days": 400})
    assert bad.value.code == "CHURN_INPUT_INVALID"
    assert last_run(ctx) is None
