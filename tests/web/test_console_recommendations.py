"""The recommender's page (`/console/analytics/recommendations`) and a member's recommendations on the
360° page, through the test client: before any refresh, a refresh started and followed to its end, the
holdout's figures as a table and a chart, and who sees what. SQLite only: what is stored and read is
tested on both backends in tests/analytics/test_recommendations_store.py.

Sixteen members of store A buy over the last four months: the first eight coffee and bakery items,
the others tea and desserts, a purchase every ten days or so; some of their purchases fall in the
last four weeks, the holdout.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from html import unescape

import numpy as np
import pytest

from loyalty.services import members, purchases
from loyalty.services.schemas import MemberIn, PurchaseIn, PurchaseLineIn
from tests.api.api_world import World, world_on
from tests.web.analytics_pages import charts_on, check_before_any_run, refresh_and_follow
from tests.web.console_client import as_

PAGE = "/console/analytics/recommendations"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with world_on("sqlite", tmp_path_factory.mktemp("web-recommendations")) as w:
        yield w


@pytest.fixture(scope="module")
def buyers(world: World) -> list[int]:
    rng = np.random.default_rng(3)
    ctx = world.ctx
    start = ctx.now() - timedelta(days=120)
    kinds = {
        "coffee": ["latte", "mocha", "flat-white", "croissant", "bagel"],
        "tea": ["green", "oolong", "jasmine", "tart", "mochi"],
    }
    ids = []
    for i in range(16):
        kind = "coffee" if i < 8 else "tea"
        member = members.register_member(
            ctx, MemberIn(phone=f"+86139770{i:05d}", name=f"RC{i}", registration_store_id=world.store_a)
        )
        ids.append(member.id)
        for k in range(12):
            items = rng.choice(kinds[kind], size=2, replace=False)
            purchases.post_purchase(
                ctx,
                PurchaseIn(
                    store_id=world.store_a,
                    order_id=f"RC-{i}-{k}",
                    occurred_at=start + timedelta(days=10 * k + int(rng.integers(0, 9)), hours=3),
                    member_id=member.id,
                    currency="CNY",
                    lines=[
                        PurchaseLineIn(sku=str(s), category=kind, quantity=1, unit_price_minor=2_000)
                        for s in items
                    ],
                ),
            )
    return ids


def test_before_any_refresh_the_page_says_so(world: World) -> None:
    check_before_any_run(world.app, PAGE, "The recommender has not been trained yet")
    member_page = as_(world.app, "cashier1").get(f"/console/members/{world.member_a['id']}").text
    assert "Recommended for this member" not in member_page  # nothing to show before a refresh


def test_a_refresh_shows_the_holdout_figures(world: World, buyers: list[int]) -> None:
    analyst = as_(world.app, "analyst1")
    done = refresh_and_follow(analyst, PAGE, {})
    assert "Recommendations for" in done  # the job's outcome
    page = analyst.get(PAGE).text
    assert 'id="holdout-figures"' in page
    for name in ("Blend (what members are shown)", "Collaborative filtering (ALS) alone"):
        assert name in unescape(page)
    assert "Item neighbours (cosine)" in page
    assert "Popular at the member&#39;s store" in page or "Popular at the member's store" in page
    specs = charts_on(page)
    assert len(specs) == 1
    assert specs[0]["kind"] == "bar"
    assert len(specs[0]["labels"]) == 4
    assert [s["label"] for s in specs[0]["series"]] == ["P@10", "R@10"]
    assert 'id="recommender-settings"' in page
    assert 'id="to-recommendations"' in analyst.get("/console/analytics").text


def test_the_member_page_shows_the_members_recommendations(world: World, buyers: list[int]) -> None:
    cashier = as_(world.app, "cashier1")
    page = unescape(cashier.get(f"/console/members/{buyers[0]}").text)
    section = page[page.index('id="member-recommendations"') :]
    assert "Recommended for this member" in section
    assert "· coffee" in section or "· tea" in section
    assert "No purchases to learn from yet" not in section
    assert "/console/analytics/recommendations" not in section  # the cashier does not read the analytics
    fresh = members.register_member(
        world.ctx, MemberIn(phone="+8613977099999", name="New", registration_store_id=world.store_a)
    )
    new_page = unescape(cashier.get(f"/console/members/{fresh.id}").text)
    assert "No purchases to learn from yet: what sells at their store lately." in new_page
    assert "Popular at this member's store lately" in new_page
    analyst_page = as_(world.app, "analyst1").get(f"/console/members/{buyers[0]}").text
    assert 'href="/console/analytics/recommendations"' in analyst_page
