"""Running a job: in a background thread of the serving process (`start`, for the console and the
API), or in the caller's own thread (`run_now`, for the CLI).

Either way the job's row goes queued → running → done | failed, its progress is written as the
service reports it (at most a few times a second), and a ticker thread moves its heartbeat every
`store.HEARTBEAT_EVERY` while it runs, so that a job whose process dies is recognised as abandoned
(`store.abandon_stale`). One job at a time per kind: the database refuses a second unfinished one
(`store.create` raises `JobAlreadyRunning`), whichever process asks.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from loyalty.domain.actors import Actor
from loyalty.domain.errors import DomainError
from loyalty.services.jobs import store
from loyalty.services.jobs.kinds import KINDS

if TYPE_CHECKING:
    from loyalty.bootstrap import Context

log = logging.getLogger(__name__)

#: the least time between two progress writes of one job (the first and the last are always written)
PROGRESS_EVERY_S = 0.25

_live: dict[int, threading.Thread] = {}
_live_lock = threading.Lock()


def live_ids() -> set[int]:
    """The jobs this process is running now."""
    with _live_lock:
        return {job_id for job_id, thread in _live.items() if thread.is_alive()}


def start(
    ctx: Context,
    kind: str,
    actor: Actor,
    *,
    actor_name: str | None = None,
    params: dict[str, Any] | None = None,
) -> store.Job:
    """Queue a job of `kind` and run it in a background thread; returns it as queued.

    Raises `JobAlreadyRunning` (with the unfinished job) when one of that kind is queued or running.
    """
    store.abandon_stale(ctx, keep=live_ids())
    job = store.create(ctx, kind, actor, actor_name=actor_name, params=params)
    thread = threading.Thread(
        target=_background,
        args=(ctx, job.id, kind, job.params or {}),
        name=f"loyalty-job-{job.id}",
        daemon=True,
    )
    with _live_lock:
        _live[job.id] = thread
    thread.start()
    return job


def run_now(
    ctx: Context,
    kind: str,
    actor: Actor,
    *,
    actor_name: str | None = None,
    params: dict[str, Any] | None = None,
) -> tuple[store.Job, dict[str, Any]]:
    """Run a job of `kind` in this thread, recorded like a background one: (the finished job, the
    service's result). The service's error is recorded on the job, then raised."""
    store.abandon_stale(ctx, keep=live_ids())
    job = store.create(ctx, kind, actor, actor_name=actor_name, params=params)
    with _live_lock:
        _live[job.id] = threading.current_thread()
    try:
        result = _execute(ctx, job.id, kind, job.params or {}, reraise=True)
    finally:
        with _live_lock:
            _live.pop(job.id, None)
    return store.get(ctx, job.id), result or {}


def wait(job_id: int, timeout: float | None = None) -> bool:
    """Wait for this process's run of `job_id` to end; False when it is still running at `timeout`."""
    with _live_lock:
        thread = _live.get(job_id)
    if thread is None or thread is threading.current_thread():
        return True
    thread.join(timeout)
    return not thread.is_alive()


def wait_all(timeout: float | None = None) -> bool:
    """Wait for every job this process runs in the background (tests, a server shutting down)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    for job_id in sorted(live_ids()):
        left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
        if not wait(job_id, left):
            return False
    return True


class _Reporter:
    """The job's `progress` callback: written at most every `PROGRESS_EVERY_S`, except a new step,
    the first report and the last unit, which are always written. A failed write is logged, never
    raised into the service's work."""

    def __init__(self, ctx: Context, job_id: int) -> None:
        self.ctx = ctx
        self.job_id = job_id
        self.last = 0.0
        self.step: str | None = None

    def __call__(self, done: int, total: int, step: str) -> None:
        now = time.monotonic()
        due = step != self.step or done >= total or now - self.last >= PROGRESS_EVERY_S
        if not due:
            return
        self.last, self.step = now, step
        try:
            store.report(self.ctx, self.job_id, done, total, step)
        except Exception:  # the job goes on; its next report or its end will be written
            log.warning("job %s: progress not written", self.job_id, exc_info=True)


def _ticker(ctx: Context, job_id: int, stop: threading.Event) -> None:
    while not stop.wait(store.HEARTBEAT_EVERY.total_seconds()):
        try:
            store.beat(ctx, job_id)
        except Exception:  # a busy database: the next beat will do
            log.warning("job %s: heartbeat not written", job_id, exc_info=True)


def _why(exc: BaseException) -> tuple[str, str]:
    """(code, English message) of a failure, as the job's row keeps it."""
    from loyalty.analytics.errors import AnalyticsError

    if isinstance(exc, DomainError):
        return exc.code, exc.message
    if isinstance(exc, AnalyticsError):
        return exc.code, exc.message
    first = str(exc).strip().splitlines()
    return "INTERNAL_ERROR", f"{type(exc).__name__}: {first[0] if first else ''}".rstrip(": ")


def _background(ctx: Context, job_id: int, kind: str, params: dict[str, Any]) -> None:
    try:
        _execute(ctx, job_id, kind, params)
    finally:
        with _live_lock:
            _live.pop(job_id, None)


def _execute(
    ctx: Context, job_id: int, kind: str, params: dict[str, Any], *, reraise: bool = False
) -> dict[str, Any] | None:
    stop = threading.Event()
    ticker = threading.Thread(
        target=_ticker, args=(ctx, job_id, stop), name=f"loyalty-job-{job_id}-beat", daemon=True
    )
    ticker.start()
    try:
        store.mark_running(ctx, job_id)
        result = KINDS[kind].run(ctx, params, _Reporter(ctx, job_id))
    except Exception as exc:
        code, message = _why(exc)
        if code == "INTERNAL_ERROR":
            log.exception("job %s (%s) failed", job_id, kind)
        try:
            store.fail(ctx, job_id, code, message)
        except Exception:  # the database is gone: the heartbeat stops and the job reads as abandoned
            log.exception("job %s: its failure could not be recorded", job_id)
        if reraise:
            raise
        return None
    finally:
        stop.set()
        ticker.join()
    try:
        store.finish(ctx, job_id, result)
    except Exception:  # done, but not recorded: the job reads as abandoned, and the work stays done
        log.exception("job %s: its end could not be recorded", job_id)
        if reraise:
            raise
    return result
