"""`loyalty jobs run`: the nightly set-based jobs (points expiry, tier re-evaluation)."""

from __future__ import annotations

from datetime import datetime

import typer

from loyalty.cli._core import context, emit
from loyalty.i18n import translator

_ = translator("cli")

app = typer.Typer(help="Scheduled jobs.", no_args_is_help=True)


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
    """
    from loyalty.services import points, tiers

    ctx = context()
    when = as_of or ctx.now()
    if when.tzinfo is None:
        raise typer.BadParameter(_("--as-of needs a timezone, e.g. 2026-01-01T00:00:00+08:00"))
    out: dict[str, object] = {}
    if job in ("all", "expire"):
        out["expire"] = points.expire_points(ctx, when, range_size=range_size, workers=workers).model_dump()
    if job in ("all", "tiers"):
        out["tiers"] = tiers.evaluate_tiers(ctx, when, range_size=range_size, workers=workers).model_dump()
    emit(out)
