"""The basket-rules browser through the test client, on both backends: the rules of sales posted for
it, filters and sorting by column, refusals shown in words beside the form, and who may see it."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from html import unescape

import pytest

from loyalty.services import purchases as purchases_service
from loyalty.services.schemas import PurchaseIn, PurchaseLineIn
from tests.api.api_world import World
from tests.web.console_client import as_

PAGE = "/console/analytics/basket"
SHANGHAI = timezone(timedelta(hours=8))
DAYS = "from=2026-01-05&to=2026-01-07"


@pytest.fixture(scope="module")
def sold(world: World) -> World:
    """Five receipts on days of their own (5–7 January 2026) and one of 20 items on the 20th."""
    baskets = [
        ["milk", "bread"],
        ["milk", "bread", "eggs"],
        ["milk", "eggs"],
        ["bread", "jam"],
        ["milk", "bread"],
    ]
    for n, items in enumerate(baskets):
        _sell(world, f"BK-{n}", datetime(2026, 1, 5 + n % 3, 10, 0, tzinfo=SHANGHAI), items)
    _sell(world, "BK-BIG", datetime(2026, 1, 20, 10, 0, tzinfo=SHANGHAI), [f"toy-{i}" for i in range(20)])
    return world


def _sell(world: World, order: str, when: datetime, items: list[str]) -> None:
    purchases_service.post_purchase(
        world.ctx,
        PurchaseIn(
            store_id=world.store_a,
            order_id=order,
            occurred_at=when,
            lines=[PurchaseLineIn(sku=i, category=i[0], quantity=1, unit_price_minor=100) for i in items],
        ),
    )


def _rules(html: str) -> list[tuple[str, str, str]]:
    table = html.split('id="basket-rules"')[1].split("</table>")[0]
    rows = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td class=\"num\">(.*?)</td>", table, re.S)
    text = [tuple(unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in row) for row in rows]
    return [(a, c, n) for a, c, n in text]


def test_the_rules_of_the_chosen_days(sold: World) -> None:
    analyst = as_(sold.app, "analyst1")
    page = analyst.get(f"{PAGE}?{DAYS}&min_support=0.4&min_confidence=0.6")
    assert page.status_code == 200, page.text[:2000]
    assert _rules(page.text) == [("eggs", "milk", "2"), ("bread", "milk", "3"), ("milk", "bread", "3")]
    assert 'aria-sort="descending"><a href="/console/analytics/basket?' in page.text
    mined = unescape(re.search(r'id="basket-mined">([^<]*)<', page.text).group(1))  # type: ignore[union-attr]
    assert mined.startswith("5 baskets, 4 items (3 frequent), 5 frequent itemsets")


def test_filters_and_sorting(sold: World) -> None:
    analyst = as_(sold.app, "analyst1")
    base = f"{PAGE}?{DAYS}&min_support=40%25&min_confidence=0.6"
    assert _rules(analyst.get(base + "&contains=EGG").text) == [("eggs", "milk", "2")]
    assert _rules(analyst.get(base + "&min_lift=1").text) == [("eggs", "milk", "2")]
    by_support = _rules(analyst.get(base + "&sort=support").text)
    assert by_support[0][2] == "3"
    categories = _rules(analyst.get(base + "&item=category").text)
    assert ("e", "m", "2") in categories
    none = analyst.get(f"{PAGE}?from=2027-01-01&to=2027-01-02")
    assert none.status_code == 200
    assert "No purchases in this store and period." in none.text


def test_refusals_are_shown_in_words(sold: World) -> None:
    analyst = as_(sold.app, "analyst1")
    bad = analyst.get(f"{PAGE}?min_support=0&min_confidence=2&min_lift=-1&from=yesterday")
    assert bad.status_code == 422
    for field in ("min_support", "min_confidence", "min_lift", "from"):
        assert f'id="basket-{field}-error"' in bad.text, field
    explosive = analyst.get(f"{PAGE}?from=2026-01-20&to=2026-01-20&min_support=1")
    assert explosive.status_code == 422
    message = unescape(re.search(r'id="basket-form-error">([^<]*)<', explosive.text).group(1))  # type: ignore[union-attr]
    assert "would give about 1,048,575 frequent itemsets" in message  # every subset of 20 items
    reversed_days = analyst.get(f"{PAGE}?from=2026-01-07&to=2026-01-05")
    assert reversed_days.status_code == 422
    assert 'id="basket-from-error"' in reversed_days.text


def test_store_staff_may_not_browse_rules(sold: World) -> None:
    assert as_(sold.app, "store_manager1").get(PAGE).status_code == 403
    assert as_(sold.app, "marketer1").get(f"{PAGE}?store={sold.store_a}&{DAYS}").status_code == 200
