"""The interactive docs work offline: Swagger UI (/docs) and ReDoc (/redoc) load nothing from the network.

The browser tests run a real server (uvicorn on a free port, a temporary SQLite database) and open the
pages in headless Chromium, with every request to a host other than 127.0.0.1 blocked and recorded:
the operation list must render and nothing may have been asked of anyone else.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from loyalty.api.app import context_from_url, create_app
from loyalty.bootstrap import Context
from loyalty.db.engine import make_engine
from loyalty.db.migrate import upgrade
from tests.api.live_server import serve

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Route

LOCAL_HOSTS = {"127.0.0.1"}


def _context(directory: Path) -> Context:
    """The API's context on a migrated SQLite database in `directory`."""
    url = f"sqlite:///{directory / 'loyalty.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return context_from_url(url)


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real API server on a free port of 127.0.0.1, for this module's tests."""
    ctx = _context(tmp_path_factory.mktemp("docs"))
    try:
        with serve(create_app(ctx)) as base:
            yield base
    finally:
        ctx.engine.dispose()


class Offline:
    """A page whose requests to any host but 127.0.0.1 are aborted, and recorded in `outside`.

    Every request the browser would send over the network passes the route handler; one that the
    page's content security policy refuses never gets that far (nothing leaves the machine).
    """

    def __init__(self, browser: Browser) -> None:
        self.outside: list[str] = []
        self.context = browser.new_context()
        self.context.route("**/*", self._route)
        self.page: Page = self.context.new_page()

    def _local(self, url: str) -> bool:
        parts = urlsplit(url)
        return parts.scheme in {"data", "blob", "about"} or parts.hostname in LOCAL_HOSTS

    def _route(self, route: Route) -> None:
        if self._local(route.request.url):
            route.continue_()
        else:
            if route.request.url not in self.outside:
                self.outside.append(route.request.url)
            route.abort()

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def offline(browser: Browser) -> Iterator[Offline]:
    page = Offline(browser)
    yield page
    page.close()


def test_swagger_ui_lists_the_operations_with_nothing_from_outside(base_url: str, offline: Offline) -> None:
    page = offline.page
    page.goto(f"{base_url}/docs", wait_until="load")
    path = page.locator(".opblock-summary-path[data-path='/api/v1/purchases']")
    summary = page.locator(".opblock-post .opblock-summary-control").filter(has=path).first
    summary.wait_for(state="visible", timeout=20_000)
    assert summary.locator(".opblock-summary-method").inner_text().strip() == "POST"
    assert page.locator(".opblock").count() > 20  # the whole API, not one stray block
    page.wait_for_load_state("networkidle")
    assert offline.outside == []


def test_redoc_renders_the_operations_with_nothing_from_outside(base_url: str, offline: Offline) -> None:
    page = offline.page
    page.goto(f"{base_url}/redoc", wait_until="load")
    page.get_by_text(re.compile(r"^/api/v1/purchases$")).first.wait_for(state="attached", timeout=20_000)
    assert page.locator("h2").count() > 20  # one heading per operation
    page.wait_for_load_state("networkidle")
    assert offline.outside == []


def test_asyncio_still_runs_after_the_browser_tests() -> None:
    """The browser fixture leaves no event loop marked running: later tests use `asyncio.run`."""

    async def answer() -> int:
        return 42

    assert asyncio.run(answer()) == 42


def test_docs_pages_reference_only_their_own_assets(tmp_path: Path) -> None:
    """Without a browser: the pages name no other host, and every asset they name is served."""
    ctx = _context(tmp_path)
    try:
        with TestClient(create_app(ctx)) as client:
            for page in ("/docs", "/redoc", "/docs/oauth2-redirect"):
                html = client.get(page)
                assert html.status_code == 200, page
                assert not re.search(r"""(src|href)=["']?(https?:)?//""", html.text), page
                for asset in re.findall(r"""(?:src|href)=["']([^"']+)["']""", html.text):
                    assert client.get(asset).status_code == 200, asset
            assert "validatorUrl" in client.get("/docs").text
    finally:
        ctx.engine.dispose()


def test_docs_are_not_in_the_schema(base_url: str) -> None:
    paths = httpx.get(f"{base_url}/openapi.json", timeout=30).json()["paths"]
    assert not [p for p in paths if p.startswith(("/docs", "/redoc"))]
