"""The `jobs` rows: create one (refused while the kind is already unfinished), move it through
queued → running → done | failed, record its progress and heartbeat, list and read them.

Each call is its own short transaction, apart from the work the job does: progress is visible to
every reader while the job runs, and a job's failure leaves its row saying so.

A job whose process died stays "running" in the table with its last progress. It is found by its
heartbeat: the running process moves `heartbeat_at` every `HEARTBEAT_EVERY`; a queued or running job
whose heartbeat is older than `STALE_AFTER` is marked failed (`JOB_ABANDONED`, its progress kept)
the next time jobs are read or started. Read-time, not start-up, because several server processes
(and the CLI) share one database and none of them knows which others are alive.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from loyalty.db.jobs_tables import JOB_KINDS, jobs
from loyalty.domain.actors import Actor
from loyalty.domain.errors import Conflict, InvalidInput, NotFound
from loyalty.services import audit
from loyalty.services.common import read

if TYPE_CHECKING:
    from loyalty.bootstrap import Context

#: how often a running job's process says it is alive
HEARTBEAT_EVERY = timedelta(seconds=5)
#: how long without a heartbeat before a queued or running job counts as abandoned
STALE_AFTER = timedelta(seconds=60)

UNFINISHED = ("queued", "running")
ABANDONED = "JOB_ABANDONED"
ABANDONED_MESSAGE = "the process running this job stopped before it finished"


class Job(BaseModel):
    """One run of a job, as stored."""

    id: int
    kind: str
    status: str
    actor_kind: str
    actor_id: str
    actor_name: str | None
    params: dict[str, Any] | None
    progress_done: int
    progress_total: int | None
    progress_step: str | None
    result: dict[str, Any] | None
    error_code: str | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed")

    @property
    def fraction(self) -> float | None:
        """How far it has come (0–1); None while the amount of work is not known yet."""
        if self.status == "done":
            return 1.0
        if not self.progress_total:
            return None
        return min(self.progress_done / self.progress_total, 1.0)


class JobAlreadyRunning(Conflict):
    """A job of this kind is queued or running: one at a time per kind. `details["job"]` is that job."""

    default_code = "JOB_ALREADY_RUNNING"


class JobNotFound(NotFound):
    default_code = "JOB_NOT_FOUND"


def _job(row: Any) -> Job:
    return Job.model_validate(dict(row._mapping))


def check_kind(kind: str) -> None:
    """Refuse a kind this code does not run (the table may allow more: kinds whose runner is a
    later capability's)."""
    from loyalty.services.jobs.kinds import KINDS

    runnable = [k for k in JOB_KINDS if k in KINDS]
    if kind not in runnable:
        raise InvalidInput.field(
            "kind",
            "unknown job kind {kind}: expected one of {kinds}",
            values={"kind": kind, "kinds": ", ".join(runnable)},
        )


def _already_running(job: Job) -> JobAlreadyRunning:
    return JobAlreadyRunning(
        "JOB_ALREADY_RUNNING",
        "a {kind} job is already running (job {job_id}); wait for it to finish",
        {"kind": job.kind, "job_id": job.id, "job": job.model_dump(mode="json")},
    )


def create(
    ctx: Context,
    kind: str,
    actor: Actor,
    *,
    actor_name: str | None = None,
    params: dict[str, Any] | None = None,
) -> Job:
    """A new queued job of `kind`, audited as `job.start` in its own transaction.

    Raises :class:`JobAlreadyRunning` (carrying the unfinished job) while another job of that kind is
    queued or running (the runner marks stale ones abandoned first: `abandon_stale`).
    """
    check_kind(kind)
    now = ctx.now()
    values = {
        "kind": kind,
        "status": "queued",
        "active_kind": kind,
        "actor_kind": actor.kind,
        "actor_id": actor.id,
        "actor_name": actor_name,
        "params": params or {},
        "progress_done": 0,
        "created_at": now,
        "heartbeat_at": now,
    }
    try:
        with ctx.engine.begin() as conn:
            key = conn.execute(insert(jobs).values(values)).inserted_primary_key
            assert key is not None
            job_id = int(key[0])
            audit.record(
                conn, actor, "job.start", "job", job_id, None, {"kind": kind, **(params or {})}, at=now
            )
    except IntegrityError:
        running = active(ctx, kind)
        if running is None:
            raise
        raise _already_running(running) from None
    return get(ctx, job_id)


def get(ctx: Context, job_id: int) -> Job:
    with read(ctx) as conn:
        row = conn.execute(select(jobs).where(jobs.c.id == job_id)).first()
    if row is None:
        raise JobNotFound("JOB_NOT_FOUND", "job {job_id} does not exist", {"job_id": job_id})
    return _job(row)


def active(ctx: Context, kind: str) -> Job | None:
    """The queued or running job of `kind`, if any."""
    with read(ctx) as conn:
        row = conn.execute(select(jobs).where(jobs.c.active_kind == kind)).first()
    return None if row is None else _job(row)


def latest(ctx: Context, kind: str) -> Job | None:
    """The newest job of `kind`, finished or not."""
    with read(ctx) as conn:
        row = conn.execute(
            select(jobs).where(jobs.c.kind == kind).order_by(jobs.c.id.desc()).limit(1)
        ).first()
    return None if row is None else _job(row)


def listed(
    ctx: Context, *, kind: str | None = None, before_id: int | None = None, limit: int = 50
) -> list[Job]:
    """Jobs newest first (keyset pages: `before_id` = the last id of the previous page)."""
    query = select(jobs).order_by(jobs.c.id.desc()).limit(limit)
    if kind is not None:
        check_kind(kind)
        query = query.where(jobs.c.kind == kind)
    if before_id is not None:
        query = query.where(jobs.c.id < before_id)
    with read(ctx) as conn:
        return [_job(r) for r in conn.execute(query)]


def _unfinished(job_id: int) -> Any:
    return (jobs.c.id == job_id) & jobs.c.status.in_(UNFINISHED)


def _write(ctx: Context, statement: Any) -> None:
    with ctx.engine.begin() as conn:
        conn.execute(statement)


def mark_running(ctx: Context, job_id: int) -> None:
    now = ctx.now()
    _write(
        ctx,
        update(jobs).where(_unfinished(job_id)).values(status="running", started_at=now, heartbeat_at=now),
    )


def report(ctx: Context, job_id: int, done: int, total: int | None, step: str | None) -> None:
    """The job's progress (and a heartbeat)."""
    values = {
        "progress_done": done,
        "progress_total": total,
        "progress_step": step,
        "heartbeat_at": ctx.now(),
    }
    _write(ctx, update(jobs).where(_unfinished(job_id)).values(**values))


def beat(ctx: Context, job_id: int) -> None:
    _write(ctx, update(jobs).where(_unfinished(job_id)).values(heartbeat_at=ctx.now()))


def finish(ctx: Context, job_id: int, result: dict[str, Any]) -> None:
    now = ctx.now()
    with ctx.engine.begin() as conn:
        total = conn.execute(select(jobs.c.progress_total).where(jobs.c.id == job_id)).scalar()
        conn.execute(
            update(jobs)
            .where(_unfinished(job_id))
            .values(
                status="done",
                active_kind=None,
                result=result,
                progress_done=total if total is not None else 0,
                progress_step="done",
                finished_at=now,
                heartbeat_at=now,
            )
        )


def fail(ctx: Context, job_id: int, code: str, message: str) -> None:
    """Record why the job failed; its progress stays where it stopped."""
    now = ctx.now()
    values = {
        "status": "failed",
        "active_kind": None,
        "error_code": code[:60],
        "error": message[:2000],
        "finished_at": now,
        "heartbeat_at": now,
    }
    _write(ctx, update(jobs).where(_unfinished(job_id)).values(**values))


def abandon_stale(ctx: Context, keep: Iterable[int]) -> int:
    """Mark failed every unfinished job whose heartbeat is older than `STALE_AFTER` (but those in
    `keep`, which this process is running); returns how many."""
    now = ctx.now()
    cutoff = now - STALE_AFTER
    stale = (jobs.c.active_kind.is_not(None)) & (jobs.c.heartbeat_at < cutoff)
    kept = list(keep)
    if kept:
        stale = stale & jobs.c.id.not_in(kept)
    with read(ctx) as conn:
        found = conn.execute(select(jobs.c.id).where(stale).limit(1)).first()
    if found is None:  # the usual case: a read, no write
        return 0
    with ctx.engine.begin() as conn:
        return _abandon(conn, stale, now)


def _abandon(conn: Connection, stale: Any, now: datetime) -> int:
    done = conn.execute(
        update(jobs)
        .where(stale)
        .values(
            status="failed", active_kind=None, error_code=ABANDONED, error=ABANDONED_MESSAGE, finished_at=now
        )
    )
    return int(done.rowcount or 0)
