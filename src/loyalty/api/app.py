"""The FastAPI application factory.

`create_app(ctx)` builds one app around one `Context` (engine, settings, clock). Tests pass a context
for a throw-away database; `loyalty serve` and `make demo` build it from settings. Nothing global: two
apps in one process (the test suite does this) never share state, including rate-limit windows.
"""

from __future__ import annotations

import gc
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.to_thread
from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.telemetry import TelemetryConfig

import loyalty
from loyalty.api.docs import install_docs
from loyalty.api.errors import Problem, install_error_handlers
from loyalty.api.openapi_links import add_links
from loyalty.api.ratelimit import limiter_for
from loyalty.api.routers import health
from loyalty.bootstrap import Context
from loyalty.services.catalogue_watch import CatalogueWatch
from loyalty.services.posting.strategy import strategy_for
from loyalty.services.table_statistics import StatisticsWatch

API_PREFIX = "/api/v1"

DESCRIPTION = """
Membership & loyalty API for POS terminals, e-commerce, mini-programs and the back office.

* **Staff** authenticate with the OAuth2 password flow at `/api/v1/auth/token` and send
  `Authorization: Bearer <jwt>`.
* **POS terminals** send their per-store key in `X-API-Key`.
* **Members** send their own token as `Authorization: Bearer <token>` to `/api/v1/me/...`.

Errors are RFC 9457 `application/problem+json` with a stable `type`. Money is a decimal string with a
currency; times are ISO 8601 with an offset. Mutating POS calls accept an `Idempotency-Key` header.
"""

_PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": Problem, "description": "Client error (problem+json)"},
    "5XX": {"model": Problem, "description": "Server error (problem+json)"},
}


def context_from_url(url: str | None) -> Context:
    """A context for `url` (settings when None)."""
    return Context.from_url(url)


def create_app(
    ctx: Context | None = None, *, rate_limits: dict[str, tuple[int, float]] | None = None
) -> FastAPI:
    """Build the API around `ctx` (a context from settings when omitted).

    `rate_limits` overrides the per-surface limits (`{"login": (attempts, window_seconds)}`) so tests
    can provoke a 429 in a handful of requests without waiting.
    """
    context = ctx if ctx is not None else context_from_url(None)
    app = FastAPI(
        title="loyalty API",
        version=loyalty.__version__,
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        # FastAPI's docs pages load their scripts from a CDN: ours are served from the package (api.docs).
        docs_url=None,
        redoc_url=None,
        responses=_PROBLEM_RESPONSES,
        separate_input_output_schemas=False,
        # Off, FastAPI skips its per-request look-up of the OpenTelemetry providers in the environment
        # (6 % of the event loop's time on the POS benchmark).
        telemetry=None if context.settings.api_telemetry else _NO_TELEMETRY,
    )
    app.router.lifespan_context = _serving_lifespan
    app.state.ctx = context
    app.state.limiter = limiter_for(context.settings.redis_url, rate_limits)
    # How POS sales reach the database, chosen once for the life of the app (`services.posting.strategy`).
    app.state.posting = strategy_for(context)
    install_error_handlers(app)
    app.include_router(health.router, prefix=API_PREFIX)
    _include_resource_routers(app)
    _guard_the_edge(app, context.settings.api_max_body_bytes)
    install_docs(app)
    _install_web(app)
    app.add_api_route("/", _to_docs, include_in_schema=False)
    _document_problems(app)
    return app


_NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def api_threads(dialect: str) -> int:
    """Worker threads for synchronous endpoints (database work): `LOYALTY_API_THREADS`, or by database.

    SQLite has one writer at a time, so a few threads keep it busy. PostgreSQL runs transactions side
    by side, but each thread holds its transaction open while it waits for the GIL between
    statements: with the whole pool's worth of threads the server's backends were mostly idle in
    transaction, waiting for this process (ADR 0006 has the measurements).
    """
    configured = os.environ.get("LOYALTY_API_THREADS")
    if configured:
        return max(1, int(configured))
    return 4 if dialect == "sqlite" else 6


@asynccontextmanager
async def _serving_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Prepare the process for serving: size the thread pool that runs synchronous endpoints (see
    `api_threads`), keep its catalogue in step with changes other processes make (`CatalogueWatch`),
    keep the planner's statistics of the tables sales grow fresh while they are young
    (`StatisticsWatch`) and keep the start-up heap out of the garbage collector's way
    (`_freeze_startup_heap`).

    AnyIO's default of 40 threads lets 40 requests contend for the GIL and SQLite's write lock at
    once, and the lock is not handed over in arrival order; a request waiting for a thread instead
    queues in arrival order on the event loop (ADR 0006).
    """
    limiter = anyio.to_thread.current_default_thread_limiter()
    limiter.total_tokens = api_threads(app.state.ctx.engine.dialect.name)
    watch = CatalogueWatch(app.state.ctx)
    watch.start()
    statistics = StatisticsWatch(app.state.ctx)
    statistics.start()
    _freeze_startup_heap()
    try:
        yield
    finally:
        statistics.stop()
        watch.stop()


def _freeze_startup_heap() -> None:
    """Move everything alive at start-up (the framework, models, compiled statements) out of the GC's way.

    Python's full collections traverse every tracked object; after start-up that is about a million
    objects that live as long as the process, and each pass over them stalled every request for tens of
    milliseconds, the POS benchmark's p99 (ADR 0006). `gc.freeze()` keeps them out of all later
    collections; objects created while serving are collected as before.
    """
    # PyArrow imports pandas at its first array conversion (an import's batch, a large POS batch's
    # checks, an analytics page): a stall there, and tens of thousands of long-lived objects left for
    # every full collection to traverse.
    import pandas  # noqa: F401

    gc.collect()
    gc.freeze()


def _install_web(app: FastAPI) -> None:
    """The staff console at /console and its static files at /static (loyalty.web), served by the
    same process as clients of the same services."""
    from loyalty import web

    web.install(app)


def _to_docs() -> RedirectResponse:
    """The server's root sends a visitor to the interactive API docs rather than a bare 404."""
    return RedirectResponse("/docs")


def _document_problems(app: FastAPI) -> None:
    """Make the published schema say what the API does: every 4xx/5xx is problem+json.

    FastAPI documents its own 422 body as `application/json`; ours is RFC 9457, so the schema is
    rewritten once (cached by FastAPI) instead of patching each route.
    """
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for ops in schema.get("paths", {}).values():
            for op in ops.values():
                responses = op.setdefault("responses", {})
                for code in ("4XX", "5XX"):
                    responses.setdefault(code, {"description": "Problem (RFC 9457)"})
                for code, response in responses.items():
                    if code[0] in "45":
                        response["content"] = problem
        components = schema.get("components", {}).get("schemas", {})
        for unused in ("HTTPValidationError", "ValidationError"):
            components.pop(unused, None)
        add_links(schema)  # which answer gives the ids the next call takes (api.openapi_links)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _guard_the_edge(app: FastAPI, max_body_bytes: int) -> None:
    """What every request passes before routing, outermost first: the body size limit (413 before an
    oversized body is read), then the control-character check of its query and body (422)."""
    from loyalty.api import body_limit, text_guard

    text_guard.install(app)
    body_limit.install(app, max_body_bytes)  # added last: the outermost


def _include_resource_routers(app: FastAPI) -> None:
    """Mount the resource routers; kept apart so the list of resources reads in one place."""
    from loyalty.api import strict_query
    from loyalty.api.routers import ROUTERS

    for router in ROUTERS:
        app.include_router(router, prefix=API_PREFIX)
    # Every API route answers a query parameter it does not declare with a 422 naming it.
    strict_query.install(app, [(API_PREFIX, r) for r in (health.router, *ROUTERS)])
