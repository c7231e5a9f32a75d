"""The analyst's journey in real headless Chromium, on SQLite and PostgreSQL: log in, find that
analytics never ran, start a refresh and watch it finish (the page polls the job's progress), see the
RFM groups and the charts drawn, download the RFM table as CSV and xlsx and check the files say what
the page says, then switch to English. Nothing may come from another host, the Content-Security-
Policy must refuse nothing (the charts are drawn by a static script from data attributes), and
screenshots in both languages go to var/test-artifacts/console/.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from openpyxl import load_workbook

from loyalty.analytics.segments import BINARY_SEGMENTS
from loyalty.services import jobs
from tests.api.analytics_data import buying_members
from tests.api.api_world import PASSWORD, World
from tests.api.live_server import serve
from tests.web.conftest import world_on_one
from tests.web.test_console_browser import CJK, CONTRAST, Till, _shot

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

world = world_on_one("sqlite")


@pytest.fixture(scope="module")
def base_url(world: World) -> Iterator[str]:
    buying_members(world.ctx, world.store_a, count=40, prefix="BR")
    with serve(world.app) as base:
        yield base


def _login(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/console/login", wait_until="load")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/console(?!/login)"))


def _group_counts(page: Page) -> dict[str, int]:
    """The groups' table as the page shows it: RFM code → members."""
    counts = {}
    for row in page.locator("#groups tbody tr").all():
        code = row.get_attribute("data-rfm")
        assert code is not None
        counts[code] = int(row.locator("td.num").first.inner_text().replace(",", ""))
    return counts


def test_an_analyst_refreshes_and_downloads_the_rfm_table(
    world: World, base_url: str, browser: Browser, tmp_path_factory: pytest.TempPathFactory
) -> None:
    backend = world.ctx.engine.dialect.name
    tab = Till(browser, "zh-CN")
    try:
        page = tab.page
        _login(page, base_url, "analyst1")
        page.get_by_role("link", name="会员分析").click()
        page.locator("#never-ran").wait_for()
        _shot(page, backend, "analytics-empty-zh")

        page.locator("#refresh").click()  # the job starts; the page follows its progress every second
        page.locator(".job-progress").wait_for()
        page.get_by_role("link", name="查看最新数据").wait_for(timeout=120_000)
        assert "已为 40 位会员评分" in page.inner_text(".job-progress")
        _shot(page, backend, "analytics-refreshed-zh")
        page.get_by_role("link", name="查看最新数据").click()
        page.locator("#groups").wait_for()
        page.wait_for_function("document.querySelectorAll('canvas[data-drawn=\"1\"]').length === 4")
        shown = _group_counts(page)
        assert list(shown) == list(BINARY_SEGMENTS)
        assert sum(shown.values()) == 40
        assert "重要价值客户" in page.inner_text("#groups")
        _shot(page, backend, "analytics-zh")
        assert page.evaluate(CONTRAST) == []

        folder = tmp_path_factory.mktemp("downloads")
        rfm = page.locator("form.downloads:has(input[name='table'][value='segments'])")
        with page.expect_download() as got:
            rfm.locator("button[value='csv']").click()
        saved = folder / got.value.suggested_filename
        got.value.save_as(saved)
        assert re.fullmatch(r"rfm-groups-\d{4}-\d{2}-\d{2}\.csv", saved.name)
        rows = list(csv.DictReader(io.StringIO(saved.read_bytes().decode("utf-8-sig"))))
        assert {r["rfm_code"]: int(r["members"]) for r in rows} == shown
        assert [r["segment_zh"] for r in rows] == [s.zh for s in BINARY_SEGMENTS.values()]
        with page.expect_download() as got_xlsx:
            rfm.locator("button[value='xlsx']").click()
        book = folder / got_xlsx.value.suggested_filename
        got_xlsx.value.save_as(book)
        workbook = load_workbook(book, read_only=True)
        try:
            sheet = workbook.active
            assert sheet is not None
            cells = [list(r) for r in sheet.iter_rows(values_only=True)]
        finally:
            workbook.close()
        header = cells[0]
        assert {r[header.index("rfm_code")]: int(r[header.index("members")]) for r in cells[1:]} == shown

        page.locator(".lang button").click()  # to English
        page.get_by_text("Groups: size, value and recommended action").wait_for()
        page.wait_for_function("document.querySelectorAll('canvas[data-drawn=\"1\"]').length === 4")
        _shot(page, backend, "analytics-en")
        text = page.inner_text("body").replace("中文", "")
        assert not CJK.search(text), CJK.findall(text)
        assert _group_counts(page) == shown
        assert page.evaluate(CONTRAST) == []
        assert tab.outside == []
        assert tab.refused == []
    finally:
        tab.close()


def test_an_admin_starts_a_job_and_follows_it_on_the_jobs_page(
    world: World, base_url: str, browser: Browser
) -> None:
    backend = world.ctx.engine.dialect.name
    assert jobs.wait_all(120)
    for locale, lang in (("zh-CN", "zh"), ("en-US", "en")):
        tab = Till(browser, locale)
        try:
            page = tab.page
            _login(page, base_url, "admin1")
            page.goto(f"{base_url}/console/admin/jobs", wait_until="load")
            page.select_option("#job-kind", "tier_evaluation")
            page.locator("form.start-job button").click()
            page.locator(".flash").wait_for()
            newest = page.locator("table.jobs tbody tr").first  # the job just started, polled till done
            newest.locator(".job-done").wait_for(timeout=60_000)
            _shot(page, backend, f"jobs-{lang}")
            if lang == "en":
                assert "members evaluated" in newest.inner_text()
                text = page.inner_text("body").replace("中文", "")
                assert not CJK.search(text), CJK.findall(text)
            else:
                assert "评定" in newest.inner_text()
            assert page.evaluate(CONTRAST) == []
            assert tab.outside == []
            assert tab.refused == []
        finally:
            tab.close()
        assert jobs.wait_all(60)
