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
MEMBER_CLUSTERS = "member_clusters"
ANOMALY_SCAN = "anomaly_scan"
RECOMMENDATIONS = "recommendations"
CHURN_MODEL = "churn_model"
BASKET_RULES = "basket_rules"

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


def _clusters(ctx: Context, params: dict[str, Any], progress: Progress) -> dict[str, Any]:
    from loyalty.services.clusters import run_clusters

    k = params.get("k")
    run = run_clusters(ctx, k=int(k) if k is not None else None, progress=progress)
    return {"run_id": run.id, "members_clustered": run.members, "k": run.k, "best_k": run.best_k}


def _anomaly_scan(ctx: Context, params: dict[str, Any], progress: Progress) -> dict[str, Any]:
    from datetime import date

    from loyalty.services.anomalies import scan

    def day(name: str) -> date | None:
        given = params.get(name)
        return date.fromisoformat(given) if isinstance(given, str) and given else None

    return scan(ctx, day("start"), day("end"), progress=progress).as_dict()


def _recommendations(ctx: Context, params: dict[str, Any], progress: Progress) -> dict[str, Any]:
    from loyalty.services.recommendations import run_recommendations

    run = run_recommendations(ctx, evaluate=params.get("evaluate", True) is not False, progress=progress)
    return {"run_id": run.id, "members": run.members, "items": run.items, "seconds": round(run.seconds, 3)}


def _basket_rules(ctx: Context, params: dict[str, Any], progress: Progress) -> dict[str, Any]:
    from loyalty.services.basket_rules import DEFAULT_DAYS, refresh_basket_rules

    days = params.get("days")
    done = refresh_basket_rules(ctx, days=int(days) if days is not None else DEFAULT_DAYS, progress=progress)
    return done.as_dict()


def _churn(ctx: Context, params: dict[str, Any], progress: Progress) -> dict[str, Any]:
    from loyalty.services.churn import refresh_churn

    horizon = params.get("horizon_days")
    run = refresh_churn(ctx, horizon_days=int(horizon) if horizon is not None else None, progress=progress)
    return {
        "run_id": run.id,
        "members_scored": run.members,
        "horizon_days": run.horizon_days,
        "auc_model": run.aucs["model"],
        "auc_p_alive": run.aucs["p_alive"],
    }


KINDS: dict[str, JobKind] = {
    POINTS_EXPIRY: JobKind(POINTS_EXPIRY, "jobs:run", _expire),
    TIER_EVALUATION: JobKind(TIER_EVALUATION, "jobs:run", _tiers),
    ANALYTICS_REFRESH: JobKind(ANALYTICS_REFRESH, "analytics:refresh", _refresh),
    MEMBER_CLUSTERS: JobKind(MEMBER_CLUSTERS, "analytics:refresh", _clusters),
    ANOMALY_SCAN: JobKind(ANOMALY_SCAN, "anomalies:review", _anomaly_scan),
    RECOMMENDATIONS: JobKind(RECOMMENDATIONS, "analytics:refresh", _recommendations),
    CHURN_MODEL: JobKind(CHURN_MODEL, "analytics:refresh", _churn),
    BASKET_RULES: JobKind(BASKET_RULES, "analytics:refresh", _basket_rules),
}


def permission_for(kind: str) -> str:
    """The permission that starts a job of `kind` (jobs:run for expiry and tiers)."""
    found = KINDS.get(kind)
    return found.permission if found is not None else "jobs:run"
