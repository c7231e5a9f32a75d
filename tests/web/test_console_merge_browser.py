"""The member 360° page's merge and erasure in real headless Chromium, with the keyboard, on SQLite and
PostgreSQL: a store manager finds a duplicate from the member's page, compares the two side by side,
confirms, lands on the survivor, and the duplicate's page points there; an administrator erases a
member by typing the card number. The pages load nothing from elsewhere, the CSP refuses nothing,
contrast holds, the comparison reads in English too, and each page is saved as a screenshot under
var/test-artifacts/console/."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from loyalty.services import members as members_service
from loyalty.services import points
from loyalty.services.schemas import MemberIn
from tests.api.api_world import PASSWORD, World
from tests.api.live_server import serve
from tests.web.conftest import world_on_one
from tests.web.test_console_browser import CONTRAST, Till, _assert_english, _backend, _focused, _shot

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

_serial = itertools.count(1)

world = world_on_one("sqlite")


@pytest.fixture(scope="module")
def base_url(world: World) -> Iterator[str]:
    with serve(world.app) as base:
        yield base


@pytest.fixture
def till(browser: Browser) -> Iterator[Till]:
    tab = Till(browser, "zh-CN")
    yield tab
    tab.close()


def _member(world: World, name: str) -> Any:
    phone = f"+861340000{next(_serial):04d}"
    return members_service.register_member(
        world.ctx, MemberIn(phone=phone, name=name, registration_store_id=world.store_a)
    )


def _log_in(page: Page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/console", wait_until="load")
    _focused(page, "username")
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.locator("#q").wait_for()
    _focused(page, "q")


def _open(page: Page, phone: str) -> None:
    """Find the member at the till's search field, as a cashier would."""
    page.locator("#q").focus()
    page.keyboard.type(phone)
    page.keyboard.press("Enter")
    page.locator("#member-name").wait_for()
    _focused(page, "sku_0")  # the page's own focus first: a jump elsewhere must come after it


def _clean(till: Till) -> None:
    assert till.outside == []
    assert till.refused == []
    assert till.page.evaluate(CONTRAST) == []


def test_a_manager_merges_a_duplicate_with_the_keyboard(world: World, base_url: str, till: Till) -> None:
    page, backend, keyboard = till.page, _backend(world), till.page.keyboard
    keep = _member(world, "赵六")
    dup = _member(world, "赵六（旧卡）")
    points.adjust(world.ctx, keep.id, 120, reason="开卡礼", operator="test")
    points.adjust(world.ctx, dup.id, 30, reason="开卡礼", operator="test")
    _log_in(page, base_url, "store_manager1")
    _open(page, keep.phone)
    assert keep.phone not in page.url

    page.locator("#merge-q").focus()  # the page's jump to the merge field
    keyboard.type(dup.phone)
    keyboard.press("Enter")
    page.locator("#merge-confirm").wait_for()
    _focused(page, f"keep-{keep.id}")  # the member of the page stays unless chosen otherwise
    assert dup.card_no in page.inner_text("table.compare")
    assert keep.card_no in page.inner_text("table.compare")
    assert dup.phone not in page.url
    _shot(page, backend, "merge-compare-zh")
    _clean(till)
    keyboard.press("Tab")  # the radio group is one stop: next is the confirmation
    _focused(page, "merge-confirm")
    keyboard.press("Enter")

    page.get_by_text(f"会员 {dup.card_no} 已合并到此会员。").wait_for()
    assert page.url.endswith(f"/console/members/{keep.id}")
    assert page.inner_text("#points-available").replace(",", "") == "150"
    _shot(page, backend, "merge-survivor-zh")
    _clean(till)

    page.goto(f"{base_url}/console/members/{dup.id}", wait_until="load")
    notice = page.locator("#merged-into a")
    notice.focus()
    _shot(page, backend, "merge-duplicate-zh")
    _clean(till)
    keyboard.press("Enter")
    page.wait_for_url(f"**/console/members/{keep.id}")
    _focused(page, "sku_0")
    assert members_service.get_member(world.ctx, dup.id).merged_into_id == keep.id

    # the comparison in English: every word but the data switches
    other = _member(world, "Zhao Liu")
    page.locator(".lang button").focus()
    keyboard.press("Enter")
    page.get_by_text("Merge a duplicate").first.wait_for()
    _focused(page, "sku_0")
    page.locator("#merge-q").focus()
    keyboard.type(other.member_code)
    keyboard.press("Enter")
    page.locator("#merge-confirm").wait_for()
    assert "Which member stays?" in page.inner_text("legend")
    _shot(page, backend, "merge-compare-en")
    _assert_english(world, page, extra={"赵六", "Zhao Liu"})
    _clean(till)


def test_an_administrator_erases_a_member_by_typing_the_card_number(
    world: World, base_url: str, till: Till
) -> None:
    page, backend, keyboard = till.page, _backend(world), till.page.keyboard
    member = _member(world, "钱七")
    _log_in(page, base_url, "admin1")
    _open(page, member.phone)
    page.locator("#erase-confirm").focus()
    keyboard.type("1234")  # not the card number: refused beside the field, nothing erased
    keyboard.press("Enter")
    page.locator("#erase-confirm-error").wait_for()
    _focused(page, "erase-confirm")
    assert members_service.get_member(world.ctx, member.id).erased_at is None
    _shot(page, backend, "erase-refused-zh")
    _clean(till)
    keyboard.type(member.card_no)
    keyboard.press("Enter")
    page.get_by_text("个人信息已删除。").first.wait_for()
    assert "钱七" not in page.inner_text("main")
    assert member.phone not in page.inner_text("main")
    _shot(page, backend, "erased-member-zh")
    _clean(till)
    assert members_service.get_member(world.ctx, member.id).erased_at is not None
