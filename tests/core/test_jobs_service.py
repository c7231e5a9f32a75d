"""Jobs run by hand (services.jobs), on SQLite and PostgreSQL: a background run reports its progress
and result, a failure is recorded and applies nothing the service would not, a kind already under
way refuses a second run, and a run whose process died reads as abandoned with its last progress.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from loyalty.bootstrap import Context, FrozenClock
from loyalty.db.analytics_tables import analytics_refreshes, member_scores
from loyalty.db.core_tables import audit_log
from loyalty.db.core_tables import purchases as purchases_t
from loyalty.domain.actors import SYSTEM, Actor
from loyalty.services import jobs, points, seed, tiers
from loyalty.services.jobs import runner, store
from tests.api.analytics_data import buying_members
from tests.core.conftest import T0

ADMIN = Actor(kind="staff", id="7", role="admin")


@pytest.fixture
def spied(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int, int | None, str | None]]:
    """Every progress write of the jobs: (job id, done, total, step), written to the table as usual."""
    seen: list[tuple[int, int, int | None, str | None]] = []
    write = store.report

    def report(ctx: Context, job_id: int, done: int, total: int | None, step: str | None) -> None:
        seen.append((job_id, done, total, step))
        write(ctx, job_id, done, total, step)

    monkeypatch.setattr(store, "report", report)
    monkeypatch.setattr(runner, "PROGRESS_EVERY_S", 0.0)
    return seen


def _count(ctx: Context, table: Any) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_the_range_jobs_report_each_range_and_do_what_they_did_without(
    ctx: Context, programme: seed.ProgrammeIds
) -> None:
    buying_members(ctx, programme.store_id, count=6)
    heard: list[tuple[int, int]] = []
    when = T0 + timedelta(days=800)  # every lot is due
    expired = points.expire_points(ctx, when, range_size=2, progress=lambda d, t: heard.append((d, t)))
    total = heard[0][1]
    assert total >= 3
    assert heard == [(n, total) for n in range(total + 1)]
    assert expired.lots_expired > 0
    again = points.expire_points(ctx, when, range_size=2)  # the same run without progress: nothing left
    assert again.lots_expired == 0
    heard.clear()
    evaluated = tiers.evaluate_tiers(ctx, T0, range_size=3, progress=lambda d, t: heard.append((d, t)))
    assert heard[-1] == (heard[0][1], heard[0][1])
    assert evaluated.evaluated == 6


def test_a_background_job_reports_its_ranges_and_records_its_result(
    ctx: Context, programme: seed.ProgrammeIds, spied: list[tuple[int, int, int | None, str | None]]
) -> None:
    buying_members(ctx, programme.store_id, count=5)
    queued = jobs.start(ctx, "tier_evaluation", ADMIN, actor_name="admin1", params={"range_size": 1})
    assert queued.status == "queued"
    assert (queued.actor_kind, queued.actor_id, queued.actor_name) == ("staff", "7", "admin1")
    assert jobs.wait(queued.id, 60)
    done = jobs.get_job(ctx, queued.id)
    assert done.status == "done"
    assert done.result is not None
    assert done.result["evaluated"] == 5
    ranges = [(d, t) for j, d, t, step in spied if j == queued.id and step == "ranges"]
    total = ranges[0][1]
    assert total is not None
    assert total >= 5  # one id per range
    assert ranges == [(n, total) for n in range(total + 1)]
    assert (done.progress_done, done.progress_total, done.fraction) == (total, total, 1.0)
    assert done.started_at is not None
    assert done.finished_at is not None
    assert jobs.active_job(ctx, "tier_evaluation") is None
    with ctx.engine.connect() as conn:
        started = conn.execute(select(audit_log).where(audit_log.c.action == "job.start")).all()
    assert [(r.actor_id, r.entity, r.entity_id) for r in started] == [("7", "job", str(queued.id))]


def test_an_analytics_refresh_reports_its_stages_and_keeps_the_models_check(
    ctx: Context, programme: seed.ProgrammeIds, spied: list[tuple[int, int, int | None, str | None]]
) -> None:
    member_ids = buying_members(ctx, programme.store_id, count=40)
    job = jobs.start(ctx, "analytics_refresh", ADMIN)
    assert jobs.wait(job.id, 120)
    done = jobs.get_job(ctx, job.id)
    assert done.status == "done", done.error
    assert done.result == {"members_scored": len(member_ids), "model": "bgnbd"}
    steps = [(d, t, step) for j, d, t, step in spied if j == job.id]
    assert steps == [(0, 4, "load"), (1, 4, "score"), (2, 4, "check"), (3, 4, "write"), (4, 4, "done")]
    assert _count(ctx, member_scores) == len(member_ids)
    with ctx.engine.connect() as conn:
        row = conn.execute(select(analytics_refreshes)).one()
    assert row.members == len(member_ids)
    assert row.currency == "CNY"
    assert row.problem is None
    assert row.calibration_end is not None
    assert sum(h["customers"] for h in row.holdout) == len(member_ids)
    assert row.tracking
    assert any(t["holdout"] for t in row.tracking)
    assert not all(t["holdout"] for t in row.tracking)


def test_a_failed_job_records_its_error_and_writes_nothing(
    ctx: Context, programme: seed.ProgrammeIds, spied: list[tuple[int, int, int | None, str | None]]
) -> None:
    buying_members(ctx, programme.store_id, count=5)
    # one sale in dollars, as an old import could have left it: member analytics sums one currency
    with ctx.engine.begin() as conn:
        first = conn.execute(select(func.min(purchases_t.c.id))).scalar_one()
        conn.execute(update(purchases_t).where(purchases_t.c.id == first).values(currency="USD"))
    job = jobs.start(ctx, "analytics_refresh", ADMIN)
    assert jobs.wait(job.id, 120)
    failed = jobs.get_job(ctx, job.id)
    assert failed.status == "failed"
    assert failed.error_code == "INVALID_INPUT"
    assert failed.error is not None
    assert "several currencies" in failed.error
    assert failed.finished_at is not None
    assert (failed.progress_done, failed.progress_total) == (0, 4)  # it stopped where it failed
    assert _count(ctx, member_scores) == 0
    assert _count(ctx, analytics_refreshes) == 0
    # the kind is free again: a new run is accepted (and fails the same way)
    again = jobs.start(ctx, "analytics_refresh", ADMIN)
    assert jobs.wait(again.id, 120)
    assert jobs.get_job(ctx, again.id).status == "failed"


def test_a_kind_under_way_refuses_a_second_run_with_the_running_one(
    ctx: Context, programme: seed.ProgrammeIds
) -> None:
    held = store.create(ctx, "points_expiry", ADMIN, actor_name="admin1")  # queued, as if just started
    with pytest.raises(jobs.JobAlreadyRunning) as refused:
        jobs.start(ctx, "points_expiry", ADMIN)
    details = refused.value.details or {}
    assert details["job_id"] == held.id
    assert details["job"]["status"] == "queued"
    assert refused.value.code == "JOB_ALREADY_RUNNING"
    with pytest.raises(jobs.JobAlreadyRunning):
        jobs.run_now(ctx, "points_expiry", SYSTEM)
    assert [j.id for j in jobs.list_jobs(ctx)] == [held.id]  # the refused runs left no row
    other = jobs.start(ctx, "tier_evaluation", ADMIN)  # another kind runs meanwhile
    assert jobs.wait(other.id, 60)
    assert jobs.get_job(ctx, other.id).status == "done"
    store.finish(ctx, held.id, {"lots_expired": 0, "points_expired": 0})
    after = jobs.start(ctx, "points_expiry", ADMIN)
    assert jobs.wait(after.id, 60)
    assert jobs.get_job(ctx, after.id).status == "done"


def test_a_job_left_running_by_a_dead_process_reads_as_abandoned(
    ctx: Context, clock: FrozenClock, programme: seed.ProgrammeIds
) -> None:
    left = store.create(ctx, "tier_evaluation", ADMIN)  # a row no thread of this process runs
    store.mark_running(ctx, left.id)
    store.report(ctx, left.id, 3, 10, "ranges")
    clock.advance(seconds=30)
    assert jobs.get_job(ctx, left.id).status == "running"  # its heartbeat is recent enough
    clock.advance(seconds=31)
    abandoned = jobs.get_job(ctx, left.id)
    assert abandoned.status == "failed"
    assert abandoned.error_code == "JOB_ABANDONED"
    assert (abandoned.progress_done, abandoned.progress_total, abandoned.progress_step) == (3, 10, "ranges")
    fresh = jobs.start(ctx, "tier_evaluation", ADMIN)
    assert jobs.wait(fresh.id, 60)
    assert jobs.get_job(ctx, fresh.id).status == "done"


def test_run_now_records_the_run_and_raises_the_services_error(
    ctx: Context, programme: seed.ProgrammeIds
) -> None:
    with pytest.raises(ValueError, match="at least one worker"):
        jobs.run_now(ctx, "tier_evaluation", SYSTEM, params={"workers": 0})
    failed = jobs.list_jobs(ctx)[0]
    assert (failed.status, failed.error_code) == ("failed", "INTERNAL_ERROR")
    assert failed.error == "ValueError: a job needs at least one worker"
    done, result = jobs.run_now(ctx, "points_expiry", SYSTEM, params={"as_of": T0.isoformat()})
    assert done.status == "done"
    assert result == {"lots_expired": 0, "points_expired": 0}
    with pytest.raises(jobs.JobNotFound):
        jobs.get_job(ctx, 999_999)


def test_the_cli_runs_lists_and_shows_jobs(
    db_url: str, ctx: Context, programme: seed.ProgrammeIds, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loyalty.cli import app
    from loyalty.config import get_settings

    buying_members(ctx, programme.store_id, count=3)
    monkeypatch.setenv("LOYALTY_DATABASE_URL", db_url)
    get_settings.cache_clear()
    try:
        cli = CliRunner()
        when = (T0 + timedelta(days=800)).isoformat()
        ran = cli.invoke(app, ["jobs", "run", "--as-of", when, "--range-size", "1"])
        listed = cli.invoke(app, ["jobs", "list"])
        shown = cli.invoke(app, ["jobs", "show", "1"])
        missing = cli.invoke(app, ["jobs", "show", "999"])
        bad = cli.invoke(app, ["jobs", "run", "everything"])
    finally:
        get_settings.cache_clear()
    assert ran.exit_code == 0, ran.output
    out = json.loads(ran.output)
    assert out["expire"]["lots_expired"] > 0
    assert out["tiers"]["evaluated"] == 3
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    assert [(r["kind"], r["status"], r["actor_name"]) for r in rows] == [
        ("tier_evaluation", "done", "cli"),
        ("points_expiry", "done", "cli"),
    ]
    assert rows[1]["params"]["as_of"] == when
    assert rows[1]["progress_done"] == rows[1]["progress_total"] >= 3
    assert json.loads(shown.output)["kind"] == "points_expiry"
    assert missing.exit_code == 1
    assert "JOB_NOT_FOUND" in missing.stderr
    assert bad.exit_code == 2
