"""App factory, health, problem+json and rate limiting: the parts that need no business data."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from loyalty.api.app import context_from_url, create_app
from loyalty.api.errors import ApiError, problem_type
from loyalty.api.ratelimit import RateLimiter


async def _get(app: object, path: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:  # type: ignore[arg-type]
        return await c.get(path)


def test_health_reports_database(db_url: str) -> None:
    import anyio

    app = create_app(context_from_url(db_url))
    resp = anyio.run(_get, app, "/api/v1/health")
    assert resp.status_code == 200
    assert resp.json()["database"] == "ok"


def test_unknown_route_is_problem_json(db_url: str) -> None:
    import anyio

    app = create_app(context_from_url(db_url))
    resp = anyio.run(_get, app, "/api/v1/nope")
    assert resp.status_code == 404
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert body["type"] == problem_type("NOT_FOUND")
    assert body["status"] == 404


def test_openapi_is_published(db_url: str) -> None:
    import anyio

    app = create_app(context_from_url(db_url))
    resp = anyio.run(_get, app, "/openapi.json")
    assert resp.status_code == 200
    assert resp.json()["openapi"].startswith("3.1")


def test_rate_limiter_refuses_with_retry_after() -> None:
    now = [0.0]
    limiter = RateLimiter({"login": (2, 10.0)}, clock=lambda: now[0])
    limiter.hit("login", "1.2.3.4")
    limiter.hit("login", "1.2.3.4")
    limiter.hit("login", "5.6.7.8")  # another client has its own window
    with pytest.raises(ApiError) as info:
        limiter.hit("login", "1.2.3.4")
    assert info.value.status == 429
    assert info.value.headers["Retry-After"] == "10"
    now[0] = 10.5
    limiter.hit("login", "1.2.3.4")  # the window slid past the first attempts


def test_root_sends_visitors_to_the_docs(db_url: str) -> None:
    import anyio

    app = create_app(context_from_url(db_url))
    resp = anyio.run(_get, app, "/")
    assert resp.status_code == 307
    assert resp.headers["location"] == "/docs"


def test_thread_pool_sized_for_the_database(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite gets a few threads (one writer), PostgreSQL its connection pool's worth; env overrides."""
    import anyio.to_thread
    from fastapi.testclient import TestClient

    from loyalty.api.app import api_threads

    monkeypatch.delenv("LOYALTY_API_THREADS", raising=False)
    assert api_threads("sqlite") == 4
    assert api_threads("postgresql") == 6
    app = create_app(context_from_url(db_url))
    with TestClient(app) as client:
        assert client.portal is not None
        tokens = client.portal.call(lambda: anyio.to_thread.current_default_thread_limiter().total_tokens)
    assert tokens == api_threads(app.state.ctx.engine.dialect.name)
    monkeypatch.setenv("LOYALTY_API_THREADS", "9")
    assert api_threads("sqlite") == 9


def test_busy_database_is_a_503_with_retry_after(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A till meeting a long write (an import in another process) gets 503 + Retry-After, not a 500."""
    import loyalty.db.engine as engine_module
    from loyalty.db.engine import make_engine
    from tests.api.api_world import build_world, purchase_body

    world = build_world(f"sqlite:///{tmp_path / 'busy.db'}")
    other = make_engine(world.url)  # another writer: its own gate, the same lock file
    monkeypatch.setattr(engine_module, "_LOCK_TIMEOUT_S", 0.3)
    body = purchase_body(world.store_a, world.member_a["id"], "busy-1")
    with other.connect() as conn, conn.begin():
        resp = world.client.post("/api/v1/purchases", json=body, headers=world.as_("pos"))
    assert resp.status_code == 503, resp.text
    assert resp.json()["code"] == "DATABASE_BUSY"
    assert resp.headers["Retry-After"] == "1"
    retried = world.client.post("/api/v1/purchases", json=body, headers=world.as_("pos"))
    assert retried.status_code == 201, retried.text  # nothing half-applied: the retry posts it once
    assert retried.json()["replayed"] is False
    other.dispose()


@pytest.mark.parametrize("enabled", [False, True])
def test_request_telemetry_follows_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, enabled: bool
) -> None:
    """Off (the default), a request does not look the OpenTelemetry providers up at all."""
    import anyio
    from fastapi.telemetry import _asgi

    from loyalty.bootstrap import Context
    from loyalty.config import Settings

    looked_up = []
    real = _asgi.trace.get_tracer_provider

    def counting() -> object:
        looked_up.append(1)
        return real()

    monkeypatch.setattr(_asgi.trace, "get_tracer_provider", counting)
    ctx = Context.from_url(f"sqlite:///{tmp_path / 't.db'}")
    ctx.settings = Settings(api_telemetry=enabled)
    app = create_app(ctx)
    assert anyio.run(_get, app, "/api/v1/nowhere").status_code == 404
    assert bool(looked_up) is enabled
    ctx.engine.dispose()


def test_serving_freezes_a_heap_that_holds_what_the_first_sale_would_import(tmp_path: Path) -> None:
    """A fresh server process, once started, holds pandas (which PyArrow would import in the first POS
    batch) among the objects frozen out of the garbage collector."""
    import subprocess
    import sys

    code = (
        "import gc, sys, anyio\n"
        "from loyalty.api.app import context_from_url, create_app\n"
        "app = create_app(context_from_url(sys.argv[1]))\n"
        "async def start():\n"
        "    async with app.router.lifespan_context(app):\n"
        "        print('pandas' in sys.modules, gc.get_freeze_count() > 0)\n"
        "anyio.run(start)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, f"sqlite:///{tmp_path / 'f.db'}"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split() == ["True", "True"], out.stderr
