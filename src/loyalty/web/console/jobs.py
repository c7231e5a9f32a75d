"""The jobs page (`/console/admin/jobs`): start points expiry, tier evaluation or an analytics
refresh, see the recent runs, and follow a running one's progress.

A job runs in a background thread of the server (`services.jobs.start`); its progress is a fragment
the page asks for every second (htmx `hx-trigger="every 1s"`) until the job has ended, when the
fragment comes back without the trigger and the polling stops. The same fragment follows an analytics
refresh on the analyst's page; the analytics pages (member analytics, clusters, churn, recommendations,
basket rules) start their job and show its progress through `start_job`, `start_choosing` and
`with_job`, so each of them refuses, starts and follows a refresh the same way.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from starlette.datastructures import FormData
from starlette.responses import Response

from loyalty.domain.actors import Actor
from loyalty.i18n import marker, translator
from loyalty.services import jobs as jobs_service
from loyalty.web.pages import ConsoleRoute, Page, StaffForm, StaffPage

_ = translator("web")
N_ = marker("web")

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

JOBS_PATH = "/console/admin/jobs"
SHOWN = 30

KIND_NAMES = {
    "points_expiry": N_("Points expiry"),
    "tier_evaluation": N_("Tier evaluation"),
    "analytics_refresh": N_("Analytics refresh"),
    "member_clusters": N_("Member clusters"),
    "anomaly_scan": N_("Anomaly scan"),
    "recommendations": N_("Recommendations"),
    "basket_rules": N_("Basket rules"),
    "churn_model": N_("Churn model"),
}
STATUS_NAMES = {
    "queued": N_("Queued"),
    "running": N_("Running"),
    "done": N_("Done"),
    "failed": N_("Failed"),
}
STEP_NAMES = {
    "load": N_("Reading the purchases"),
    "score": N_("Scoring the members and fitting the model"),
    "check": N_("Checking the model on a holdout period"),
    "write": N_("Writing the scores"),
    "cluster": N_("Choosing k and clustering the members"),
    "detect": N_("Checking the rules and scoring the members"),
    "flags": N_("Writing the flags"),
    "evaluate": N_("Testing the recommender on the last four weeks"),
    "train": N_("Training the recommender"),
    "mine": N_("Mining the rules of the chain and of each store"),
    "save": N_("Writing the rules"),
    "validate": N_("Checking the churn model on the last horizon"),
    "fit": N_("Training the churn model and scoring the members"),
}


def progress_path(job_id: int) -> str:
    return f"{JOBS_PATH}/{job_id}/progress"


@dataclass
class JobShown:
    """A job as the page writes it."""

    job: jobs_service.Job
    kind: str
    status: str
    step: str
    outcome: str

    @property
    def percent(self) -> int | None:
        fraction = self.job.fraction
        return None if fraction is None else round(100 * fraction)


def _step(job: jobs_service.Job) -> str:
    return "" if job.finished else _progress(job)


def _progress(job: jobs_service.Job) -> str:
    """How far the job has come, in words (where a running job is, or where an abandoned one stopped)."""
    if job.progress_total is None:
        return _("Starting…")
    if job.progress_step == "ranges":
        return _("{done} of {total} id ranges done", done=job.progress_done, total=job.progress_total)
    name = STEP_NAMES.get(job.progress_step or "")
    stage = _(
        "Stage {n} of {total}", n=min(job.progress_done + 1, job.progress_total), total=job.progress_total
    )
    return f"{stage}: {_(name)}" if name else stage


def _outcome(job: jobs_service.Job) -> str:
    if job.status == "failed":
        if job.error_code == "JOB_ABANDONED":
            return _(
                "Abandoned at “{progress}”: the server running it stopped before it finished.",
                progress=_progress(job),
            )
        return _("Failed: {reason}", reason=job.error or job.error_code or "")
    if job.status != "done":
        return ""
    r: dict[str, Any] = job.result or {}
    if job.kind == "points_expiry":
        return _(
            "{lots} lots expired, {points} points in all",
            lots=r.get("lots_expired", 0),
            points=r.get("points_expired", 0),
        )
    if job.kind == "tier_evaluation":
        return _(
            "{evaluated} members evaluated: {up} upgraded, {down} downgraded, {grace} grace periods started",
            evaluated=r.get("evaluated", 0),
            up=r.get("upgraded", 0),
            down=r.get("downgraded", 0),
            grace=r.get("grace_started", 0),
        )
    if job.kind == "anomaly_scan":
        return _(
            "{new} new flags, {updated} updated, from {start} to {end}",
            new=r.get("new", 0),
            updated=r.get("updated", 0),
            start=r.get("start", ""),
            end=r.get("end", ""),
        )
    if job.kind == "member_clusters":
        return _("{count} members in {k} clusters", count=r.get("members_clustered", 0), k=r.get("k", 0))
    if job.kind == "recommendations":
        return _("Recommendations for {count} members", count=r.get("members", 0))
    if job.kind == "churn_model":
        return _("Churn risk for {count} members", count=r.get("members_scored", 0))
    if job.kind == "basket_rules":
        return _(
            "{rules} rules stored in {sets} sets, from {start} to {end}",
            rules=r.get("rules_stored", 0),
            sets=r.get("sets", 0),
            start=r.get("start", ""),
            end=r.get("end", ""),
        )
    if not r.get("members_scored"):
        return _("No member has bought anything yet: there was nobody to score.")
    return _("{count} members scored", count=r.get("members_scored", 0))


def shown(job: jobs_service.Job) -> JobShown:
    return JobShown(
        job=job,
        kind=_(KIND_NAMES.get(job.kind, job.kind)),
        status=_(STATUS_NAMES.get(job.status, job.status)),
        step=_step(job),
        outcome=_outcome(job),
    )


def actor_of(page: Page) -> Actor:
    actor: Actor = page.staff.to_actor()
    return actor


def latest_shown(page: Page, kind: str) -> JobShown | None:
    """The last job of `kind` as its progress fragment shows it (None: never started), for the page
    that starts it to follow."""
    job = jobs_service.latest_job(page.ctx, kind)
    return shown(job) if job is not None else None


def with_job(page: Page, template: str, kind: str, values: dict[str, Any]) -> Response:
    """`template` with `values`, the last job of `kind` (`job`) and the zone its times are shown in."""
    return page.html(
        template, {**values, "job": latest_shown(page, kind), "zone": page.ctx.settings.timezone}
    )


def start_job(page: Page, kind: str, back: str, params: dict[str, Any] | None = None) -> Response:
    """Start a job of `kind` (with `params`) for the signed-in user and go back to `back`, saying so."""
    page.require(jobs_service.permission_for(kind))
    try:
        job = jobs_service.start(
            page.ctx, kind, actor_of(page), actor_name=page.staff.username, params=params
        )
    except jobs_service.JobAlreadyRunning:
        return page.redirect(
            back,
            flash=_("{kind} is already running: follow it below.", kind=_(KIND_NAMES[kind])),
            kind="error",
        )
    return page.redirect(back, flash=_("{kind} started (job {id}).", kind=_(KIND_NAMES[kind]), id=job.id))


def start_choosing(
    page: Page,
    form: FormData,
    kind: str,
    back: str,
    *,
    field: str,
    choices: Collection[int],
    param: str,
    refused: str,
) -> Response:
    """Start a job of `kind` with the whole number the form's `field` chose among `choices` as its
    `param` (none chosen: the job's default); any other value goes back to `back` with `refused`."""
    page.require(jobs_service.permission_for(kind))
    given = str(form.get(field) or "")
    if given and (not given.isdigit() or int(given) not in choices):
        return page.redirect(back, flash=refused, kind="error")
    return start_job(page, kind, back, {param: int(given)} if given else None)


def may_follow(page: Page, job: jobs_service.Job) -> bool:
    """Jobs are read with jobs:read; an analytics refresh also by whoever reads the analytics."""
    return page.can("jobs:read") or (
        job.kind in ("analytics_refresh", "member_clusters", "recommendations", "basket_rules", "churn_model")
        and page.can("analytics:read")
    )


@router.get("/admin/jobs")
def jobs_page(page: StaffPage) -> Response:
    """Start a job and see the recent ones, the running ones with their progress."""
    page.require("jobs:read")
    startable = [
        (code, _(name)) for code, name in KIND_NAMES.items() if page.can(jobs_service.permission_for(code))
    ]
    rows = [shown(j) for j in jobs_service.list_jobs(page.ctx, limit=SHOWN)]
    return page.html(
        "console/jobs.html", {"startable": startable, "rows": rows, "zone": page.ctx.settings.timezone}
    )


@router.post("/admin/jobs")
def start(page: StaffPage, form: StaffForm) -> Response:
    """Start the chosen job (jobs:run for expiry and tiers, analytics:refresh for the refresh)."""
    kind = str(form.get("kind") or "")
    if kind not in KIND_NAMES:
        page.require("jobs:run")
        return page.redirect(JOBS_PATH, flash=_("Choose a job to start."), kind="error")
    return start_job(page, kind, JOBS_PATH)


@router.get("/admin/jobs/{job_id}/progress")
def progress(page: StaffPage, job_id: int) -> Response:
    """The job's progress fragment, asked for every second while the job runs."""
    if not (page.can("jobs:read") or page.can("analytics:read")):
        page.require("jobs:read")
    job = jobs_service.get_job(page.ctx, job_id)
    if not may_follow(page, job):
        page.require("jobs:read")
    return page.html("console/job_progress.html", {"row": shown(job), "zone": page.ctx.settings.timezone})
