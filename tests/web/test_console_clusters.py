"""The member clusters page (`/console/analytics/clusters`) and a member's cluster on the 360° page,
through the test client on SQLite and PostgreSQL: before any run, a refresh started and followed to
its end, the cards, the chart of the silhouette per k with its table, k forced, and who sees what."""

from __future__ import annotations

import re
from html import unescape

import pytest

from loyalty.services import clusters as clusters_service
from tests.api.analytics_data import buying_members
from tests.api.api_world import World
from tests.web.analytics_pages import charts_on, check_before_any_run, follow_job, refresh_and_follow
from tests.web.console_client import as_

PAGE = "/console/analytics/clusters"


@pytest.fixture(scope="module")
def buyers(world: World) -> list[int]:
    return buying_members(world.ctx, world.store_a, count=12, prefix="CL", seed=11)


def test_before_any_run_the_page_says_so(world: World) -> None:
    check_before_any_run(world.app, PAGE, "The members have not been clustered yet")
    assert 'href="/console/analytics/clusters"' in as_(world.app, "analyst1").get("/console/analytics").text


def test_an_analyst_clusters_the_members_and_sees_the_profiles(world: World, buyers: list[int]) -> None:
    analyst = as_(world.app, "analyst1")
    done = refresh_and_follow(analyst, PAGE, {"k": ""}, started="Member clusters started")
    run = clusters_service.last_run(world.ctx)
    assert run is not None
    assert f"{run.members} members in {run.k} clusters" in done
    assert f'href="{PAGE}"' in done  # the way to the new clusters

    page = unescape(analyst.get(PAGE).text)
    assert run.reason("en") in page
    assert len(re.findall(r'<li class="kpi" id="cluster-\d+">', page)) == run.k
    assert page.count("<h3>Cluster ") == run.k
    for profile in run.profiles:
        assert f'id="cluster-{profile.cluster}"' in page
    charts = charts_on(page)
    assert len(charts) == 1
    chart = charts[0]
    assert chart["labels"] == [f"k={s.k}" for s in run.scores]
    assert chart["series"][0]["data"] == [round(s.silhouette, 4) for s in run.scores]
    assert chart["marker"]["index"] == [s.k for s in run.scores].index(run.k)
    assert 'id="table-silhouette"' in page  # the chart's table
    assert 'id="cluster-means"' in page
    assert "All members" in page
    assert "¥" in page  # money with its currency
    assert not re.search(r"<script(?![^>]*\bsrc=)", page)
    assert " style=" not in page


def test_k_can_be_forced_and_a_bad_k_is_refused(world: World, buyers: list[int]) -> None:
    analyst = as_(world.app, "analyst1")
    refused = analyst.post(f"{PAGE}/refresh", {"k": "12"}, follow_redirects=True)
    assert "Choose k from 2 to 8" in refused.text
    forced = analyst.post(f"{PAGE}/refresh", {"k": "3"}, follow_redirects=True)
    follow_job(analyst, forced.text)
    page = unescape(analyst.get(PAGE).text)
    assert "k=3 as asked" in page
    assert page.count("<h3>Cluster ") == 3
    assert as_(world.app, "marketer1").post(f"{PAGE}/refresh", {"k": "3"}).status_code == 403


def test_the_member_page_shows_the_members_cluster_to_analytics_readers(
    world: World, buyers: list[int]
) -> None:
    member = buyers[0]
    found = clusters_service.member_cluster(world.ctx, member)
    assert found.cluster is not None
    page = unescape(as_(world.app, "admin1").get(f"/console/members/{member}").text)
    assert 'id="member-cluster"' in page
    assert f'href="{PAGE}#cluster-{found.cluster}"' in page
    assert f"Cluster {found.cluster} · " in page
    cashier = as_(world.app, "cashier1").get(f"/console/members/{member}").text
    assert 'id="member-cluster"' not in cashier  # no analytics:read
