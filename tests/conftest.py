"""Shared fixtures: a migrated database on SQLite and on PostgreSQL.

`db_url` is parametrised over both backends, so every test that uses it runs on both. PostgreSQL
tests create their own uniquely named database on 127.0.0.1:5432 and drop it afterwards. Without a
server they are skipped with a visible notice, except under CI=true, where a missing server fails.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import Engine, create_engine, text

if TYPE_CHECKING:
    from playwright.sync_api import Browser

# Tests assert English texts, while the product's default language is zh-CN: the suite runs with
# LOYALTY_LOCALE=en, set before any settings are read (and inherited by the CLI subprocesses that
# tests start). A test that checks the Chinese output asks for it with the `locale` fixture.
os.environ["LOYALTY_LOCALE"] = "en"
# The suite's receipts carry the dates they were written with (March 2026), while the API takes live
# sales dated at most LOYALTY_BACKDATE_DAYS (default 30) back: the suite widens the window, and the
# tests of the window (tests/api/test_input_errors.py) set the default back on their own context.
os.environ.setdefault("LOYALTY_BACKDATE_DAYS", "3650")

from loyalty.bootstrap import Context
from loyalty.db.engine import make_engine
from loyalty.db.migrate import upgrade

PG_ADMIN_URL = os.environ.get("LOYALTY_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
_PG_STATE: dict[str, object] = {}


def _pg_available() -> bool:
    if "ok" not in _PG_STATE:
        try:
            probe = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
            with probe.connect() as conn:
                conn.execute(text("select 1"))
            probe.dispose()
            _PG_STATE["ok"] = True
        except Exception as exc:  # any connection failure means "no server here"
            _PG_STATE["ok"] = False
            _PG_STATE["why"] = str(exc).splitlines()[0]
    return bool(_PG_STATE["ok"])


def require_postgres() -> None:
    """Skip (newcomer) or fail (CI) when PostgreSQL is not reachable."""
    if _pg_available():
        return
    why = f"PostgreSQL not reachable at {PG_ADMIN_URL}: {_PG_STATE.get('why')}"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"CI=true but {why}", pytrace=False)
    pytest.skip(f"NOTICE: {why} — PostgreSQL tests skipped")


REDIS_URL = os.environ.get("LOYALTY_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def require_redis() -> str:
    """The test Redis URL; skip (newcomer) or fail (CI) when no Redis server answers there."""
    import redis

    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        client.ping()
        client.close()
    except (redis.RedisError, OSError) as exc:
        why = f"Redis not reachable at {REDIS_URL}: {str(exc).splitlines()[0]}"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"CI=true but {why}", pytrace=False)
        pytest.skip(f"NOTICE: {why} — Redis tests skipped")
    return REDIS_URL


CHROMIUM = os.environ.get("LOYALTY_TEST_CHROMIUM", "/usr/bin/chromium")


def require_chromium() -> str:
    """The system's Chromium for browser tests; skip (newcomer) or fail (CI) when it is not installed.

    Playwright drives the operating system's Chromium (`apt-get install chromium`; `.ci/run` installs
    it): Playwright's own browser download needs a host this project cannot rely on.
    """
    if os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    why = f"Chromium not found at {CHROMIUM} (install it with `apt-get install chromium`)"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"CI=true but {why}", pytrace=False)
    pytest.skip(f"NOTICE: {why} — browser tests skipped")


@pytest.fixture(scope="session")
def chromium_cdp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A headless Chromium launched once for the session; its DevTools address (`http://127.0.0.1:PORT`).

    Tests reach it through the `browser` fixture. The browser runs as its own process, not under a
    session-long Playwright: Playwright's sync API leaves its asyncio loop marked as running in the
    main thread while it is open, and every later test calling `asyncio.run` would then fail.
    """
    executable = require_chromium()
    profile = tmp_path_factory.mktemp("chromium-profile")
    args = [
        executable,
        "--headless",
        "--no-sandbox",
        "--disable-background-networking",
        "--no-first-run",
        "--no-default-browser-check",
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
        f"--user-data-dir={profile}",
        "about:blank",
    ]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    active = profile / "DevToolsActivePort"  # Chromium writes its port here once it listens
    deadline = time.monotonic() + 30
    try:
        while not (active.exists() and active.read_text().strip()):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"Chromium at {executable} did not start (exit status {proc.poll()})")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{active.read_text().split()[0]}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def browser(chromium_cdp: str) -> Iterator[Browser]:
    """The session's Chromium, through Playwright for this test (give each page its own context)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        connected = playwright.chromium.connect_over_cdp(chromium_cdp)
        yield connected
        connected.close()  # disconnects; the browser stays up for the next test


def create_pg_database(prefix: str = "loyalty_test") -> str:
    """Create a fresh PostgreSQL database and return its URL."""
    require_postgres()
    name = f"{prefix}_{secrets.token_hex(6)}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


@contextmanager
def pg_context() -> Iterator[Context]:
    """A context on a fresh, migrated PostgreSQL database, dropped afterwards (tests that race many
    connections on a database of their own)."""
    url = create_pg_database()
    try:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        ctx = Context.from_url(url)
        try:
            yield ctx
        finally:
            ctx.engine.dispose()
    finally:
        drop_pg_database(url)


def drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def end_pg_backends(url: str) -> int:
    """What a server restart does to a database's clients: every backend serving it is ended."""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            ended = conn.execute(
                text(
                    "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :db AND pid <> pg_backend_pid()) AS t"
                ),
                {"db": url.rsplit("/", 1)[1]},
            ).scalar_one()
    finally:
        admin.dispose()
    return int(ended)


#: The longest test files (a minute or more of one worker each), in the order they are started: xdist
#: (`--dist loadfile`) hands files out in collection order, and a run that ends on one long file keeps
#: one worker busy while the others have nothing left. Every other file keeps its place after them.
LONGEST_FIRST = (
    "tests/test_readme.py",
    "tests/web/test_accessibility.py",
    "tests/api/test_schemathesis.py",
    "tests/api/test_hostile_inputs.py",
    "tests/programme/test_paths_hypothesis.py",
    "tests/web/test_console_admin_browser.py",
    "tests/imports/test_crash_resume.py",
    "tests/core/test_purchases_cli.py",
    "tests/analytics/test_spark.py",
    "tests/imports/test_demo.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))  # stable


def pytest_report_header(config: pytest.Config) -> str:
    if _pg_available():
        return f"PostgreSQL: {PG_ADMIN_URL}"
    return (
        f"NOTICE: PostgreSQL unavailable ({_PG_STATE.get('why')}): its tests will be skipped (fail under CI)"
    )


@pytest.fixture
def locale(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """`locale("zh-CN")` switches LOYALTY_LOCALE for the rest of the test (settings re-read, undone after)."""
    from loyalty.config import get_settings

    def switch(value: str) -> None:
        monkeypatch.setenv("LOYALTY_LOCALE", value)
        get_settings.cache_clear()

    yield switch
    get_settings.cache_clear()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of an empty, migrated database on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'loyalty.db'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
        return
    url = create_pg_database()
    try:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
    finally:
        drop_pg_database(url)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A migrated engine on each backend."""
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A migrated PostgreSQL database only (concurrency tests)."""
    url = create_pg_database()
    try:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
    finally:
        drop_pg_database(url)
