"""One router per resource; each is mounted under /api/v1 by `loyalty.api.app.create_app`."""

from __future__ import annotations

from fastapi import APIRouter

from loyalty.api.routers import audit, auth, me, members, points, purchases, stores, tiers

ROUTERS: list[APIRouter] = [
    auth.router,
    members.router,
    purchases.router,
    points.router,
    tiers.router,
    stores.router,
    me.router,
    audit.router,
]
