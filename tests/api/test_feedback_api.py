"""Members rate their purchases through /api/v1/me, staff list and handle feedback through
/api/v1/feedback, and the KPIs carry the satisfaction. On SQLite and PostgreSQL (`world`)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.api.api_world import World, purchase_body

V1 = "/api/v1"
_n = itertools.count(1)


def member_sale(w: World, member: str = "member") -> int:
    """A sale of member A's (or B's, at store B) made now, by cashier C7; its purchase id."""
    store, who = (w.store_a, w.member_a) if member == "member" else (w.store_b, w.member_b)
    body = purchase_body(store, who["id"], f"fb-{next(_n)}")
    body["occurred_at"] = datetime.now(UTC).isoformat()
    body["staff"] = "C7"
    resp = w.client.post(f"{V1}/purchases", json=body, headers=w.as_("admin"))
    assert resp.status_code == 201, resp.text
    return int(resp.json()["id"])


def _rate(w: World, purchase_id: int, body: Any, who: str = "member") -> Any:
    return w.client.post(f"{V1}/me/purchases/{purchase_id}/feedback", json=body, headers=w.as_(who))


def _problem(resp: Any, status: int, code: str | None = None, field: str | None = None) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = resp.json()
    if code is not None:
        assert body["code"] == code, body
    if field is not None:
        assert field in [e["field"] for e in body.get("errors") or []], body
    return body


def test_a_member_rates_a_purchase_once_and_nobody_else_can(world: World) -> None:
    sale = member_sale(world)
    _problem(_rate(world, sale, {"rating": 6}), 422, field="rating")
    _problem(_rate(world, sale, {"rating": 4, "comment": "x" * 501}), 422, field="comment")
    _problem(_rate(world, sale, {"rating": 4}, "member_b"), 404, "PURCHASE_NOT_FOUND")
    _problem(_rate(world, 2_000_000, {"rating": 4}), 404, "PURCHASE_NOT_FOUND")
    made = _rate(world, sale, {"rating": 2, "comment": "等了很久"})
    assert made.status_code == 201, made.text
    got = made.json()
    assert (got["purchase_id"], got["store_id"], got["staff"], got["rating"], got["low"]) == (
        sale, world.store_a, "C7", 2, True
    )  # fmt: skip
    assert got["comment"] == "等了很久"
    assert got["handled_at"] is None
    again = _problem(_rate(world, sale, {"rating": 5}), 409, "FEEDBACK_EXISTS")
    assert str(sale) in again["detail"]


def test_staff_list_their_stores_feedback_and_mark_it_handled(world: World) -> None:
    sale_a = member_sale(world)
    sale_b = member_sale(world, "member_b")
    rated_a = _rate(world, sale_a, {"rating": 1}).json()
    rated_b = _rate(world, sale_b, {"rating": 5}, "member_b").json()
    mine = world.client.get(f"{V1}/feedback", params={"low": "true"}, headers=world.as_("store_manager"))
    assert mine.status_code == 200, mine.text
    ids = [f["id"] for f in mine.json()["items"]]
    assert rated_a["id"] in ids
    assert rated_b["id"] not in ids
    assert all(f["rating"] <= 2 and f["store_id"] == world.store_a for f in mine.json()["items"])
    every = world.client.get(f"{V1}/feedback", headers=world.as_("admin")).json()["items"]
    assert {rated_a["id"], rated_b["id"]} <= {f["id"] for f in every}
    _problem(world.client.get(f"{V1}/feedback", headers=world.as_("cashier")), 403)
    _problem(
        world.client.get(
            f"{V1}/feedback", params={"store": world.store_b}, headers=world.as_("store_manager")
        ),
        403,
    )
    _problem(
        world.client.get(f"{V1}/feedback", params={"cursor": "nope"}, headers=world.as_("admin")),
        422,
        field="query.cursor",
    )
    url = f"{V1}/feedback/{rated_a['id']}/handle"
    done = world.client.post(url, json={"note": "已致电"}, headers=world.as_("store_manager"))
    assert done.status_code == 200, done.text
    assert done.json()["handled_note"] == "已致电"
    assert done.json()["handled_by"].startswith("staff:")
    _problem(
        world.client.post(url, json={}, headers=world.as_("store_manager")), 409, "FEEDBACK_ALREADY_HANDLED"
    )
    other = f"{V1}/feedback/{rated_b['id']}/handle"
    _problem(world.client.post(other, json={}, headers=world.as_("store_manager")), 404, "FEEDBACK_NOT_FOUND")
    still_open = world.client.get(
        f"{V1}/feedback", params={"handled": "false", "store": world.store_a}, headers=world.as_("admin")
    ).json()["items"]
    assert rated_a["id"] not in {f["id"] for f in still_open}


@pytest.mark.parametrize("path", ["/kpis/stores/{store}", "/kpis/staff?store={store}"])
def test_the_kpis_carry_the_satisfaction(world: World, path: str) -> None:
    sale = member_sale(world)
    assert _rate(world, sale, {"rating": 5}).status_code == 201
    resp = world.client.get(V1 + path.format(store=world.store_a), headers=world.as_("admin"))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    sat = (
        body["summary"]["satisfaction"]
        if "summary" in body
        else next(f for f in body["staff"] if f["staff"] == "C7")["satisfaction"]
    )
    assert sat["ratings"] >= 1
    assert sat["satisfied"] >= 1
    assert isinstance(sat["average_rating"], str)
    assert "." in sat["average_rating"]
    assert sat["response_rate"] is not None
