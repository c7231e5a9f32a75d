"""The cashier's journey in real headless Chromium, with the keyboard alone, on SQLite and PostgreSQL.

A real server (uvicorn on a free port) serves the console; the browser logs in, registers a member,
posts a sale and a return and watches the points change, then switches to English. Nothing may be
loaded from another host, the Content-Security-Policy must refuse nothing (htmx runs from its
attributes, no inline script or style), text must keep a readable contrast, and a screenshot of
each page is saved under var/test-artifacts/console/ for people to look at.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

from loyalty.services import merchants
from loyalty.services import tiers as tiers_service
from tests.api.api_world import PASSWORD, World
from tests.api.live_server import serve
from tests.web import screenshots
from tests.web.conftest import world_on_one

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CJK = re.compile(r"[\u3400-\u9fff]")

# WCAG 2 contrast of every element's own text against the first opaque background behind it.
CONTRAST = """() => {
  const lum = (c) => {
    const [r, g, b] = c.map((v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const rgba = (s) => (s.match(/[\\d.]+/g) || []).map(Number);
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.9)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const poor = [];
  for (const el of document.querySelectorAll('body *')) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    const style = getComputedStyle(el);
    const shown = style.visibility !== 'hidden' && (el.offsetParent !== null || style.position === 'fixed');
    if (!own || !shown) continue;
    if (el.closest('.sr-only, .skip')) continue;
    const fg = lum(rgba(style.color).slice(0, 3)), bg = lum(background(el));
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.6 && +style.fontWeight >= 700);
    const what = `${el.tagName} "${el.textContent.trim().slice(0, 30)}" ${ratio.toFixed(2)}`;
    if (ratio < (large ? 3 : 4.5)) poor.push(what);
  }
  return poor;
}"""

world = world_on_one("postgresql")


@pytest.fixture(scope="module")
def base_url(world: World) -> Iterator[str]:
    with serve(world.app) as base:
        yield base


class Till:
    """A browser tab at the till: requests to other hosts aborted and recorded, CSP reports kept."""

    def __init__(self, browser: Browser, locale: str) -> None:
        self.outside: list[str] = []
        self.refused: list[str] = []
        self.context = browser.new_context(locale=locale, viewport={"width": 1024, "height": 768})
        self.context.route("**/*", self._route)
        self.page: Page = self.context.new_page()
        self.page.on("console", self._console)

    def _route(self, route: Any) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            self.outside.append(route.request.url)
            route.abort()

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text or "Refused to" in message.text:
            self.refused.append(message.text)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def till(browser: Browser) -> Iterator[Till]:
    tab = Till(browser, "zh-CN")
    yield tab
    tab.close()


def _shot(page: Page, backend: str, name: str) -> None:
    screenshots.save(page, "console", f"{backend}-{name}")


def _backend(world: World) -> str:
    return world.ctx.engine.dialect.name


def _focused(page: Page, element_id: str) -> None:
    """Wait (a few seconds at most) until the page's autofocus has put the caret in `element_id`.

    Autofocus runs after the element is attached, so on a busy machine an immediate read can see
    nothing focused yet; a page that never focuses the field still fails here.
    """
    page.wait_for_function(
        "id => document.activeElement !== null && document.activeElement.id === id",
        arg=element_id,
        timeout=5_000,
    )


def _figure(page: Page, which: str) -> int:
    return int(page.locator(f"#points-{which}").inner_text().replace(",", ""))


def test_a_cashier_registers_sells_and_takes_a_return_with_the_keyboard(
    world: World, base_url: str, till: Till
) -> None:
    page, backend = till.page, _backend(world)
    keyboard = page.keyboard
    page.goto(f"{base_url}/console", wait_until="load")  # no session: the login page
    page.locator("#username").wait_for()
    _focused(page, "username")
    assert "员工登录" in page.inner_text("h1")
    _shot(page, backend, "login-zh")
    keyboard.type("cashier1")
    keyboard.press("Tab")
    keyboard.type(PASSWORD)
    keyboard.press("Enter")

    page.locator("#q").wait_for()  # the find page, its field focused
    _focused(page, "q")
    phone = "13912345678"
    keyboard.type(phone)
    keyboard.press("Enter")
    page.get_by_text("没有找到符合输入的会员。").wait_for()  # not a member yet: register right here
    _shot(page, backend, "find-zh")
    _focused(page, "reg-name")
    keyboard.type("王小明")
    keyboard.press("Enter")

    page.locator("#member-name").wait_for()
    assert "会员已注册" in page.inner_text(".flash")
    assert phone not in page.url
    assert "王" not in page.url
    assert _figure(page, "pending") == 0
    assert "再消费" in page.inner_text("#tier-progress")
    _focused(page, "sku_0")
    order = page.input_value("#sale-order")
    keyboard.type("TEE-01")
    keyboard.press("Tab")
    keyboard.type("2")
    keyboard.press("Tab")
    keyboard.type("59.90")
    keyboard.press("Enter")

    page.get_by_text(f"销售 {order} 已入账").wait_for()
    assert _figure(page, "pending") == 119
    _shot(page, backend, "member-after-sale-zh")

    page.locator("#return-order").focus()  # the till's jump to the return form
    keyboard.type(order)
    keyboard.press("Enter")
    page.get_by_text("退货已入账").wait_for()
    assert _figure(page, "pending") == 0
    statement = page.inner_text("#statement-title + table")
    assert "获得" in statement
    assert "退货扣回" in statement

    page.locator(".lang button").focus()
    keyboard.press("Enter")
    page.get_by_text("Points available").wait_for()
    _shot(page, backend, "member-en")
    _assert_english(world, page, extra={"王小明"})
    assert till.outside == []
    assert till.refused == []
    assert page.evaluate(CONTRAST) == []


def _assert_english(world: World, page: Page, extra: set[str]) -> None:
    """No Chinese left on the page but data (tier, store and member names) and the switch back to 中文,
    which names its language in that language."""
    data = {t.name for t in tiers_service.list_tiers(world.ctx)}
    data |= {s.name for s in merchants.list_stores(world.ctx)} | extra | {"中文"}
    text = page.inner_text("body")
    for word in sorted(data, key=len, reverse=True):
        text = text.replace(word, "")
    assert not CJK.search(text), CJK.findall(text)


def test_every_page_reads_in_both_languages_with_nothing_refused(
    world: World, base_url: str, browser: Browser
) -> None:
    """Screenshots of each page in Chinese and in English (the switch on each page), contrast checked."""
    backend = _backend(world)
    for locale in ("zh-CN", "en-US"):
        tab = Till(browser, locale)
        try:
            page = tab.page
            page.goto(f"{base_url}/console/login", wait_until="load")
            page.fill("#username", "admin1")
            page.fill("#password", PASSWORD)
            page.keyboard.press("Enter")
            page.locator("#q").wait_for()
            lang = "zh" if locale == "zh-CN" else "en"
            for name, path in (
                ("find", "/console"),
                ("register", "/console/members/new"),
                ("member", f"/console/members/{world.member_a['id']}"),
                ("staff", "/console/admin/staff"),
            ):
                page.goto(f"{base_url}{path}", wait_until="load")
                _shot(page, backend, f"{name}-{lang}")
                assert page.evaluate(CONTRAST) == [], (name, lang)
                if lang == "en":
                    _assert_english(world, page, extra={"Alice", "Bob"})
            assert tab.outside == []
            assert tab.refused == []
        finally:
            tab.close()
