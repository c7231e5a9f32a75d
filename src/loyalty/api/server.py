"""Run the API under uvicorn (`loyalty serve`, `make demo`, the benchmark)."""

from __future__ import annotations

import os

import uvicorn
from fastapi import FastAPI

from loyalty.api.app import context_from_url, create_app

_URL_ENV = "LOYALTY_SERVE_DATABASE_URL"


def app_from_env() -> FastAPI:
    """App factory for worker processes: each builds its own engine from the URL in the environment."""
    return create_app(context_from_url(os.environ[_URL_ENV]))


def run(
    database_url: str,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    workers: int = 1,
    log_level: str = "info",
    access_log: bool = True,
) -> None:
    """Serve the API for `database_url` on host:port until interrupted.

    Synchronous endpoints run in uvicorn's thread pool so a slow database call never blocks the event
    loop. With `workers > 1` uvicorn forks processes that each build their own app and engine (the only
    way past the GIL); rate-limit windows and credential caches are then per process.
    """
    common = {
        "host": host,
        "port": port,
        "log_level": log_level,
        "access_log": access_log,
        "server_header": False,
    }
    if workers > 1:
        os.environ[_URL_ENV] = database_url
        uvicorn.run("loyalty.api.server:app_from_env", factory=True, workers=workers, **common)  # type: ignore[arg-type]
        return
    uvicorn.run(create_app(context_from_url(database_url)), **common)  # type: ignore[arg-type]
