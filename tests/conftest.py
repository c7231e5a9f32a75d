"""Shared fixtures: a migrated database on SQLite and on PostgreSQL.

`db_url` is parametrised over both backends, so every test that uses it runs on both. Each test gets
an empty, migrated database of its own: on SQLite a copy of a file migrated once per worker; on
PostgreSQL (127.0.0.1:5432) a uniquely named database from the worker's pool, emptied between tests
(`_PgPool`) and dropped at the end. Without a server they are skipped with a visible notice, except
under CI=true, where a missing server fails.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

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

from argon2 import PasswordHasher

from loyalty.bootstrap import Context
from loyalty.db.engine import make_engine
from loyalty.db.migrate import upgrade
from loyalty.services import auth

# Staff passwords are argon2id with the product's cost (64 MiB, three passes: about 0.15 s a hash or a
# check here), and the suite signs staff in thousands of times. Inside the test processes the hasher
# keeps argon2id at its least cost; every hash carries its parameters, so a hash either cost writes
# verifies under the other (the CLI and the servers that tests start as subprocesses keep the
# product's), and `test_security_units` checks the product's own hasher.
PRODUCT_HASHER = auth._hasher
auth._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)

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
    """A context on an empty, migrated PostgreSQL database of its own (tests that race many
    connections on it)."""
    with migrated_pg_url() as url:
        ctx = Context.from_url(url)
        try:
            yield ctx
        finally:
            ctx.engine.dispose()


class _PgPool:
    """This worker's migrated PostgreSQL databases, emptied for the next test instead of re-made.

    Creating and migrating a database costs the server about a second (the migrations' DDL); emptying
    one costs milliseconds. A database goes back to the pool only when its schema is still the
    migrated one (a fingerprint of its relations, columns, triggers and Alembic version) and no
    background job of this process may still write to it; otherwise it is dropped. Emptying deletes
    every row with foreign keys off (`session_replication_role`, a superuser's setting: a server
    where the test role is not one drops and re-creates as before) and restarts the sequences.
    """

    _FINGERPRINT = """
        SELECT md5(coalesce(string_agg(x, ',' ORDER BY x), '')) FROM (
            SELECT c.relname || '.' || c.relkind::text || '.' || coalesce(a.attname, '') || ':'
                   || coalesce(format_type(a.atttypid, a.atttypmod), '') || ':'
                   || coalesce(a.attnotnull::text, '') AS x
            FROM pg_class c LEFT JOIN pg_attribute a
              ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
            WHERE c.relnamespace = 'public'::regnamespace
            UNION ALL SELECT 'trigger ' || tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
            WHERE c.relnamespace = 'public'::regnamespace
            UNION ALL SELECT 'function ' || proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace
            UNION ALL SELECT 'version ' || version_num FROM alembic_version
        ) AS parts
    """

    def __init__(self) -> None:
        self.free: list[str] = []
        self.fingerprint: str | None = None
        self.empty_sql: str | None = None

    def take(self) -> str:
        if self.free:
            return self.free.pop()
        url = create_pg_database()
        try:
            engine = make_engine(url)
            try:
                upgrade(engine)
            finally:
                engine.dispose()
        except BaseException:
            drop_pg_database(url)
            raise
        if self.fingerprint is None:
            self._learn(url)
        return url

    def _learn(self, url: str) -> None:
        """The migrated schema's fingerprint and the statement that empties a database of it."""
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                self.fingerprint = conn.execute(text(self._FINGERPRINT)).scalar_one()
                tables = conn.execute(
                    text(
                        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                        "AND tablename <> 'alembic_version' ORDER BY tablename"
                    )
                ).scalars()
                sequences = conn.execute(
                    text(
                        "SELECT sequencename, start_value FROM pg_sequences "
                        "WHERE schemaname = 'public' ORDER BY sequencename"
                    )
                ).all()
        finally:
            engine.dispose()
        self.empty_sql = (
            "SET LOCAL session_replication_role = replica;"
            + "".join(f'DELETE FROM "{table}";' for table in tables)
            + "".join(f"SELECT setval('\"{name}\"', {start}, false);" for name, start in sequences)
        )

    def give_back(self, url: str) -> None:
        if any(t.name.startswith("loyalty-job-") and t.is_alive() for t in threading.enumerate()):
            drop_pg_database(url)  # a job still running could write into the next test's rows
            return
        try:
            end_pg_backends(url)
            engine = create_engine(url, poolclass=NullPool)
            try:
                with engine.begin() as conn:
                    if conn.execute(text(self._FINGERPRINT)).scalar_one() != self.fingerprint:
                        raise LookupError("the test changed the schema")
                    conn.exec_driver_sql(str(self.empty_sql))
            finally:
                engine.dispose()
        except Exception:  # a changed schema, or a role that may not empty it so: not reused
            drop_pg_database(url)
            return
        self.free.append(url)

    def close(self) -> None:
        while self.free:
            drop_pg_database(self.free.pop())


_PG_POOL = _PgPool()


@contextmanager
def migrated_pg_url() -> Iterator[str]:
    """The URL of an empty, migrated PostgreSQL database for the caller alone until it exits."""
    require_postgres()
    url = _PG_POOL.take()
    try:
        yield url
    finally:
        _PG_POOL.give_back(url)


def pytest_sessionfinish(session: pytest.Session) -> None:
    _PG_POOL.close()


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


_SQLITE_TEMPLATE: list[Path] = []


def _migrated_sqlite_file(factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per worker, copied for each test (migrating costs a tenth of a
    second, copying nothing to speak of)."""
    if not _SQLITE_TEMPLATE:
        path = factory.mktemp("migrated") / "loyalty.db"
        engine = make_engine(f"sqlite:///{path}")
        upgrade(engine)
        engine.dispose()
        _SQLITE_TEMPLATE.append(path)
    return _SQLITE_TEMPLATE[0]


@contextmanager
def migrated_url(backend: str, factory: pytest.TempPathFactory, name: str) -> Iterator[str]:
    """The URL of an empty, migrated database on `backend` for the caller alone: on SQLite a copy of the
    worker's migrated file in a new folder `name`, on PostgreSQL a database from the worker's pool."""
    if backend != "sqlite":
        with migrated_pg_url() as url:
            yield url
        return
    path = factory.mktemp(name) / "loyalty.db"
    shutil.copyfile(_migrated_sqlite_file(factory), path)
    yield f"sqlite:///{path}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of an empty, migrated database on each backend."""
    with migrated_url(request.param, tmp_path_factory, "db") as url:
        yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A migrated engine on each backend."""
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A migrated PostgreSQL database only (concurrency tests)."""
    with migrated_pg_url() as url:
        yield url
