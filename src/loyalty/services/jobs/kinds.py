"""What each kind of job runs, what it needs from its caller, and how it reports its progress.

The jobs are the services' own: `points.expire_points` and `tiers.evaluate_tiers` (each reporting
its id ranges as they commit) and the analytics refresh (`analytics.store.refresh`, reporting its
stages). A job adds nothing to what they do: a run that fails has applied exactly what the service
applies when it fails (the ranges already committed for expiry and tiers, which a new run completes;
nothing for the refresh, which writes in one transaction at its end).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loyalty.bootstrap import Context

#: `(units done, units in all, what the job is doing now)`
Progress = Callable[[int, int, str], None]

POINTS_EXPIRY = "points_expiry"
TIER_EVALUATION = "tier_evaluation"
ANALYTICS_REFRESH = "analytics_refresh"

#: the progress step of the id-range jobs
RANGES = "ranges"


@dataclass(frozen=True)
class JobKind:
    """A kind of job: its code, the permission that starts it, and what it runs."""

    code: str
    #: the API's permission a caller needs to start it (`loyalty.api.security.PERMISSIONS`)
    permission: str
    run: Callable[[Context, dict[str, Any], Progress], dict[str, Any]]


def _as_of(ctx: Context, params: dict[str, Any]) -> datetime:
    given = params.get("as_of")
    return datetime.fromisoformat(given) if isinstance(given, str) else ctx.now()


def _sizes(params: dict[str, Any]) -> dict[str, Any]:
    return {"range_size": params.get("range_size"), "workers": params.get("workers")}


def _expire(ctx: Context, params: dict[str, Any], progress: Progress) -> dict[str, Any]:
    from loyalty.services import points

    done = points.expire_points(
        ctx, _as_of(ctx, params), **_sizes(params), progress=lambda n, total: progress(n, total, RANGES)
    )
    return done.model_dump(mode="json")


def _tiers(ctx: Context, params: dict[str, Any], progress: Progress) -> dict[str, Any]:
    from loyalty.services import tiers

    done = tiers.evaluate_tiers(
        ctx, _as_of(ctx, params), **_sizes(params), progress=lambda n, total: progress(n, total, RANGES)
    )
    return done.model_dump(mode="json")


def _refresh(ctx: Context, params: dict[str, Any], progress: Progress) -> dict[str, Any]:
    from loyalty.analytics.store import refresh

    model = str(params.get("model") or "bgnbd")
    scored = refresh(ctx.engine, now=ctx.now(), model=model, progress=progress)
    return {"members_scored": scored, "model": model}


KINDS: dict[str, JobKind] = {
    POINTS_EXPIRY: JobKind(POINTS_EXPIRY, "jobs:run", _expire),
    TIER_EVALUATION: JobKind(TIER_EVALUATION, "jobs:run", _tiers),
    ANALYTICS_REFRESH: JobKind(ANALYTICS_REFRESH, "analytics:refresh", _refresh),
}


def permission_for(kind: str) -> str:
    """The permission that starts a job of `kind` (jobs:run for expiry and tiers)."""
    found = KINDS.get(kind)
    return found.permission if found is not None else "jobs:run"
