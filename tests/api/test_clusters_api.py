"""`GET /api/v1/analytics/clusters` and `GET /api/v1/members/{id}/cluster` (SQLite and PostgreSQL).

Two kinds of members buy through the API in March 2026: five coffee regulars (four small purchases
each through the mini-program) and five gift buyers (one big purchase in store); the clusters are
made by the member-clusters job started through `POST /jobs`, as a console or a script would.
"""

from __future__ import annotations

from typing import Any

import pytest

from loyalty.services import jobs
from tests.api.api_world import World, register

URL = "/api/v1/analytics/clusters"


def _buy(w: World, member: int, order: str, day: int, *, channel: str, category: str, price: str) -> None:
    body: dict[str, Any] = {
        "store_id": w.store_a,
        "member_id": member,
        "order_id": order,
        "occurred_at": f"2026-03-{day:02d}T10:00:00+08:00",
        "currency": "CNY",
        "channel": channel,
        "lines": [{"sku": category, "category": category, "quantity": 1, "unit_price": price}],
    }
    resp = w.client.post("/api/v1/purchases", json=body, headers=w.as_("admin"))
    assert resp.status_code == 201, resp.text


@pytest.fixture(scope="module")
def clustered(world: World) -> dict[str, list[int]]:
    before = world.client.get(URL, headers=world.as_("analyst"))
    assert before.status_code == 200, before.text
    assert before.json()["computed_at"] is None
    assert before.json()["clusters"] == []
    coffee, gifts = [], []
    for i in range(5):
        m = int(register(world, "admin", f"+8613911{i:06d}", world.store_a)["id"])
        coffee.append(m)
        for day in (2, 9, 16, 23):
            _buy(
                world,
                m,
                f"cl-c-{i}-{day}",
                day + i % 2,
                channel="mini_program",
                category="coffee",
                price="15.00",
            )
    for i in range(5):
        m = int(register(world, "admin", f"+8613922{i:06d}", world.store_a)["id"])
        gifts.append(m)
        _buy(world, m, f"cl-g-{i}", 5 + i, channel="store", category="gifts", price=f"{399 + i}.00")
    started = world.client.post(
        "/api/v1/jobs", json={"kind": "member_clusters"}, headers=world.as_("analyst")
    )
    assert started.status_code == 202, started.text
    jobs.wait_all()
    job = world.client.get(f"/api/v1/jobs/{started.json()['id']}", headers=world.as_("analyst")).json()
    assert job["status"] == "done", job
    return {"coffee": coffee, "gifts": gifts}


def test_the_clusters_with_their_reason_and_profiles(world: World, clustered: dict[str, list[int]]) -> None:
    resp = world.client.get(URL, headers=world.as_("marketer"))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["criterion"] == "silhouette"
    assert body["k"] == body["best_k"]
    assert body["forced"] is False
    chosen = [s for s in body["scores"] if s["chosen"]]
    assert [s["k"] for s in chosen] == [body["k"]]
    assert (
        body["reason_en"]
        == f"k={body['k']} because its silhouette {chosen[0]['silhouette']:.2f} is the highest"
    )
    assert body["reason_zh"].startswith(f"k={body['k']}，因为其轮廓系数")
    assert sum(c["members"] for c in body["clusters"]) == body["members"]
    assert [c["cluster"] for c in body["clusters"]] == list(range(1, body["k"] + 1))
    top = body["clusters"][0]  # the gift buyers spend the most: cluster 1
    assert top["means"]["ticket"]["currency"] == "CNY"
    assert "gifts" in top["means"]["category_shares"]
    assert "favour gifts" in top["description_en"].lower()
    assert "偏好gifts" in top["description_zh"]
    assert all(t["label_en"] and t["label_zh"] for t in top["traits"])
    assert body["overall"]["spend"]["currency"] == "CNY"


def test_a_members_cluster(world: World, clustered: dict[str, list[int]]) -> None:
    clusters = world.client.get(URL, headers=world.as_("analyst")).json()["clusters"]
    gift = clustered["gifts"][0]
    resp = world.client.get(f"/api/v1/members/{gift}/cluster", headers=world.as_("analyst"))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["member_id"] == gift
    assert body["cluster"] == 1
    assert body["description_en"] == clusters[0]["description_en"]
    assert body["computed_at"] is not None
    others = {
        world.client.get(f"/api/v1/members/{m}/cluster", headers=world.as_("analyst")).json()["cluster"]
        for m in clustered["coffee"]
    }
    assert len(others) == 1
    assert others != {1}


def test_a_member_without_purchases_has_no_cluster_and_an_unknown_one_is_not_found(
    world: World, clustered: dict[str, list[int]]
) -> None:
    idle = int(register(world, "admin", "+8613933000001", world.store_a)["id"])
    resp = world.client.get(f"/api/v1/members/{idle}/cluster", headers=world.as_("admin"))
    assert resp.status_code == 200, resp.text
    assert resp.json()["cluster"] is None
    assert resp.json()["description_en"] is None
    missing = world.client.get("/api/v1/members/987654/cluster", headers=world.as_("admin"))
    assert missing.status_code == 404
    assert missing.json()["code"] == "MEMBER_NOT_FOUND"
