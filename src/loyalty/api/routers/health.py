"""Liveness and readiness for load balancers, `make demo` and the benchmark's start-up wait."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel
from sqlalchemy import text

import loyalty
from loyalty.services.common import read

router = APIRouter(tags=["health"])


class Health(BaseModel):
    """Whether the process is up and its database answers."""

    status: Literal["ok", "degraded"]
    database: Literal["ok", "unreachable"]
    version: str


@router.get("/health", response_model=Health)
def health(request: Request) -> Health:
    """Report that the API is up and whether its database answers a trivial query."""
    try:  # a read: it must not queue behind writers for SQLite's write lock
        with read(request.app.state.ctx) as conn:
            conn.execute(text("select 1"))
        db: Literal["ok", "unreachable"] = "ok"
    except Exception:  # any driver error means the database is not usable right now
        db = "unreachable"
    return Health(status="ok" if db == "ok" else "degraded", database=db, version=loyalty.__version__)
