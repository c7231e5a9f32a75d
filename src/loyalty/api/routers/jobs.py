"""Jobs started by hand and followed with progress: points expiry, tier evaluation, analytics refresh.

`POST /jobs` answers at once (202) with the queued job, which runs in a background thread of the
server; `GET /jobs/{id}` follows it. One job at a time per kind: starting a kind already queued or
running answers 409 with that job under `job`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from loyalty.api.deps import Caller, CtxDep, in_query, requires
from loyalty.api.errors import forbidden
from loyalty.api.schemas import PathId, aware
from loyalty.api.security import Principal
from loyalty.domain import cursors
from loyalty.domain.errors import InvalidInput
from loyalty.services import jobs as jobs_service

router = APIRouter(tags=["jobs"])

Reader = Annotated[Principal, Depends(requires("jobs:read"))]
Kind = Literal[
    "points_expiry",
    "tier_evaluation",
    "analytics_refresh",
    "member_clusters",
    "anomaly_scan",
    "recommendations",
    "basket_rules",
    "churn_model",
]


class JobIn(BaseModel):
    """The job to start."""

    model_config = ConfigDict(extra="forbid")

    kind: Kind = Field(
        description="points_expiry and tier_evaluation need jobs:run; "
        "analytics_refresh, member_clusters, recommendations and basket_rules need analytics:refresh; "
        "churn_model analytics:refresh too; "
        "anomaly_scan (the last 30 days; POST /anomalies/scans for another period) anomalies:review."
    )


class JobProgress(BaseModel):
    """How far a job has come: units done of the total (id ranges, or the refresh's stages)."""

    done: int
    total: int | None
    step: str | None = Field(
        description="ranges; or the refresh's stage: load, score, check, write; or the clusters': load, "
        "cluster, write; or the recommendations': load, evaluate, train, write; or the basket rules': "
        "load, mine, save; or the churn model's: load, validate, fit, write; done"
    )
    fraction: float | None


class JobOut(BaseModel):
    """One run of a job."""

    id: int
    kind: str
    status: Literal["queued", "running", "done", "failed"]
    started_by: str = Field(description="The staff user's username, or cli / system.")
    params: dict[str, Any]
    progress: JobProgress
    result: dict[str, Any] | None
    error_code: str | None = Field(description="JOB_ABANDONED when the process running it stopped.")
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


def job_view(job: jobs_service.Job) -> JobOut:
    return JobOut(
        id=job.id,
        kind=job.kind,
        status=job.status,
        started_by=job.actor_name or job.actor_id,
        params=job.params or {},
        progress=JobProgress(
            done=job.progress_done, total=job.progress_total, step=job.progress_step, fraction=job.fraction
        ),
        result=job.result,
        error_code=job.error_code,
        error=job.error,
        created_at=aware(job.created_at),
        started_at=aware(job.started_at) if job.started_at else None,
        finished_at=aware(job.finished_at) if job.finished_at else None,
    )


class JobPage(BaseModel):
    """A page of jobs, newest first; pass `next_cursor` back as `cursor` for the next one."""

    items: list[JobOut]
    next_cursor: str | None = None


@router.post("/jobs", response_model=JobOut, status_code=202)
def start_job(body: JobIn, caller: Caller, ctx: CtxDep) -> JobOut:
    """Start a job in the background; follow it at `GET /jobs/{id}` (409 while one of its kind runs)."""
    if not caller.can(jobs_service.permission_for(body.kind)):
        raise forbidden()
    job = jobs_service.start(ctx, body.kind, caller.to_actor(), actor_name=caller.username)
    return job_view(job)


@router.get("/jobs", response_model=JobPage)
def list_jobs(
    caller: Reader,
    ctx: CtxDep,
    kind: Kind | None = None,
    cursor: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> JobPage:
    """Jobs newest first, by kind if asked, with their progress; cursor pagination."""
    try:
        before_id = cursors.before_id(cursor)
    except InvalidInput as exc:
        raise in_query(exc) from exc
    found = jobs_service.list_jobs(ctx, kind=kind, before_id=before_id, limit=limit)
    next_cursor = cursors.id_cursor(found[-1].id) if len(found) == limit else None
    return JobPage(items=[job_view(j) for j in found], next_cursor=next_cursor)


@router.get("/jobs/{job_id}", response_model=JobOut)
def get_job(job_id: PathId, caller: Reader, ctx: CtxDep) -> JobOut:
    """One job: its status and progress while it runs, its result or error once it has ended."""
    return job_view(jobs_service.get_job(ctx, job_id))
