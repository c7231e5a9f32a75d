"""Jobs started by hand and followed with progress: points expiry, tier evaluation, analytics refresh.

`start` runs one in a background thread of the serving process (the console and the API answer at
once and the page follows its progress); `run_now` runs one in the caller's thread (the CLI). Both
record the run in the `jobs` table: who started it, its status, progress, result or error. One job
at a time per kind; an unfinished job whose process died is marked failed as abandoned when jobs are
next read (see `store`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loyalty.db.jobs_tables import JOB_KINDS
from loyalty.services.jobs import store
from loyalty.services.jobs.kinds import (
    ANALYTICS_REFRESH,
    ANOMALY_SCAN,
    BASKET_RULES,
    CHURN_MODEL,
    KINDS,
    MEMBER_CLUSTERS,
    POINTS_EXPIRY,
    RECOMMENDATIONS,
    TIER_EVALUATION,
    permission_for,
)
from loyalty.services.jobs.runner import live_ids, run_now, start, wait, wait_all
from loyalty.services.jobs.store import Job, JobAlreadyRunning, JobNotFound

if TYPE_CHECKING:
    from loyalty.bootstrap import Context


def list_jobs(
    ctx: Context, *, kind: str | None = None, before_id: int | None = None, limit: int = 50
) -> list[Job]:
    """Jobs newest first, stale unfinished ones marked abandoned first."""
    store.abandon_stale(ctx, keep=live_ids())
    return store.listed(ctx, kind=kind, before_id=before_id, limit=limit)


def get_job(ctx: Context, job_id: int) -> Job:
    """One job (`JobNotFound` if none), marked abandoned first if its process stopped."""
    store.abandon_stale(ctx, keep=live_ids())
    return store.get(ctx, job_id)


def active_job(ctx: Context, kind: str) -> Job | None:
    """The queued or running job of `kind`, if any."""
    store.abandon_stale(ctx, keep=live_ids())
    return store.active(ctx, kind)


def latest_job(ctx: Context, kind: str) -> Job | None:
    """The newest job of `kind`, finished or not."""
    store.abandon_stale(ctx, keep=live_ids())
    return store.latest(ctx, kind)


__all__ = [
    "ANALYTICS_REFRESH",
    "ANOMALY_SCAN",
    "BASKET_RULES",
    "CHURN_MODEL",
    "JOB_KINDS",
    "KINDS",
    "MEMBER_CLUSTERS",
    "POINTS_EXPIRY",
    "RECOMMENDATIONS",
    "TIER_EVALUATION",
    "Job",
    "JobAlreadyRunning",
    "JobNotFound",
    "active_job",
    "get_job",
    "latest_job",
    "list_jobs",
    "permission_for",
    "run_now",
    "start",
    "wait",
    "wait_all",
]
