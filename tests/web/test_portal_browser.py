"""A member's journey through the portal in real headless Chromium on a phone-sized screen, on
SQLite and PostgreSQL: sign in with the code from the local outbox, read points and tier, see both
change after a cashier posts a sale in the console (a second browser, at the till), open the
history, switch to English. Nothing may be loaded from another host, the CSP must refuse nothing,
text must keep a readable contrast, and each page is saved as a screenshot under
var/test-artifacts/portal/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from loyalty.services import members as members_service
from loyalty.services import merchants
from loyalty.services.schemas import MemberIn
from tests.api.api_world import PASSWORD, World
from tests.api.live_server import serve
from tests.web import screenshots
from tests.web.conftest import world_on_one
from tests.web.test_console_browser import CJK, CONTRAST, Till
from tests.web.test_portal import _code

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

world = world_on_one("sqlite")


@pytest.fixture(scope="module")
def portal_url(world: World) -> Iterator[str]:
    with serve(world.app) as base:
        yield base


def _shot(page: Page, backend: str, name: str) -> None:
    screenshots.save(page, "portal", f"{backend}-{name}")


def _points(page: Page) -> int:
    """Available plus pending points (a sale's points may wait out the programme's pending days)."""
    return sum(
        int(re.sub(r"\D", "", page.locator(f"#points-{kind}").inner_text()) or "0")
        for kind in ("available", "pending")
    )


def _sell_at_the_till(browser: Browser, base: str, backend: str, phone: str, price: str) -> str:
    """A cashier of store A finds the member by phone in the console and posts a one-line sale of
    `price`; the order number the till gave it."""
    till = Till(browser, "zh-CN")
    till.context.set_default_timeout(10_000)
    page = till.page
    try:
        page.goto(f"{base}/console/login", wait_until="load")
        page.fill("#username", "cashier1")
        page.fill("#password", PASSWORD)
        page.keyboard.press("Enter")
        page.locator("#q").fill(phone)
        page.keyboard.press("Enter")
        page.locator("#member-name").wait_for()
        order = page.input_value("#sale-order")
        page.fill("#sku_0", "COAT-01")
        page.fill("#qty_0", "1")
        page.fill("#price_0", price)
        page.keyboard.press("Enter")
        page.get_by_text(f"销售 {order} 已入账").wait_for()
        screenshots.save(page, "portal", f"{backend}-till-sale-zh")
        assert till.outside == []
        assert till.refused == []
        return order
    finally:
        till.close()


def test_a_member_signs_in_and_sees_points_and_tier_change(
    browser: Browser, world: World, portal_url: str
) -> None:
    backend = world.ctx.engine.dialect.name
    member = members_service.register_member(
        world.ctx, MemberIn(phone="+8613911112222", name="Lin", registration_store_id=world.store_a)
    )
    phone = Till(browser, "zh-CN")
    phone.context.set_default_timeout(10_000)
    page = phone.page
    page.set_viewport_size({"width": 390, "height": 844})
    try:
        page.goto(f"{portal_url}/m")
        assert page.url.endswith("/m/login")
        _shot(page, backend, "login-zh")
        page.keyboard.type(member.phone)  # the phone field has the focus
        page.keyboard.press("Enter")
        page.wait_for_selector("#code")
        _shot(page, backend, "code-zh")
        page.locator("#code").fill(_code(world, member.phone))
        page.keyboard.press("Enter")
        page.wait_for_selector("#points-available")
        assert "/m/login" not in page.url
        before = _points(page)
        tier_before = page.locator("#tier-name").inner_text()
        assert tier_before
        _shot(page, backend, "card-zh")

        sold = _sell_at_the_till(browser, portal_url, backend, member.phone, "2100.00")
        page.reload()
        page.wait_for_selector("#points-available")
        assert _points(page) > before
        tier_after = page.locator("#tier-name").inner_text()
        assert (tier_before, tier_after) == ("普通", "银卡")  # ¥2,100 passes the ¥2,000 of 银卡
        assert page.locator("#tier-progress").inner_text()
        _shot(page, backend, "card-after-sale-zh")
        assert page.evaluate(CONTRAST) == []

        page.goto(f"{portal_url}/m/history")
        _shot(page, backend, "history-zh")
        assert sold in page.content()

        page.get_by_role("button", name="English").click()
        page.wait_for_load_state()
        page.wait_for_selector("text=Points history")
        body = page.locator("main").inner_text() + page.locator("header").inner_text()
        for data in [s.name for s in merchants.list_stores(world.ctx)] + ["中文"]:  # data, and the switch
            body = body.replace(data, "")
        leftover = [line for line in body.splitlines() if CJK.search(line)]
        assert leftover == [], leftover
        _shot(page, backend, "history-en")
        page.goto(f"{portal_url}/m")
        _shot(page, backend, "card-en")
        assert phone.outside == []
        assert phone.refused == []
    finally:
        phone.close()
