"""The store manager's dashboard in real headless Chromium, on SQLite and PostgreSQL: the manager logs
in, opens the dashboard from the menu, a till posts a sale, and the manager, asking again with the
picker, sees it in today's figures; the charts are drawn by the page's own script from its data
attributes (the CSP refusing nothing), text keeps a readable contrast, and the page reads in English
after the switch. Screenshots in both languages go to var/test-artifacts/console/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest

from loyalty.services import merchants
from loyalty.services import tiers as tiers_service
from tests.api.api_world import PASSWORD, World, purchase_body
from tests.api.live_server import serve
from tests.web import screenshots
from tests.web.conftest import world_on_one
from tests.web.test_console_browser import CJK, CONTRAST, Till

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

world = world_on_one("postgresql")


@pytest.fixture(scope="module")
def base_url(world: World) -> Iterator[str]:
    with serve(world.app) as base:
        yield base


@pytest.fixture
def tab(browser: Browser) -> Iterator[Till]:
    opened = Till(browser, "zh-CN")
    opened.context.set_default_timeout(15_000)
    yield opened
    opened.close()


def _shot(page: Page, world: World, name: str) -> None:
    screenshots.save(page, "console", f"{world.ctx.engine.dialect.name}-{name}")


def _amount(text: str) -> Decimal:
    return Decimal(re.sub(r"[^\d.]", "", text) or "0")


def _today(page: Page) -> Decimal:
    """Today's net sales: the first figure of the sales table's last row (the table is the chart's
    alternative, folded under it; its text is read whether shown or not)."""
    row = page.locator("#table-sales tbody tr").last
    return _amount(row.locator("td").first.text_content() or "")


def _drawn(page: Page) -> list[str]:
    return list(
        page.eval_on_selector_all("canvas[data-kpi-chart]", "cs => cs.map(c => c.dataset.drawn || '')")
    )


def test_a_store_manager_sees_a_sale_just_posted(world: World, base_url: str, tab: Till) -> None:
    page = tab.page
    page.goto(f"{base_url}/console/login", wait_until="load")
    page.fill("#username", "store_manager1")
    page.fill("#password", PASSWORD)
    page.keyboard.press("Enter")
    page.locator("#q").wait_for()
    page.get_by_role("link", name="门店看板").click()  # the menu's link: an htmx swap, not a page load
    page.locator("#dashboard-title").wait_for()
    page.wait_for_function(
        "() => document.querySelectorAll('canvas[data-kpi-chart][data-drawn=\"1\"]').length === 3"
    )
    assert page.inner_text("#dashboard-scope") == "总店"
    before = _today(page)
    card_before = _amount(page.inner_text("#kpi-net-sales .value"))

    body = purchase_body(world.store_a, None, f"BROWSER-{datetime.now(UTC):%H%M%S%f}", price="1234.50")
    body["occurred_at"] = datetime.now(UTC).isoformat()
    response = world.client.post("/api/v1/purchases", json=body, headers=world.as_("pos"))
    assert response.status_code == 201, response.text
    total = Decimal(response.json()["total"]["amount"])

    page.locator(".picker button").focus()
    page.keyboard.press("Enter")  # the picker's form, as it stands: the same store and days, again
    page.wait_for_function(
        "before => { const c = document.querySelector('#kpi-net-sales .value');"
        " return c && c.textContent.trim() !== before; }",
        arg=page.inner_text("#kpi-net-sales .value"),
    )
    assert _today(page) - before == total
    assert _amount(page.inner_text("#kpi-net-sales .value")) - card_before == total
    page.wait_for_function(
        "() => document.querySelectorAll('canvas[data-kpi-chart][data-drawn=\"1\"]').length === 3"
    )
    page.locator("#table-sales").evaluate("t => t.closest('details').open = true")
    _shot(page, world, "dashboard-zh")
    assert tab.outside == []
    assert tab.refused == []
    assert page.evaluate(CONTRAST) == []

    page.locator(".lang button").click()
    page.get_by_text("Member sales share").first.wait_for()
    page.wait_for_function(
        "() => document.querySelectorAll('canvas[data-kpi-chart][data-drawn=\"1\"]').length === 3"
    )
    assert _drawn(page) == ["1", "1", "1"]
    page.locator("#table-sales").evaluate("t => t.closest('details').open = true")
    _shot(page, world, "dashboard-en")
    words = {t.name for t in tiers_service.list_tiers(world.ctx)} | {
        s.name for s in merchants.list_stores(world.ctx)
    }
    text = page.inner_text("body")
    for word in sorted(words | {"中文"}, key=len, reverse=True):
        text = text.replace(word, "")
    assert not CJK.search(text), CJK.findall(text)
    assert tab.refused == []
    assert page.evaluate(CONTRAST) == []


def test_a_chain_role_sees_the_whole_chain(world: World, base_url: str, browser: Browser) -> None:
    tab = Till(browser, "en-US")
    try:
        page = tab.page
        page.goto(f"{base_url}/console/login", wait_until="load")
        page.fill("#username", "analyst1")
        page.fill("#password", PASSWORD)
        page.keyboard.press("Enter")
        page.locator("#q").wait_for()  # logged in: the find page
        page.goto(f"{base_url}/console/dashboard?period=week", wait_until="load")
        assert page.inner_text("#dashboard-scope") == "Whole chain"
        page.wait_for_function(
            "() => document.querySelectorAll('canvas[data-kpi-chart][data-drawn=\"1\"]').length === 3"
        )
        _shot(page, world, "dashboard-chain-en")
        assert tab.outside == []
        assert tab.refused == []
    finally:
        tab.close()
