"""The rewards over HTTP on both backends: a marketer's catalogue, a till's order and its fulfilment, a
member's own catalogue (at their tier's price) and order, and the refusals a client branches on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from loyalty.services import points
from tests.api.api_world import World, world_on

V1 = "/api/v1"


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with world_on(request.param, Path(tmp_path_factory.mktemp("rewards-api"))) as w:
        yield w


def test_a_reward_from_the_catalogue_to_the_member(world: World) -> None:
    w, a = world, world.member_a["id"]
    points.adjust(w.ctx, a, 1_000, reason="api test", operator="test")
    body = {"code": "tote", "name": "帆布袋", "kind": "gift", "points": 400, "stock": 1}
    body["tier_prices"] = {"normal": 350}
    made = w.client.post(f"{V1}/rewards", json=body, headers=w.as_("marketer"))
    assert made.status_code == 201, made.text
    assert (made.json()["available"], made.json()["stock"]) == (True, 1)
    mine = w.client.get(f"{V1}/me/rewards", headers=w.as_("member")).json()
    assert [(r["code"], r["price"]) for r in mine] == [("tote", 350)]

    order = w.client.post(
        f"{V1}/members/{a}/reward-orders",
        json={"reward": "tote", "store_id": w.store_a},
        headers=w.as_("pos"),
    )
    assert order.status_code == 201, order.text
    assert (order.json()["points"], order.json()["status"]) == (350, "reserved")
    gone = w.client.post(f"{V1}/me/reward-orders", json={"reward": "tote"}, headers=w.as_("member"))
    assert (gone.status_code, gone.json()["code"]) == (409, "REWARD_OUT_OF_STOCK")

    oid = order.json()["id"]
    other = w.client.post(
        f"{V1}/reward-orders/{oid}/fulfil", json={"status": "shipped"}, headers=w.as_("cashier_b")
    )
    assert other.status_code == 403  # store B's cashier: not their store's order
    shipped = w.client.post(
        f"{V1}/reward-orders/{oid}/fulfil", json={"status": "shipped"}, headers=w.as_("cashier")
    )
    assert shipped.json()["status"] == "shipped"
    late = w.client.post(f"{V1}/reward-orders/{oid}/cancel", headers=w.as_("cashier"))
    assert (late.status_code, late.json()["code"]) == (409, "REWARD_ORDER_FINAL")

    restock = w.client.patch(f"{V1}/rewards/tote", json={"stock": 1}, headers=w.as_("marketer"))
    assert restock.json()["stock"] == 1
    mine = w.client.post(f"{V1}/me/reward-orders", json={"reward": "tote"}, headers=w.as_("member"))
    assert mine.status_code == 201, mine.text
    assert mine.json()["store_id"] == w.store_a  # the store member A registered at
    back = w.client.post(f"{V1}/reward-orders/{mine.json()['id']}/cancel", json={}, headers=w.as_("cashier"))
    assert (back.json()["status"], back.json()["balance_after"]) == ("cancelled", 650)
    listed = w.client.get(f"{V1}/me/reward-orders", headers=w.as_("member")).json()
    assert [o["status"] for o in listed] == ["cancelled", "shipped"]


def test_refusals_name_their_field(world: World) -> None:
    w = world
    missing = w.client.patch(f"{V1}/rewards/no-such-reward", json={"stock": 1}, headers=w.as_("admin"))
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["field"] == "path.code"
    bad = {"code": "t2", "name": "T", "kind": "gift", "points": 5, "tier_prices": {"nowhere": 3}}
    refused = w.client.post(f"{V1}/rewards", json=bad, headers=w.as_("admin"))
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "tier_prices.nowhere"
    coupon = {"code": "t3", "name": "T", "kind": "coupon", "points": 5}
    refused = w.client.post(f"{V1}/rewards", json=coupon, headers=w.as_("admin"))
    assert refused.json()["errors"][0]["field"] == "offer_code"
    unknown = w.client.post(
        f"{V1}/members/{w.member_a['id']}/reward-orders",
        json={"reward": "nothing", "store_id": w.store_a},
        headers=w.as_("cashier"),
    )
    assert (unknown.status_code, unknown.json()["code"]) == (404, "REWARD_NOT_FOUND")
