"""The churn page (`/console/analytics/churn`) and a member's churn risk on the 360° page, through the
test client: before any run, a refresh started and followed to its end, the
AUCs beside P(alive)'s, the ROC chart with its table, the members to call back (phones masked for
whoever may not see them), a refused horizon, and who sees what. On SQLite only: the pages read the
service's answers, which tests/analytics/test_churn_store.py checks on both backends."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import pytest

from loyalty.services import churn as churn_service
from tests.api.analytics_data import buying_members
from tests.api.api_world import World, world_on
from tests.web.analytics_pages import charts_on, check_before_any_run, refresh_and_follow
from tests.web.console_client import as_

PAGE = "/console/analytics/churn"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with world_on("sqlite", Path(tmp_path_factory.mktemp("churn-web"))) as w:
        yield w


@pytest.fixture(scope="module")
def buyers(world: World) -> list[int]:
    return buying_members(world.ctx, world.store_a, count=40, prefix="CH", seed=13)


def test_before_any_run_the_page_says_so(world: World) -> None:
    check_before_any_run(world.app, PAGE, "The churn model has not run yet")
    assert f'href="{PAGE}"' in as_(world.app, "analyst1").get("/console/analytics").text


def test_an_analyst_runs_the_model_and_sees_it_beside_p_alive(world: World, buyers: list[int]) -> None:
    analyst = as_(world.app, "analyst1")
    done = refresh_and_follow(analyst, PAGE, {"horizon": "90"}, started="Churn model started")
    run = churn_service.last_run(world.ctx)
    assert run is not None
    assert f"Churn risk for {run.members} members" in done
    assert f'href="{PAGE}"' in done  # the way to the new figures
    assert run.validated, run.problem

    page = unescape(analyst.get(PAGE).text)
    assert f"churn means no purchase in the next {run.horizon_days} days" in page
    assert 'id="churn-aucs"' in page
    model_auc = run.aucs["model"]
    assert model_auc is not None
    assert f"{model_auc:.3f}" in page
    charts = charts_on(page)
    assert len(charts) == 1
    roc = charts[0]
    assert roc["kind"] == "line"
    assert roc["labels"][0] == "0%"
    assert roc["labels"][-1] == "100%"
    assert roc["series"][0]["label"] == "Churn model (gradient boosting)"
    assert roc["series"][0]["data"] == [p["model"] for p in run.roc]
    assert roc["series"][-1]["data"] == [p["fpr"] for p in run.roc]  # the coin's diagonal
    assert 'id="table-roc"' in page  # the chart's table
    assert 'id="churn-importances"' in page
    risky = churn_service.at_risk(world.ctx, limit=20)
    assert risky.members  # some of the seeded buyers stopped long ago
    assert 'id="churn-at-risk"' in page
    first = risky.members[0]
    assert f'href="/console/members/{first.scores.member_id}"' in page
    assert first.phone is not None
    assert first.phone not in page
    assert first.phone[:-8] + "****" + first.phone[-4:] in page
    admin = unescape(as_(world.app, "admin1").get(PAGE).text)
    assert first.phone in admin
    assert "¥" in page  # money with its currency
    assert not re.search(r"<script(?![^>]*\bsrc=)", page)
    assert " style=" not in page


def test_a_horizon_the_form_does_not_offer_is_refused(world: World, buyers: list[int]) -> None:
    analyst = as_(world.app, "analyst1")
    refused = analyst.post(f"{PAGE}/refresh", {"horizon": "13"}, follow_redirects=True)
    assert "Choose a horizon of 30, 60, 90, 120 or 180 days." in refused.text
    assert as_(world.app, "marketer1").post(f"{PAGE}/refresh", {"horizon": "90"}).status_code == 403


def test_the_member_page_shows_the_members_risk_to_analytics_readers(world: World, buyers: list[int]) -> None:
    scored = next(m for m in buyers if churn_service.member_churn_scores(world.ctx, m).scores is not None)
    found = churn_service.member_churn_scores(world.ctx, scored)
    assert found.scores is not None
    assert found.run is not None
    page = unescape(as_(world.app, "admin1").get(f"/console/members/{scored}").text)
    assert 'id="member-churn"' in page
    assert f"in the next {found.run.horizon_days} days" in page
    assert "Next purchase expected" in page
    cashier = as_(world.app, "cashier1").get(f"/console/members/{scored}").text
    assert 'id="member-churn"' not in cashier  # no analytics:read
