"""`/api/v1/targets`: March 2026 of tests/targets/conftest.py's chain, set and followed through the API
on 16 March at 04:00 UTC, every figure worked out by hand (tests/targets/test_progress.py shows how):

    store  target   actual   achieved  month gone  ahead    forecast           needed/day
    S001   3000.00  1500.00  0.5000    0.5000       0.00    2750.00 (0.9167)   96.78
    BER    1500.00   900.00  0.6000    0.4906      10.94    1520.00 (1.0133)   38.00
    SH2    1200.00   400.00  0.3333    0.5000     -16.67     800.00 (0.6667)   51.62
    NEW     400.00   300.00  0.7500    0.5000      25.00     600.00 (1.5000)    6.46
    chain  6100.00  3100.00  0.5082    0.4977       1.05    5670.00 (0.9295)

Money on the wire as the KPIs put it (`{"amount", "currency"}`), new members as counts; who may read
and change what; bad months, metrics, amounts and stores refused naming their field. Both backends.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.targets.served import Served, served

MONTH = "/api/v1/targets/2026-03"
JUNE = "/api/v1/targets/2026-06/plans/sales"
JUNE_JOINED = "/api/v1/targets/2026-06/plans/new_members"


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with served(request.param, tmp_path_factory.mktemp("targets-api")) as s:
        by_hand = {"S001": "3000", "BER": "1500.00", "SH2": "1200", "NEW": "400"}
        made = s.client.put(
            f"{MONTH}/plans/sales",
            json={"chain_target": "6100.00", "targets": by_hand},
            headers=s.as_("admin1"),
        )
        assert made.status_code == 200, made.text
        joined = s.client.patch(
            f"{MONTH}/plans/new_members",
            json={"targets": {"S001": "2", "BER": "1", "SH2": "0", "NEW": "0"}, "note": "spring push"},
            headers=s.as_("admin1"),
        )
        assert joined.status_code == 200, joined.text
        yield s


def _get(api: Served, who: str, url: str, **params: Any) -> Any:
    resp = api.client.get(url, params=params, headers=api.as_(who))
    assert resp.status_code == 200, resp.text
    return resp.json()


def _cny(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "CNY"}


def test_the_plans_set_through_the_api(api: Served) -> None:
    plan = _get(api, "analyst1", f"{MONTH}/plans/sales")
    assert (plan["month"], plan["metric"], plan["method"], plan["currency"]) == (
        "2026-03",
        "sales",
        "manual",
        "CNY",
    )
    assert plan["chain_target"] == _cny("6100.00")
    assert plan["step"] == _cny("0.01")
    assert [(t["store"]["code"], t["target"]["amount"], t["by_hand"]) for t in plan["stores"]] == [
        ("S001", "3000.00", True), ("BER", "1500.00", True), ("SH2", "1200.00", True), ("NEW", "400.00", True)
    ]  # fmt: skip
    assert (plan["created_by"], plan["creator_name"]) == (f"staff:{_staff_id(api, 'admin1')}", "admin1")
    joined = _get(api, "marketer1", f"{MONTH}/plans/new_members")
    assert (joined["chain_target"], joined["currency"], joined["note"]) == (3, None, "spring push")
    assert [t["target"] for t in joined["stores"]] == [2, 1, 0, 0]


def _staff_id(api: Served, username: str) -> int:
    from loyalty.services import auth

    return next(u.id for u in auth.list_staff(api.ctx) if u.username == username)


def test_progress_worked_out_by_hand(api: Served) -> None:
    p = _get(api, "analyst1", f"{MONTH}/progress", metric="sales")
    assert (p["month"], p["currency"], p["forecast_weeks"], p["as_of"]) == (
        "2026-03", "CNY", 8, "2026-03-16T04:00:00Z"
    )  # fmt: skip
    rows = {s["store"]["code"]: (s["state"], s["forecast_method"], s["standings"][0]) for s in p["stores"]}
    assert {k: v[:2] for k, v in rows.items()} == {
        "S001": ("current", "weekday"), "BER": ("current", "weekday"), "SH2": ("current", "weekday"),
        "NEW": ("current", "linear"),
    }  # fmt: skip

    def row(s: dict[str, Any]) -> tuple[Any, ...]:
        return (s["target"]["amount"], s["actual"]["amount"], s["progress"], s["elapsed"], s["ahead_points"],
                s["forecast"]["amount"], s["forecast_ratio"], s["needed_per_day"]["amount"])  # fmt: skip

    assert row(rows["S001"][2]) == (
        "3000.00",
        "1500.00",
        "0.5000",
        "0.5000",
        "0.00",
        "2750.00",
        "0.9167",
        "96.78",
    )
    assert row(rows["BER"][2]) == (
        "1500.00",
        "900.00",
        "0.6000",
        "0.4906",
        "10.94",
        "1520.00",
        "1.0133",
        "38.00",
    )
    assert row(rows["SH2"][2]) == (
        "1200.00",
        "400.00",
        "0.3333",
        "0.5000",
        "-16.67",
        "800.00",
        "0.6667",
        "51.62",
    )
    assert row(rows["NEW"][2]) == (
        "400.00",
        "300.00",
        "0.7500",
        "0.5000",
        "25.00",
        "600.00",
        "1.5000",
        "6.46",
    )
    assert rows["BER"][2]["pace_gap"] == _cny("164.11")  # 900 − 1500 · 15.208333 / 31
    chain = p["chain"]["standings"][0]
    assert (chain["target"], chain["actual"], chain["progress"], chain["elapsed"], chain["ahead_points"]) == (
        _cny("6100.00"), _cny("3100.00"), "0.5082", "0.4977", "1.05"
    )  # fmt: skip
    assert chain["forecast"] == _cny("5670.00")
    east, west = p["regions"]
    assert (east["region"], east["stores"], east["standings"][0]["actual"]) == ("East", 3, _cny("2200.00"))
    assert (west["region"], west["stores"]) == ("West", 1)
    assert [(a["store"]["code"], a["kind"], a["threshold"]) for a in p["alerts"]] == [
        ("SH2", "behind", 10), ("SH2", "forecast", 90)
    ]  # fmt: skip
    # new members are counts, not money
    joined = _get(api, "admin1", f"{MONTH}/progress", metric="new_members")
    first = joined["stores"][0]["standings"][0]
    assert (first["metric"], first["target"], first["actual"], first["forecast"]) == ("new_members", 2, 1, 1)
    both = _get(api, "admin1", f"{MONTH}/progress")
    assert [s["metric"] for s in both["stores"][0]["standings"]] == ["sales", "new_members"]
    assert [plan["metric"] for plan in both["plans"]] == ["sales", "new_members"]


def test_the_league_and_the_alerts(api: Served) -> None:
    league = _get(api, "marketer1", f"{MONTH}/league")
    assert (league["metric"], league["ranked"], league["currency"]) == ("sales", 4, "CNY")
    ranked = [
        (r["rank"], r["store"]["code"], r["standing"]["ahead_points"], r["behind"]) for r in league["rows"]
    ]
    assert ranked == [
        (1, "NEW", "25.00", False), (2, "BER", "10.94", False), (3, "S001", "0.00", False),
        (4, "SH2", "-16.67", True),
    ]  # fmt: skip
    joined = _get(api, "admin1", f"{MONTH}/league", metric="new_members")
    assert [(r["rank"], r["store"]["code"]) for r in joined["rows"]] == [
        (1, "BER"), (2, "S001"), (None, "NEW"), (None, "SH2")
    ]  # fmt: skip
    assert joined["currency"] is None
    east = _get(api, "admin1", f"{MONTH}/league", region="East")
    assert [r["store"]["code"] for r in east["rows"]] == ["NEW", "S001", "SH2"]
    alerts = _get(api, "admin1", f"{MONTH}/alerts")
    assert [(a["store"]["code"], a["metric"], a["kind"]) for a in alerts] == [
        ("S001", "new_members", "forecast"), ("SH2", "sales", "behind"), ("SH2", "sales", "forecast")
    ]  # fmt: skip
    behind = alerts[1]
    assert (behind["target"], behind["actual"], behind["progress"], behind["elapsed"]) == (
        _cny("1200.00"), _cny("400.00"), "0.3333", "0.5000"
    )  # fmt: skip
    only = _get(api, "admin1", f"{MONTH}/alerts", store="S001")
    assert [(a["store"]["code"], a["metric"]) for a in only] == [("S001", "new_members")]


def test_a_store_manager_sees_their_store_only(api: Served) -> None:
    mine = _get(api, "manager_c", f"{MONTH}/progress", metric="sales")
    assert [s["store"]["code"] for s in mine["stores"]] == ["SH2"]
    assert mine["chain"] is None
    assert [(g["region"], g["stores"]) for g in mine["regions"]] == [("East", 1)]
    assert [[t["store"]["code"] for t in plan["stores"]] for plan in mine["plans"]] == [["SH2"]]
    league = _get(api, "manager_c", f"{MONTH}/league")
    assert [(r["rank"], r["store"]["code"]) for r in league["rows"]] == [(4, "SH2")]
    plan = _get(api, "manager_c", f"{MONTH}/plans/sales")
    assert [t["store"]["code"] for t in plan["stores"]] == ["SH2"]
    assert plan["chain_target"] == _cny("6100.00")
    history = _get(api, "manager_c", f"{MONTH}/plans/sales/history")
    assert all([t["store"]["code"] for t in p["stores"]] == ["SH2"] for p in history)
    assert [a["store"]["code"] for a in _get(api, "manager_c", f"{MONTH}/alerts")] == ["SH2", "SH2"]
    other = api.client.get(f"{MONTH}/progress", params={"store": "BER"}, headers=api.as_("manager_c"))
    assert other.status_code == 403
    for who in ("cashier_c", "auditor1"):
        assert api.client.get(f"{MONTH}/progress", headers=api.as_(who)).status_code == 403
    change = {"targets": {"SH2": "9999.00"}}
    for who in ("manager_c", "analyst1", "marketer1"):
        resp = api.client.patch(f"{MONTH}/plans/sales", json=change, headers=api.as_(who))
        assert resp.status_code == 403, who
    assert (
        api.client.put(
            "/api/v1/targets/alert-rules", json={"behind_points": 1}, headers=api.as_("manager_c")
        ).status_code
        == 403
    )


def test_a_new_version_keeps_the_old_one_as_history(api: Served) -> None:
    path = "/api/v1/targets/2026-04/plans/sales"
    admin = api.as_("admin1")
    first = api.client.put(
        path, json={"chain_target": "900.00", "method": "equal", "step": "100"}, headers=admin
    )
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["method"], body["step"]) == ("equal", _cny("100.00"))
    # 9 hundreds over 4 stores by the largest remainder: 3, 2, 2, 2 (ties to the smaller store id)
    assert [t["target"]["amount"] for t in body["stores"]] == ["300.00", "200.00", "200.00", "200.00"]
    stale = {"targets": {"NEW": "500.00"}, "replaces": body["id"] + 1000}
    conflict = api.client.patch(path, json=stale, headers=admin)
    assert (conflict.status_code, conflict.json()["code"]) == (409, "TARGET_PLAN_CHANGED")
    second = api.client.patch(
        path, json={"targets": {"NEW": "500.00"}, "replaces": body["id"]}, headers=admin
    )
    assert second.status_code == 200, second.text
    assert (second.json()["chain_target"], second.json()["method"]) == (_cny("1200.00"), "manual")
    history = _get(api, "analyst1", f"{path}/history")
    assert [(p["id"], p["replaced_by"], p["superseded_at"] is None) for p in history] == [
        (second.json()["id"], None, True), (body["id"], second.json()["id"], False)
    ]  # fmt: skip
    missing = api.client.get("/api/v1/targets/2026-05/plans/sales", headers=admin)
    assert (missing.status_code, missing.json()["code"]) == (404, "TARGET_PLAN_NOT_FOUND")


def test_alert_rules_read_and_changed(api: Served) -> None:
    rules = _get(api, "manager_c", "/api/v1/targets/alert-rules")
    assert (rules["behind_points"], rules["forecast_pct"], rules["updated_at"]) == (10, 90, None)
    changed = api.client.put(
        "/api/v1/targets/alert-rules",
        json={"behind_points": 20, "forecast_pct": 60},
        headers=api.as_("admin1"),
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["behind_points"], changed.json()["updated_by"]) == (
        20,
        f"staff:{_staff_id(api, 'admin1')}",
    )
    try:
        alerts = _get(api, "admin1", f"{MONTH}/alerts")
        assert [(a["store"]["code"], a["metric"], a["kind"]) for a in alerts] == [
            ("S001", "new_members", "forecast")
        ]
    finally:
        back = {"behind_points": 10, "forecast_pct": 90}
        assert (
            api.client.put("/api/v1/targets/alert-rules", json=back, headers=api.as_("admin1")).status_code
            == 200
        )


@pytest.mark.parametrize(
    ("method", "url", "body", "status", "field"),
    [
        ("GET", "/api/v1/targets/2026-3/progress", None, 422, "path.month"),
        ("GET", "/api/v1/targets/0001-01/progress", None, 422, "path.month"),
        ("GET", "/api/v1/targets/9999-01/progress", None, 422, "path.month"),
        ("GET", "/api/v1/targets/2026-13/league", None, 422, "path.month"),
        ("GET", "/api/v1/targets/2026-03/plans/profit", None, 422, "path.metric"),
        ("GET", "/api/v1/targets/2026-03/progress?metric=profit", None, 422, "query.metric.0"),
        ("GET", "/api/v1/targets/2026-03/league?metric=profit", None, 422, "query.metric"),
        ("GET", "/api/v1/targets/2026-03/progress?region=Mars", None, 404, "query.region"),
        ("GET", "/api/v1/targets/2026-03/progress?store=NOPE", None, 404, "query.store"),
        ("PUT", "/api/v1/targets/1899-12/plans/sales", {"chain_target": "1.00"}, 422, "path.month"),
        ("PUT", JUNE, {"chain_target": "-1.00"}, 422, "chain_target"),
        ("PUT", JUNE, {"chain_target": "1.001"}, 422, "chain_target"),
        ("PUT", JUNE_JOINED, {"chain_target": "2.5"}, 422, "chain_target"),
        ("PUT", JUNE, {"chain_target": "150.00", "step": "100"}, 422, "chain_target"),
        ("PUT", JUNE, {"chain_target": "1.00", "method": "magic"}, 422, "method"),
        ("PUT", JUNE, {"chain_target": "10.00", "targets": {"S001": "11.00"}}, 422, "targets"),
        ("PUT", JUNE, {"chain_target": "10.00", "targets": {"S001": "-1"}}, 422, "targets.S001"),
        ("PATCH", JUNE, {"targets": {"NOPE": "1.00"}}, 422, "targets.NOPE"),
        ("PATCH", JUNE, {"targets": {}}, 422, "targets"),
        ("PATCH", JUNE_JOINED, {"targets": {"BER": "1.5"}}, 422, "targets.BER"),
        ("PUT", "/api/v1/targets/alert-rules", {"behind_points": 101}, 422, "behind_points"),
        ("PUT", "/api/v1/targets/alert-rules", {"forecast_pct": -1}, 422, "forecast_pct"),
    ],
)  # fmt: skip
def test_bad_input_is_refused_naming_its_field(
    api: Served, method: str, url: str, body: Any, status: int, field: str
) -> None:
    resp = api.client.request(method, url, json=body, headers=api.as_("admin1"))
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    named = [e["field"] for e in resp.json()["errors"]]
    assert any(n == field or n.startswith(field + ".") for n in named), named
    assert _get(api, "admin1", "/api/v1/targets/2026-06/progress")["plans"] == []  # nothing written


def test_far_months_and_problems_in_chinese(api: Served) -> None:
    far = _get(api, "admin1", "/api/v1/targets/9998-12/progress", metric="sales")
    assert {s["state"] for s in far["stores"]} == {"future"}
    assert far["alerts"] == []
    past = _get(api, "admin1", "/api/v1/targets/1900-01/league")
    assert {r["state"] for r in past["rows"]} == {"past"}
    zh = api.client.get(
        "/api/v1/targets/2026-13/progress", headers=api.as_("admin1", **{"Accept-Language": "zh-CN"})
    )
    assert zh.status_code == 422
    assert (zh.json()["title"], zh.headers["content-language"]) == ("目标参数无效", "zh-CN")
    assert zh.json()["errors"][0]["message"] == "月份须形如 2026-03，而不是 '2026-13'"
    nope = api.client.patch(
        JUNE, json={"targets": {"NOPE": "1"}},
        headers=api.as_("admin1", **{"Accept-Language": "zh-CN"}),
    )  # fmt: skip
    assert nope.json()["errors"] == [{"field": "targets.NOPE", "message": "没有编码为 NOPE 的门店"}]
