"""The marketer's coupon reaching the till, in real headless Chromium, on SQLite and PostgreSQL.

A marketer defines a 满减 offer on the console's offers page (its YAML), issues one shared code
(shown once), and a cashier at store A types that code into a member's sale: the quote shows the
coupon's discount and the points on the net amounts, the posted sale uses the code, and the
marketer's page then counts one use and the discount given. The cashier's quote also names what the
stored basket rules offer beside the cart. Nothing may be loaded from another host
and the Content-Security-Policy must refuse nothing; screenshots go to var/test-artifacts/console/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.api.api_world import PASSWORD, World
from tests.api.live_server import serve
from tests.web.conftest import world_on_one
from tests.web.test_console_browser import CONTRAST, Till, _backend, _shot

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

OFFER = """code: browser-100-20
name: 满100减20
kind: ladder
steps:
  - over: 100
    off: 20
"""
CODE = re.compile(r"\b[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}\b")

world = world_on_one("postgresql")


@pytest.fixture(scope="module")
def base_url(world: World) -> Iterator[str]:
    with serve(world.app) as base:
        yield base


@pytest.fixture
def tabs(browser: Browser) -> Iterator[tuple[Till, Till]]:
    marketer, cashier = Till(browser, "zh-CN"), Till(browser, "zh-CN")
    yield marketer, cashier
    marketer.close()
    cashier.close()


def _login(page: Page, base_url: str, username: str, then: str) -> None:
    page.goto(f"{base_url}/console/login", wait_until="load")
    page.locator("#username").fill(username)
    page.locator("#password").fill(PASSWORD)
    page.locator("#password").press("Enter")
    page.locator("#username").wait_for(state="detached")
    page.goto(f"{base_url}{then}", wait_until="load")


def test_a_marketers_shared_code_is_used_at_the_till_and_counted(
    world: World, base_url: str, tabs: tuple[Till, Till]
) -> None:
    marketer, cashier = tabs
    backend = _backend(world)
    page = marketer.page
    _login(page, base_url, "marketer1", "/console/programme/offers")
    page.locator("#offer-yaml").wait_for()
    page.locator("#offer-yaml").fill(OFFER)
    page.locator("#offer-define").click()
    row = page.locator("#offer-browser-100-20")
    row.wait_for()
    page.locator("#count-browser-100-20").fill("1")
    page.locator("#uses-browser-100-20").fill("5")
    row.get_by_role("button").first.click()  # issue the shared code
    page.locator("#issued-codes").wait_for()
    found = CODE.search(page.inner_text("#issued-codes"))
    assert found, page.inner_text("#issued-codes")
    code = found.group(0)
    _shot(page, backend, "offers-issued-zh")

    till = cashier.page
    _ring_up_a_bag(till, base_url, world.member_a["id"])
    till.locator("#sale-coupons").fill(code.lower())  # typed however printed: read back the same
    till.locator("#sale-quote-button").click()
    till.locator("#quote-coupons").wait_for()
    quoted = till.inner_text("#quote-coupons")
    assert code in quoted, quoted
    assert "20.00" in quoted, quoted
    assert till.inner_text("#quote-points") == "130"  # 1 point a yuan on the net ¥130
    _shot(till, backend, "sale-quote-coupon-zh")
    order = till.input_value("#sale-order")
    till.locator("#sale-order").press("Enter")
    till.get_by_text(f"销售 {order} 已入账").wait_for()
    _shot(till, backend, "sale-with-coupon-zh")

    page.goto(f"{base_url}/console/programme/offers", wait_until="load")
    used = page.inner_text("#offer-browser-100-20")
    assert re.search(r"\b1\b", used), used
    assert "20.00" in used, used
    _shot(page, backend, "offers-used-zh")
    for tab in (marketer, cashier):
        assert tab.outside == []
        assert tab.refused == []
    assert page.evaluate(CONTRAST) == []
    assert till.evaluate(CONTRAST) == []


def test_the_cashiers_quote_offers_what_sells_with_the_cart(
    world: World, base_url: str, tabs: tuple[Till, Till]
) -> None:
    """The stored basket rules reach the till: the quote names what to offer beside the cart."""
    from datetime import date

    from loyalty.services.basket_rules import MinedSet, RuleRow, write_sets

    day = world.ctx.now().date()
    rule = RuleRow(("BAG-01",), ("STRAP-02",), 40, 0.04, 0.75, 5.0, 0.032, 3.84)
    write_sets(
        world.ctx,
        [
            MinedSet(
                store_id=None, level="sku", period_start=date(day.year, 1, 1), period_end=day,
                min_support=0.01, min_count=10, min_confidence=0.5, min_length=2, max_length=4,
                baskets=1000, lines=2500, items=30, frequent_items=12, itemsets=20, rules_found=1,
                computed_at=world.ctx.now(), rules=[rule],
            )
        ],
    )  # fmt: skip
    _unused, cashier = tabs
    till = cashier.page
    _ring_up_a_bag(till, base_url, world.member_a["id"])
    till.locator("#sale-quote-button").click()
    till.locator("#quote-suggestions").wait_for()
    shown = till.inner_text("#quote-suggestions")
    assert "常与本单商品一起购买" in shown, shown
    assert "STRAP-02" in shown, shown
    assert "含 BAG-01 的订单中有" in shown, shown
    _shot(till, _backend(world), "sale-quote-cross-sell-zh")
    assert cashier.outside == []
    assert cashier.refused == []
    assert till.evaluate(CONTRAST) == []


def _ring_up_a_bag(till: Page, base_url: str, member_id: int) -> None:
    """The cashier signs in on the member's page and rings up one ¥150 bag (BAG-01)."""
    _login(till, base_url, "cashier1", f"/console/members/{member_id}")
    till.locator("#sale-order").wait_for()
    till.locator("#sku_0").fill("BAG-01")
    till.locator("#qty_0").fill("1")
    till.locator("#price_0").fill("150.00")
