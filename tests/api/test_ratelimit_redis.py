"""Rate limits kept in a real Redis: shared by every worker, with Retry-After, and a safe fallback."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from loyalty.api.app import create_app
from loyalty.api.errors import ApiError
from loyalty.api.ratelimit import RateLimiter, RedisRateLimiter
from loyalty.bootstrap import Context
from loyalty.config import Settings
from loyalty.db.engine import make_engine
from loyalty.db.migrate import upgrade
from tests.conftest import require_redis


@pytest.fixture
def redis_url() -> str:
    return require_redis()


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    name = f"loyalty-test:{secrets.token_hex(4)}"
    yield name
    RedisRateLimiter(redis_url, prefix=name).reset()


def test_workers_share_one_window(redis_url: str, prefix: str) -> None:
    """Two processes' limiters (here two instances) count against the same window."""
    limits = {"login": (3, 30.0)}
    worker_a = RedisRateLimiter(redis_url, limits, prefix=prefix)
    worker_b = RedisRateLimiter(redis_url, limits, prefix=prefix)
    worker_a.hit("login", "10.0.0.1")
    worker_b.hit("login", "10.0.0.1")
    worker_a.hit("login", "10.0.0.1")
    with pytest.raises(ApiError) as info:
        worker_b.hit("login", "10.0.0.1")
    assert info.value.status == 429
    assert info.value.code == "RATE_LIMITED"
    assert 1 <= int(info.value.headers["Retry-After"]) <= 30
    worker_b.hit("login", "10.0.0.2")  # another client has its own window
    worker_a.hit("lookup", "10.0.0.1")  # and another surface too


def test_the_window_slides(redis_url: str, prefix: str) -> None:
    import time

    limiter = RedisRateLimiter(redis_url, {"login": (2, 0.4)}, prefix=prefix)
    limiter.hit("login", "c")
    limiter.hit("login", "c")
    with pytest.raises(ApiError):
        limiter.hit("login", "c")
    time.sleep(0.5)
    limiter.hit("login", "c")  # the first attempts left the window


def test_unreachable_redis_falls_back_to_in_process_limits() -> None:
    limiter = RedisRateLimiter("redis://127.0.0.1:1/0", {"login": (2, 60.0)})
    limiter.hit("login", "c")
    limiter.hit("login", "c")
    with pytest.raises(ApiError) as info:
        limiter.hit("login", "c")
    assert info.value.status == 429


def test_app_uses_redis_when_configured(redis_url: str, prefix: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rl.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    assert isinstance(create_app(Context.from_url(url)).state.limiter, RateLimiter)
    ctx = Context.from_url(url, settings=Settings(database_url=url, redis_url=redis_url))
    apps = [create_app(ctx, rate_limits={"login": (2, 60.0)}) for _ in range(2)]
    for app in apps:
        assert isinstance(app.state.limiter, RedisRateLimiter)
        app.state.limiter = RedisRateLimiter(redis_url, {"login": (2, 60.0)}, prefix=prefix)
    form = {"username": "nobody", "password": "wrong-wrong"}
    first, second = (TestClient(app, raise_server_exceptions=False) for app in apps)
    assert first.post("/api/v1/auth/token", data=form).status_code == 401
    assert second.post("/api/v1/auth/token", data=form).status_code == 401
    refused = first.post("/api/v1/auth/token", data=form)
    assert refused.status_code == 429, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert int(refused.headers["Retry-After"]) >= 1


@pytest.mark.parametrize("backend", ["redis", "in process"])
def test_check_refuses_a_full_window_without_counting(redis_url: str, prefix: str, backend: str) -> None:
    """`check` (before a write that may tell whether a phone exists) refuses once the window is full
    and counts nothing itself; on Redis it asks no network, so a worker learns of a window another
    filled at its own next count."""
    limits = {"lookup": (2, 30.0)}
    if backend == "redis":
        worker_a: Any = RedisRateLimiter(redis_url, limits, prefix=prefix)
        worker_b: Any = RedisRateLimiter(redis_url, limits, prefix=prefix)
    else:
        worker_a = worker_b = RateLimiter(limits)
    for _ in range(5):
        worker_a.check("lookup", "till-1")  # checking alone never fills it
    worker_a.hit("lookup", "till-1")
    worker_a.check("lookup", "till-1")
    worker_a.hit("lookup", "till-1")  # the window is now full
    with pytest.raises(ApiError) as info:
        worker_a.check("lookup", "till-1")
    assert info.value.status == 429
    assert 1 <= int(info.value.headers["Retry-After"]) <= 30
    worker_a.check("lookup", "till-2")  # another caller's window is empty
    if backend == "redis":
        worker_b.check("lookup", "till-1")  # not seen yet by this worker…
        with pytest.raises(ApiError):
            worker_b.hit("lookup", "till-1")
    with pytest.raises(ApiError):  # …and refused from then on
        worker_b.check("lookup", "till-1")
