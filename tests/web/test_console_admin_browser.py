"""An administrator opens a store and gives its till a POS key, in real headless Chromium with the
keyboard alone, on SQLite and PostgreSQL; then every administration page in Chinese and English.

As the cashier's journey (test_console_browser.py): nothing loaded from another host, nothing refused
by the Content-Security-Policy, readable contrast, and screenshots under var/test-artifacts/console/.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from loyalty.services import auth, merchants
from loyalty.services import tiers as tiers_service
from tests.api.api_world import PASSWORD, World
from tests.api.live_server import serve
from tests.web import screenshots
from tests.web.conftest import world_on_one
from tests.web.test_console_browser import CONTRAST, Till, _assert_english, _focused

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

world = world_on_one("sqlite")


@pytest.fixture(scope="module")
def base_url(world: World) -> Iterator[str]:
    with serve(world.app) as base:
        yield base


def _shot(page: Page, world: World, name: str) -> None:
    screenshots.save(page, "console", f"{world.ctx.engine.dialect.name}-admin-{name}")


def _login(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/console/login", wait_until="load")
    _focused(page, "username")
    page.keyboard.type("admin1")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.locator("#q").wait_for()


def _follow(page: Page, name: str) -> None:
    """Reach the link called `name` and press Enter on it, as the keyboard does after Tab."""
    page.get_by_role("link", name=name, exact=True).focus()
    page.keyboard.press("Enter")


def test_an_admin_opens_a_store_and_gives_its_till_a_key_with_the_keyboard(
    world: World, base_url: str, browser: Browser
) -> None:
    tab = Till(browser, "zh-CN")
    try:
        page, keyboard = tab.page, tab.page.keyboard
        _login(page, base_url)
        _follow(page, "系统管理")
        page.get_by_role("heading", name="系统管理").wait_for()
        _shot(page, world, "index-zh")
        _follow(page, "门店与商户")
        page.get_by_role("heading", name="门店").wait_for()
        _follow(page, "开设门店")

        _focused(page, "store-code")  # the code field takes the focus
        keyboard.type("BJ07")
        keyboard.press("Tab")
        keyboard.type("三里屯店")
        keyboard.press("Tab")
        keyboard.type("北京")
        _shot(page, world, "store-new-zh")
        keyboard.press("Enter")  # the time zone and merchant keep their defaults
        page.get_by_text("门店 BJ07 三里屯店 已开设。").wait_for()
        store = next(s for s in merchants.list_stores(world.ctx) if s.code == "BJ07")
        assert (store.name, store.city, store.timezone) == ("三里屯店", "北京", world.ctx.settings.timezone)
        _shot(page, world, "store-opened-zh")

        _follow(page, "门店与商户")
        _follow(page, "BJ07 的 POS 密钥")
        _focused(page, "key-name")
        keyboard.type("till-1")
        keyboard.press("Enter")
        page.locator("#secret-value").wait_for()
        _focused(page, "secret-value")  # the secret takes the focus, ready to copy
        secret = page.input_value("#secret-value")
        assert secret.startswith("lk_")
        assert "不会再次显示" in page.inner_text(".secret")
        _shot(page, world, "key-created-zh")
        who = world.client.get("/api/v1/auth/whoami", headers={"X-API-Key": secret})
        assert who.json()["store_ids"] == [store.id]
        assert [k.name for k in auth.list_api_keys(world.ctx, store.id)] == ["till-1"]
        assert secret not in page.url

        assert tab.outside == []
        assert tab.refused == []
        assert page.evaluate(CONTRAST) == []
    finally:
        tab.close()


def test_every_admin_page_reads_in_both_languages(world: World, base_url: str, browser: Browser) -> None:
    tier = tiers_service.list_tiers(world.ctx)[0]
    pages = (
        ("index", "/console/admin"),
        ("stores", "/console/admin/stores"),
        ("store", f"/console/admin/stores/{world.store_a}"),
        ("staff", "/console/admin/staff"),
        ("staff-account", f"/console/admin/staff/{world.staff_ids['cashier']}"),
        ("keys", f"/console/admin/stores/{world.store_a}/keys"),
        ("programme", "/console/admin/programme"),
        ("tier", f"/console/admin/tiers/{tier.id}"),
        ("audit", "/console/admin/audit"),
    )
    # data shown as stored: stores' cities, merchants' and members' names
    data = {s.city for s in merchants.list_stores(world.ctx) if s.city}
    data |= {m.name for m in merchants.list_merchants(world.ctx)} | {"Alice", "Bob"}
    for locale in ("zh-CN", "en-US"):
        tab = Till(browser, locale)
        lang = "zh" if locale == "zh-CN" else "en"
        try:
            _login(tab.page, base_url)
            for name, path in pages:
                tab.page.goto(f"{base_url}{path}", wait_until="load")
                _shot(tab.page, world, f"{name}-{lang}")
                assert tab.page.evaluate(CONTRAST) == [], (name, lang)
                if lang == "en" and name != "audit":  # the audit log shows stored values as they are
                    _assert_english(world, tab.page, extra=data)
            assert tab.outside == []
            assert tab.refused == []
        finally:
            tab.close()
