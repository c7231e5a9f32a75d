"""The basket page's stored rules through the test client, on both backends: before the first mining
it says so; the refresh button starts the basket-rules job and the page shows the set it stored (when,
over which days, at which thresholds), filtered, sorted and paged; who may refresh."""

from __future__ import annotations

import re
from html import unescape

import pytest

from loyalty.services import jobs
from loyalty.services import purchases as purchases_service
from loyalty.services.basket_rules import RefreshThresholds, refresh_basket_rules
from loyalty.services.schemas import PurchaseIn, PurchaseLineIn
from tests.api.api_world import World
from tests.web.console_client import as_

PAGE = "/console/analytics/basket"


@pytest.fixture(scope="module")
def sold(world: World) -> World:
    """Twelve receipts today in store A: tea with cake, a snack (of 4) and a fruit (of 3) with each."""
    for n in range(12):
        items = ["tea", "cake", f"snack-{n % 4}", f"fruit-{n % 3}"]
        purchases_service.post_purchase(
            world.ctx,
            PurchaseIn(
                store_id=world.store_a,
                order_id=f"ST-{n}",
                occurred_at=world.ctx.now(),
                lines=[
                    PurchaseLineIn(sku=i, category=i[:3], quantity=1, unit_price_minor=100) for i in items
                ],
            ),
        )
    return world


def _text(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</(p|table|nav)>', html, re.S)
    assert found, element_id
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", found.group(1))).split())


def _rows(html: str) -> list[tuple[str, str]]:
    table = html.split('id="stored-rules"')[1].split("</table>")[0]
    rows = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td>", table, re.S)
    return [tuple(unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in row) for row in rows]  # type: ignore[misc]


def test_before_the_first_mining_and_the_refresh(sold: World) -> None:
    analyst = as_(sold.app, "analyst1")
    page = analyst.get(PAGE)
    assert page.status_code == 200, page.text[:2000]
    assert 'id="rules-never"' in page.text
    assert 'id="basket-refresh"' in page.text
    assert 'id="basket-support"' in page.text  # the custom scope's form is still there, folded
    assert 'id="basket-rules"' not in page.text  # nothing mined on request
    started = analyst.post(f"{PAGE}/refresh", {})
    assert started.status_code == 303
    assert started.headers["location"] == PAGE
    assert jobs.wait_all(timeout=60)
    done = analyst.get(PAGE)
    assert 'class="job-progress"' in done.text
    assert 'href="/console/analytics/basket">' in done.text  # the finished job links to its rules
    about = _text(done.text, "rules-about")
    assert "at least 10 baskets" in about  # the default floor, stated
    assert "confidence at least 10%" in about
    assert "rules of 2 to 4 items" in about
    assert ("tea", "cake") in _rows(done.text) or ("cake", "tea") in _rows(done.text)
    assert as_(sold.app, "marketer1").post(f"{PAGE}/refresh", {}).status_code == 403
    assert 'id="basket-refresh"' not in as_(sold.app, "marketer1").get(PAGE).text


def test_filters_sorting_and_pages(sold: World) -> None:
    refresh_basket_rules(
        sold.ctx,
        thresholds=RefreshThresholds(min_support=0.05, min_baskets=1, min_confidence=0.1, max_length=3),
    )
    analyst = as_(sold.app, "analyst1")
    store = f"{PAGE}?store={sold.store_a}"
    first = analyst.get(store)
    count = _text(first.text, "rules-count")
    total = int(re.search(r"of ([\d,]+)", count).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert total > 50  # more than a page: the pager shows
    assert count.startswith("Rules 1 to 50 of")
    assert 'id="rules-next"' in first.text
    assert 'id="rules-previous"' not in first.text
    second = analyst.get(f"{store}&page=2")
    assert _text(second.text, "rules-count").startswith("Rules 51 to")
    assert set(_rows(second.text)).isdisjoint(_rows(first.text))
    snack = _rows(analyst.get(f"{store}&contains=SNACK-1").text)
    assert snack
    assert all("snack-1" in a + c for a, c in snack)
    strong = analyst.get(f"{store}&min_lift=1&sort=confidence")
    assert 'aria-sort="descending"><a href="/console/analytics/basket?' in strong.text
    assert 'id="stored-rules"' in strong.text
    nothing = analyst.get(f"{store}&contains=coffee")
    assert _text(nothing.text, "rules-none") == "No stored rule matches these filters."
    categories = analyst.get(f"{store}&level=category")
    assert ("cak", "tea") in _rows(categories.text) or ("tea", "cak") in _rows(categories.text)
    for bad in ("page=0", "page=x", "min_lift=-1", "level=brand"):
        assert analyst.get(f"{store}&{bad}").status_code == 422, bad
    assert analyst.get(f"{PAGE}?store=chain").status_code == 200


def test_a_small_store_says_why_it_has_no_rules(sold: World) -> None:
    refresh_basket_rules(sold.ctx)
    page = as_(sold.app, "analyst1").get(f"{PAGE}?store={sold.store_b}")
    assert page.status_code == 200
    assert "an itemset must be in at least 10 baskets" in _text(page.text, "rules-none")
