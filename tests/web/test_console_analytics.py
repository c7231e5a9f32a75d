"""The analyst's page (`/console/analytics`) and the jobs page (`/console/admin/jobs`) through the
test client, on SQLite and PostgreSQL: the page before analytics ever ran, a refresh started and
followed to its end, the RFM groups, distributions and model check it shows (the same figures as the
service and the API), each table downloaded as CSV and xlsx and audited, and the jobs page.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta
from html import unescape
from typing import Any

from openpyxl import load_workbook
from sqlalchemy import text, update

from loyalty.analytics.segments import BINARY_SEGMENTS
from loyalty.db.jobs_tables import jobs as jobs_table
from loyalty.domain.actors import SYSTEM
from loyalty.services import jobs, member_analytics
from loyalty.services.jobs import store
from tests.api.analytics_data import buying_members
from tests.api.api_world import World
from tests.web.analytics_pages import POLL, charts_on, follow_job
from tests.web.console_client import Console, as_


def _audit(world: World, action: str) -> list[dict[str, Any]]:
    with world.ctx.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT actor_id, action, entity_id, after FROM audit_log WHERE action = :a ORDER BY id"),
            {"a": action},
        )
        return [dict(r._mapping) for r in rows]


def _after(row: dict[str, Any]) -> dict[str, Any]:
    after = row["after"]
    return dict(json.loads(after) if isinstance(after, str) else after)


def test_before_any_refresh_the_page_says_so_and_offers_one(world: World) -> None:
    analyst = as_(world.app, "analyst1").get("/console/analytics").text
    assert "Analytics has not run yet" in analyst
    assert 'action="/console/analytics/refresh"' in analyst
    assert 'id="groups"' not in analyst
    marketer = as_(world.app, "marketer1").get("/console/analytics").text
    assert "Analytics has not run yet" in marketer
    assert 'action="/console/analytics/refresh"' not in marketer  # analytics:read, not :refresh
    denied = as_(world.app, "cashier1").get("/console/analytics")
    assert denied.status_code == 403
    refused = as_(world.app, "analyst1").post(
        "/console/analytics/download", {"table": "segments", "format": "csv"}
    )
    assert refused.status_code == 303
    assert refused.headers["location"] == "/console/analytics"


def test_an_analyst_refreshes_and_sees_the_groups_charts_and_check(world: World) -> None:
    member_ids = buying_members(world.ctx, world.store_a, count=40, prefix="WEB")
    analyst = as_(world.app, "analyst1")
    started = analyst.post("/console/analytics/refresh")
    assert (started.status_code, started.headers["location"]) == (303, "/console/analytics")
    page = analyst.get("/console/analytics").text
    assert "Analytics refresh started" in page
    assert POLL.search(page), "the page follows the running refresh"
    done = follow_job(analyst, page)
    assert "Done" in done
    assert f"{len(member_ids)} members scored" in done
    assert 'href="/console/analytics"' in done  # the way to the new figures

    page = analyst.get("/console/analytics").text
    figures = member_analytics.overview(world.ctx)
    assert figures.members == len(member_ids)
    assert f"Scores of {len(member_ids)} members" in page
    groups = re.findall(
        r'<tr data-rfm="(\d{3})">\s*<th scope="row">([^<]+)</th>.*?<td class="num">([\d,]+)</td>', page, re.S
    )
    assert [(code, unescape(name)) for code, name, _n in groups] == [
        (code, seg.en) for code, seg in BINARY_SEGMENTS.items()
    ]
    assert [int(n.replace(",", "")) for _c, _name, n in groups] == [g.members for g in figures.groups]
    assert all(seg.action_en in unescape(page) for seg in BINARY_SEGMENTS.values())
    assert "¥" in page or "CN¥" in page  # money with its currency
    charts = charts_on(page)
    assert [c["kind"] for c in charts] == ["bar", "bar", "bar", "line"]
    clv, p_alive, holdout, tracking = charts
    assert sum(clv["series"][0]["data"]) == len(member_ids) - figures.without_clv
    assert sum(p_alive["series"][0]["data"]) == len(member_ids) - figures.without_p_alive
    assert [s["label"] for s in holdout["series"]] == ["Actual", "Predicted by the model"]
    assert tracking["marker"]["label"] == "calibration end"
    for key in ("clv", "p_alive", "holdout", "tracking"):
        assert f'id="table-{key}"' in page  # each chart has its table
    assert not re.search(r"<script(?![^>]*\bsrc=)", page)
    assert " style=" not in page
    assert "<style" not in page


def test_each_table_downloads_as_csv_and_xlsx_and_is_audited(world: World) -> None:
    analyst = as_(world.app, "analyst1")
    figures = member_analytics.overview(world.ctx)
    assert not figures.never_ran  # the refresh of the test above
    before = len(_audit(world, "export.analytics"))
    csv_file = analyst.post("/console/analytics/download", {"table": "segments", "format": "csv"})
    assert csv_file.status_code == 200
    assert csv_file.headers["content-type"].startswith("text/csv")
    assert re.match(
        r'attachment; filename="rfm-groups-\d{4}-\d{2}-\d{2}\.csv"', csv_file.headers["content-disposition"]
    )
    rows = list(csv.DictReader(io.StringIO(csv_file.content.decode("utf-8-sig"))))
    assert [r["rfm_code"] for r in rows] == list(BINARY_SEGMENTS)
    assert [int(r["members"]) for r in rows] == [g.members for g in figures.groups]
    assert rows[0]["segment_zh"] == "重要价值客户"
    assert {r["currency"] for r in rows} == {"CNY"}
    xlsx = analyst.post("/console/analytics/download", {"table": "segments", "format": "xlsx"})
    assert xlsx.status_code == 200
    workbook = load_workbook(io.BytesIO(xlsx.content), read_only=True)
    try:
        sheet = workbook.active
        assert sheet is not None
        cells = [list(r) for r in sheet.iter_rows(values_only=True)]
    finally:
        workbook.close()
    assert cells[0][:5] == ["rfm_code", "segment", "segment_zh", "segment_en", "members"]
    assert [int(r[4]) for r in cells[1:]] == [g.members for g in figures.groups]
    for table in ("clv", "p_alive", "holdout", "tracking"):
        got = analyst.post("/console/analytics/download", {"table": table, "format": "csv"})
        assert got.status_code == 200, table
        assert len(got.content.decode("utf-8-sig").splitlines()) > 2, table
    audited = _audit(world, "export.analytics")[before:]
    assert [_after(r)["table"] for r in audited] == [
        "segments",
        "segments",
        "clv",
        "p_alive",
        "holdout",
        "tracking",
    ]
    assert {r["actor_id"] for r in audited} == {str(world.staff_ids["analyst"])}
    bad = analyst.post("/console/analytics/download", {"table": "secrets", "format": "csv"})
    assert bad.status_code == 422
    assert "unknown table secrets" in bad.text


def test_the_members_scores_are_masked_unless_the_role_may_see_them(world: World) -> None:
    analyst = as_(world.app, "analyst1").post(
        "/console/analytics/download", {"table": "members", "format": "csv"}
    )
    admin = as_(world.app, "admin1").post(
        "/console/analytics/download", {"table": "members", "format": "csv"}
    )
    masked = list(csv.DictReader(io.StringIO(analyst.content.decode("utf-8-sig"))))
    clear = list(csv.DictReader(io.StringIO(admin.content.decode("utf-8-sig"))))
    assert len(masked) == len(clear) == member_analytics.overview(world.ctx).members
    assert all("****" in r["phone"] for r in masked)
    assert not any("****" in r["phone"] for r in clear)
    assert not {r["phone"] for r in clear} & set(analyst.text.split(","))
    exports = _audit(world, "export.segments")
    assert [_after(r)["pii"] for r in exports[-2:]] == ["masked", "clear"]


def test_a_second_refresh_while_one_runs_is_refused_with_a_message(world: World) -> None:
    assert jobs.wait_all(60)
    held = store.create(world.ctx, "analytics_refresh", SYSTEM, actor_name="nightly")
    try:
        analyst = as_(world.app, "analyst1")
        again = analyst.post("/console/analytics/refresh", follow_redirects=True)
        assert "Analytics refresh is already running" in again.text
        assert POLL.search(again.text)  # the running one is followed on the page
    finally:
        store.fail(world.ctx, held.id, "TEST", "released by the test")


def test_the_jobs_page_starts_and_follows_jobs_by_permission(world: World) -> None:
    admin = as_(world.app, "admin1")
    page = admin.get("/console/admin/jobs").text
    assert all(f'value="{k}"' in page for k in ("points_expiry", "tier_evaluation", "analytics_refresh"))
    started = admin.post("/console/admin/jobs", {"kind": "tier_evaluation"}, follow_redirects=True)
    assert "Tier evaluation started" in started.text
    done = follow_job(admin, started.text)
    assert "members evaluated" in done
    analyst = as_(world.app, "analyst1").get("/console/admin/jobs").text
    assert 'value="analytics_refresh"' in analyst
    assert 'value="tier_evaluation"' not in analyst
    denied = as_(world.app, "analyst1").post("/console/admin/jobs", {"kind": "points_expiry"})
    assert denied.status_code == 403
    auditor = as_(world.app, "auditor1").get("/console/admin/jobs").text
    # reads every job, and starts only an anomaly scan (anomalies:review)
    assert 'value="anomaly_scan"' in auditor
    assert 'value="tier_evaluation"' not in auditor
    assert 'value="analytics_refresh"' not in auditor
    assert "Tier evaluation" in auditor
    # a marketer follows an analytics refresh (analytics:read), not the other jobs
    tier_job = jobs.list_jobs(world.ctx, kind="tier_evaluation")[0].id
    refresh_job = jobs.list_jobs(world.ctx, kind="analytics_refresh")[0].id
    marketer = as_(world.app, "marketer1")
    assert marketer.get(f"/console/admin/jobs/{refresh_job}/progress").status_code == 200
    assert marketer.get(f"/console/admin/jobs/{tier_job}/progress").status_code == 403
    assert admin.get("/console/admin/jobs/987654/progress").status_code == 404


def test_an_abandoned_job_is_shown_as_such(world: World) -> None:
    assert jobs.wait_all(60)
    left = store.create(world.ctx, "points_expiry", SYSTEM, actor_name="nightly")
    store.mark_running(world.ctx, left.id)
    store.report(world.ctx, left.id, 2, 5, "ranges")
    fragment = as_(world.app, "admin1").get(f"/console/admin/jobs/{left.id}/progress").text
    assert "Running" in fragment  # a recent heartbeat: still running, 2 of 5 ranges
    assert "2 of 5 id ranges done" in fragment
    with world.ctx.engine.begin() as conn:  # its process died: no heartbeat for two minutes
        stopped = world.ctx.now() - timedelta(minutes=2)
        conn.execute(update(jobs_table).where(jobs_table.c.id == left.id).values(heartbeat_at=stopped))
    fragment = as_(world.app, "admin1").get(f"/console/admin/jobs/{left.id}/progress").text
    assert "Abandoned at “2 of 5 id ranges done”" in fragment  # where it stopped
    assert "hx-trigger" not in fragment


def test_the_page_is_in_chinese_by_default(world: World) -> None:
    zh = Console(world.app, **{"Accept-Language": "zh-CN"})
    assert zh.login("analyst1").status_code == 303
    page = zh.get("/console/analytics").text
    assert "会员分析" in page
    assert "重要价值客户" in page
    assert "High value" not in page
    jobs_page = zh.get("/console/admin/jobs").text
    assert "任务" in jobs_page
