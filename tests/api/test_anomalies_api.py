"""`/api/v1/anomalies`: the queue as each reader sees it, a review that suspends redemptions (the
redemption then answers 409 until a reviewer lifts it), the rules and a scan started as a job."""

from __future__ import annotations

from typing import Any

from tests.anomalies.helpers import fresh_flag
from tests.api.api_world import World, wait_for_jobs


def _get(world: World, who: str, url: str, **params: Any) -> Any:
    resp = world.client.get(url, params=params, headers=world.as_(who))
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_store_managers_see_their_stores_flags_and_reasons_follow_the_language(world: World) -> None:
    flag_a, member_a = fresh_flag(world.ctx, world.store_a)
    flag_b, _member_b = fresh_flag(world.ctx, world.store_b)
    admin = {f["id"] for f in _get(world, "admin", "/api/v1/anomalies/flags", limit=500)["items"]}
    assert {flag_a, flag_b} <= admin
    mine = _get(world, "store_manager", "/api/v1/anomalies/flags", limit=500)
    assert flag_a in {f["id"] for f in mine["items"]}
    assert flag_b not in {f["id"] for f in mine["items"]}
    assert all(f["store_id"] == world.store_a for f in mine["items"])
    hidden = world.client.get(f"/api/v1/anomalies/flags/{flag_b}", headers=world.as_("store_manager"))
    assert hidden.status_code == 404
    assert hidden.json()["code"] == "ANOMALY_FLAG_NOT_FOUND"
    refused = world.client.get(
        "/api/v1/anomalies/flags", params={"store": world.store_b}, headers=world.as_("store_manager")
    )
    assert refused.status_code == 403

    one = _get(world, "analyst", f"/api/v1/anomalies/flags/{flag_a}")
    assert (one["member_id"], one["kind"], one["status"], one["reason_code"]) == (
        member_a,
        "points_earned",
        "open",
        "points_earned_day",
    )
    assert one["reason"].startswith("Earned 1 points on ")
    assert one["figures"]["limit"] == 1
    chinese = world.client.get(
        f"/api/v1/anomalies/flags/{flag_a}", headers={**world.as_("analyst"), "Accept-Language": "zh-CN"}
    ).json()
    assert chinese["reason"] != one["reason"]
    assert "积分" in chinese["reason"]
    bad = world.client.get("/api/v1/anomalies/flags", params={"kind": "nope"}, headers=world.as_("admin"))
    assert bad.status_code == 422


def test_a_confirmed_flag_suspends_redemptions_until_lifted(world: World) -> None:
    flag_id, member_id = fresh_flag(world.ctx, world.store_a)
    gift = world.client.post(
        "/api/v1/points/adjust",
        json={"member_id": member_id, "points": 500, "reason": "welcome"},
        headers=world.as_("admin"),
    )
    assert gift.status_code == 201, gift.text
    analyst = world.client.post(
        f"/api/v1/anomalies/flags/{flag_id}/review",
        json={"decision": "approve"},
        headers=world.as_("analyst"),
    )
    assert analyst.status_code == 403
    reviewed = world.client.post(
        f"/api/v1/anomalies/flags/{flag_id}/review",
        json={"decision": "approve", "suspend": True, "note": "farming"},
        headers=world.as_("auditor"),
    )
    assert reviewed.status_code == 200, reviewed.text
    body = reviewed.json()
    assert (body["status"], body["suspended"], body["member_suspended"], body["reviewed_by"]) == (
        "approved",
        True,
        True,
        "auditor1",
    )
    redeem = {"member_id": member_id, "store_id": world.store_a, "points": 100}
    refused = world.client.post("/api/v1/points/redeem", json=redeem, headers=world.as_("cashier"))
    assert refused.status_code == 409
    assert refused.json()["code"] == "REDEMPTION_SUSPENDED"
    again = world.client.post(
        f"/api/v1/anomalies/flags/{flag_id}/review", json={"decision": "reject"}, headers=world.as_("admin")
    )
    assert (again.status_code, again.json()["code"]) == (409, "ANOMALY_FLAG_REVIEWED")
    suspended = _get(world, "store_manager", "/api/v1/anomalies/suspensions")
    assert member_id in {s["member_id"] for s in suspended}

    lifted = world.client.post(
        f"/api/v1/anomalies/suspensions/{member_id}/lift",
        json={"note": "cleared"},
        headers=world.as_("admin"),
    )
    assert lifted.status_code == 204
    assert (
        world.client.post("/api/v1/points/redeem", json=redeem, headers=world.as_("cashier")).status_code
        == 201
    )
    gone = world.client.post(
        f"/api/v1/anomalies/suspensions/{member_id}/lift", json={}, headers=world.as_("admin")
    )
    assert (gone.status_code, gone.json()["code"]) == (404, "SUSPENSION_NOT_FOUND")
    audit = world.client.get("/api/v1/audit", params={"limit": 200}, headers=world.as_("auditor")).json()
    actions = {row["action"] for row in audit["items"]}
    assert {"anomalies.review", "anomalies.suspend", "anomalies.lift"} <= actions


def test_rules_read_and_changed_with_the_bad_field_named(world: World) -> None:
    rules = {r["code"]: r for r in _get(world, "store_manager", "/api/v1/anomalies/rules")["rules"]}
    assert set(rules) >= {"points_earned", "velocity", "shared_card", "robust_z", "isolation_forest"}
    per_hour = next(p for p in rules["velocity"]["params"] if p["name"] == "per_hour")
    assert (per_hour["default"], per_hour["minimum"]) == (6, 2)
    bad = world.client.put(
        "/api/v1/anomalies/rules",
        json={"rules": {"velocity": {"params": {"per_hour": 1}}}},
        headers=world.as_("admin"),
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "rules.velocity.params.per_hour"
    ok = world.client.put(
        "/api/v1/anomalies/rules",
        json={"rules": {"velocity": {"params": {"per_hour": 8}}}},
        headers=world.as_("auditor"),
    )
    assert ok.status_code == 200, ok.text
    velocity = next(r for r in ok.json()["rules"] if r["code"] == "velocity")
    assert (velocity["customised"], velocity["params"][0]["value"]) == (True, 8)


def test_a_scan_runs_as_a_job(world: World) -> None:
    wait_for_jobs()
    started = world.client.post(
        "/api/v1/anomalies/scans",
        json={"start": "2026-03-01", "end": "2026-03-31"},
        headers=world.as_("admin"),
    )
    assert started.status_code == 202, started.text
    job = started.json()
    assert (job["kind"], job["params"]) == ("anomaly_scan", {"start": "2026-03-01", "end": "2026-03-31"})
    wait_for_jobs()
    done = _get(world, "auditor", f"/api/v1/jobs/{job['id']}")
    assert done["status"] == "done", done
    assert done["result"]["start"] == "2026-03-01"
    backwards = world.client.post(
        "/api/v1/anomalies/scans",
        json={"start": "2026-03-31", "end": "2026-03-01"},
        headers=world.as_("admin"),
    )
    assert (backwards.status_code, backwards.json()["code"]) == (422, "ANOMALY_SCAN_INVALID")
