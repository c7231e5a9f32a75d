"""`loyalty jobs …`: run the nightly set-based jobs (points expiry, tier re-evaluation), and list and
show the jobs run by hand from the console, the API or here, with their progress."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import typer

from loyalty.cli._core import context, run
from loyalty.i18n import translator

_ = translator("cli")

app = typer.Typer(help="Scheduled jobs.", no_args_is_help=True)

#: `jobs run`'s names for the jobs, and the kinds they are recorded as
_RUN = {"expire": "points_expiry", "tiers": "tier_evaluation"}


@app.command("run")
def run_jobs(
    job: str = typer.Argument("all", help="all | expire | tiers"),
    as_of: datetime | None = typer.Option(None, help="ISO time with zone; default now"),
    range_size: int | None = typer.Option(
        None, min=1, help="ids per transaction (default: the job_range_size setting, 100,000)"
    ),
    workers: int | None = typer.Option(
        None, min=1, help="PostgreSQL: ranges run side by side (default: the job_workers setting, 2)"
    ),
) -> None:
    """Expire due points and re-evaluate every member's tier in set-based SQL.

    Each job commits the members one id range at a time, so a till waits for one range at most.

    On PostgreSQL several ranges run at once. A run stopped half-way completes when run again.
    Each run is recorded as a job (`loyalty jobs list`); a kind already running is refused.
    """
    from loyalty.domain.actors import Actor
    from loyalty.services import jobs

    if job not in ("all", *_RUN):
        raise typer.BadParameter(_("use all, expire or tiers"), param_hint="'JOB'")
    ctx = context()
    when = as_of or ctx.now()
    if when.tzinfo is None:
        raise typer.BadParameter(_("--as-of needs a timezone, e.g. 2026-01-01T00:00:00+08:00"))
    params: dict[str, Any] = {"as_of": when.isoformat()}
    if range_size is not None:
        params["range_size"] = range_size
    if workers is not None:
        params["workers"] = workers
    cli = Actor(kind="system", id="cli", role="system")

    def everything() -> dict[str, object]:
        out: dict[str, object] = {}
        for name, kind in _RUN.items():
            if job in ("all", name):
                _job, out[name] = jobs.run_now(ctx, kind, cli, actor_name="cli", params=params)
        return out

    run(everything)


@app.command("list")
def list_jobs(
    kind: str | None = typer.Option(None, help="points_expiry | tier_evaluation | analytics_refresh"),
    limit: int = typer.Option(20, min=1, max=200, help="how many, newest first"),
) -> None:
    """The jobs run lately, newest first: kind, who started it, status, progress, result or error."""
    from loyalty.services import jobs

    ctx = context()
    run(lambda: jobs.list_jobs(ctx, kind=kind, limit=limit))


@app.command("show")
def show_job(job_id: int = typer.Argument(..., min=1, help="the job's id")) -> None:
    """One job with its progress, result or error (a running one as far as it has come)."""
    from loyalty.services import jobs

    ctx = context()
    run(lambda: jobs.get_job(ctx, job_id))
