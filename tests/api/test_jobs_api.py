"""`/api/v1/jobs` and `/api/v1/analytics/*` on SQLite and PostgreSQL: a job started over the API runs
in the server's background and is followed to its end; a second run of a kind under way is a 409
naming the running job; the analytics figures are empty before a refresh and the refresh's after.
"""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from loyalty.domain.actors import SYSTEM
from loyalty.services import jobs
from loyalty.services.jobs import store
from tests.api.analytics_data import buying_members
from tests.api.api_world import World


def _followed(w: World, job_id: int, who: str = "admin") -> dict[str, Any]:
    """GET the job until it has ended (a minute at most)."""
    deadline = time.monotonic() + 60
    while True:
        resp = w.client.get(f"/api/v1/jobs/{job_id}", headers=w.as_(who))
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        if body["status"] in ("done", "failed") or time.monotonic() > deadline:
            return body
        time.sleep(0.1)


def test_before_any_refresh_the_figures_are_empty_not_errors(world: World) -> None:
    seg = world.client.get("/api/v1/analytics/segments", headers=world.as_("analyst")).json()
    assert seg["scored_at"] is None
    assert seg["members"] == 0
    assert [g["rfm_code"] for g in seg["groups"]] == ["222", "212", "122", "112", "221", "211", "121", "111"]
    assert {g["members"] for g in seg["groups"]} == {0}
    dist = world.client.get("/api/v1/analytics/distributions", headers=world.as_("marketer")).json()
    assert (dist["clv"], dist["p_alive"]) == ([], [])
    check = world.client.get("/api/v1/analytics/model-check", headers=world.as_("admin")).json()
    assert (check["holdout"], check["tracking"], check["calibration_end"]) == ([], [], None)


def test_a_job_started_over_the_api_is_followed_to_its_end(world: World) -> None:
    resp = world.client.post("/api/v1/jobs", json={"kind": "tier_evaluation"}, headers=world.as_("admin"))
    assert resp.status_code == 202, resp.text
    started = resp.json()
    assert (started["kind"], started["status"], started["started_by"]) == (
        "tier_evaluation",
        "queued",
        "admin1",
    )
    done = _followed(world, started["id"], "auditor")
    assert done["status"] == "done"
    assert done["result"]["evaluated"] >= 2
    assert done["progress"]["fraction"] == 1.0
    assert done["progress"]["done"] == done["progress"]["total"]
    listed = world.client.get(
        "/api/v1/jobs", params={"kind": "tier_evaluation"}, headers=world.as_("analyst")
    )
    assert started["id"] in [j["id"] for j in listed.json()["items"]]
    refused = world.client.get("/api/v1/jobs", params={"kind": "nightly"}, headers=world.as_("analyst"))
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "query.kind"
    # expiry and tiers need jobs:run, which an analyst has not (analytics:refresh is theirs)
    denied = world.client.post("/api/v1/jobs", json={"kind": "points_expiry"}, headers=world.as_("analyst"))
    assert denied.status_code == 403
    missing = world.client.get("/api/v1/jobs/987654", headers=world.as_("admin"))
    assert (missing.status_code, missing.json()["code"]) == (404, "JOB_NOT_FOUND")


def test_a_kind_under_way_answers_409_with_the_running_job(world: World) -> None:
    assert jobs.wait_all(60)
    held = store.create(world.ctx, "points_expiry", SYSTEM, actor_name="nightly")
    try:
        resp = world.client.post("/api/v1/jobs", json={"kind": "points_expiry"}, headers=world.as_("admin"))
        assert resp.status_code == 409, resp.text
        problem = resp.json()
        assert problem["code"] == "JOB_ALREADY_RUNNING"
        assert problem["job_id"] == held.id
        assert problem["job"]["status"] == "queued"
        other = world.client.post(
            "/api/v1/jobs", json={"kind": "tier_evaluation"}, headers=world.as_("admin")
        )
        assert other.status_code == 202  # one at a time per kind, not in all
        assert _followed(world, other.json()["id"])["status"] == "done"
    finally:
        store.fail(world.ctx, held.id, "TEST", "released by the test")
    again = world.client.post("/api/v1/jobs", json={"kind": "points_expiry"}, headers=world.as_("admin"))
    assert again.status_code == 202
    assert _followed(world, again.json()["id"])["status"] == "done"


def test_a_refresh_started_over_the_api_fills_the_figures(world: World) -> None:
    member_ids = buying_members(world.ctx, world.store_a, count=40, prefix="API")
    resp = world.client.post("/api/v1/jobs", json={"kind": "analytics_refresh"}, headers=world.as_("analyst"))
    assert resp.status_code == 202, resp.text
    done = _followed(world, resp.json()["id"], "analyst")
    assert done["status"] == "done", done["error"]
    assert done["result"]["members_scored"] == len(member_ids)
    seg = world.client.get("/api/v1/analytics/segments", headers=world.as_("marketer")).json()
    assert seg["members"] == len(member_ids)
    assert seg["scored_at"] is not None
    assert sum(g["members"] for g in seg["groups"]) == len(member_ids)
    assert abs(sum(g["share"] for g in seg["groups"]) - 1) < 1e-9
    high = seg["groups"][0]
    assert (high["segment"], high["name_zh"], high["name_en"]) == ("high_value", "重要价值客户", "High value")
    assert high["spend"]["currency"] == "CNY"
    spend = sum(Decimal(g["spend"]["amount"]) for g in seg["groups"])
    assert spend > 0
    dist = world.client.get("/api/v1/analytics/distributions", headers=world.as_("analyst")).json()
    assert sum(b["members"] for b in dist["p_alive"]) + dist["members_without_p_alive"] == len(member_ids)
    assert sum(b["members"] for b in dist["clv"]) + dist["members_without_clv"] == len(member_ids)
    assert dist["clv"][0]["lo"] is None
    assert dist["clv"][1]["lo"] == dist["clv"][0]["hi"]
    check = world.client.get("/api/v1/analytics/model-check", headers=world.as_("analyst")).json()
    assert check["problem"] is None
    assert sum(h["members"] for h in check["holdout"]) == len(member_ids)
    assert check["tracking"][-1]["holdout"] is True
    assert check["params"]["model"] == "bgnbd"


def test_the_cli_shows_the_same_figures(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loyalty.cli import app
    from loyalty.config import get_settings

    api = world.client.get("/api/v1/analytics/segments", headers=world.as_("analyst")).json()
    assert api["members"] > 0  # the refresh of the test above
    monkeypatch.setenv("LOYALTY_DATABASE_URL", world.url)
    get_settings.cache_clear()
    try:
        cli = CliRunner()
        shown = cli.invoke(app, ["analytics", "figures"])
        written = cli.invoke(
            app, ["analytics", "figures", "--table", "segments", "-o", str(tmp_path / "g.xlsx")]
        )
        half = cli.invoke(app, ["analytics", "figures", "--table", "segments"])
        listed = cli.invoke(app, ["jobs", "list", "--kind", "analytics_refresh"])
    finally:
        get_settings.cache_clear()
    assert shown.exit_code == 0, shown.output
    figures = json.loads(shown.output)
    assert [g["members"] for g in figures["segments"]] == [g["members"] for g in api["groups"]]
    assert [g["spend"] for g in figures["segments"]] == [g["spend"]["amount"] for g in api["groups"]]
    assert figures["holdout"]
    assert written.exit_code == 0, written.output
    workbook = load_workbook(tmp_path / "g.xlsx", read_only=True)
    try:
        sheet = workbook.active
        assert sheet is not None
        rows = list(sheet.iter_rows(values_only=True))
    finally:
        workbook.close()
    assert [r[0] for r in rows[1:]] == [g["rfm_code"] for g in api["groups"]]
    assert half.exit_code == 2
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.output)[0]["actor_name"] == "analyst1"
