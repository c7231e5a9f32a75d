"""A member's purchase history (`/members/{id}/purchases`, `/me/purchases`) and the balance's expiry
schedule, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from loyalty.api.errors import problem_type
from loyalty.services import merchants
from loyalty.services.schemas import StoreIn
from tests.api.api_world import World, purchase_body, register

V1 = "/api/v1"
_n = itertools.count(1)


def _phone() -> str:
    return f"+86132{next(_n):08d}"


def _buy(
    w: World, store_id: int, member_id: int, at: str, price: str = "199.00", **extra: Any
) -> dict[str, Any]:
    body = purchase_body(store_id, member_id, f"ph-{next(_n)}", price=price) | {"occurred_at": at, **extra}
    resp = w.client.post(f"{V1}/purchases", json=body, headers=w.as_("admin"))
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


@pytest.fixture(scope="module")
def new_york(world: World) -> int:
    """A third store, five hours behind UTC in March, so its business date differs from Shanghai's."""
    store = merchants.create_store(
        world.ctx,
        StoreIn(merchant_id=world.merchant_id, code="NY1", name="Fifth Avenue", timezone="America/New_York"),
    )
    return store.id


@pytest.fixture(scope="module")
def shopper(world: World, new_york: int) -> dict[str, Any]:
    """A member of store A with receipts at A (two at the same instant), B and New York, and a return."""
    mid = int(register(world, "admin", _phone(), world.store_a, name="Shopper")["id"])
    a1 = _buy(world, world.store_a, mid, "2026-03-01T01:00:00+08:00")  # Feb 28 17:00 UTC
    b1 = _buy(world, world.store_b, mid, "2026-03-02T10:00:00+08:00")
    a2 = _buy(world, world.store_a, mid, "2026-03-03T10:00:00+08:00", price="99.00")
    a3 = _buy(world, world.store_a, mid, "2026-03-03T10:00:00+08:00", channel="online")
    ny = _buy(world, new_york, mid, "2026-03-04T03:00:00+00:00")  # 22:00 on Mar 3 in New York
    ret = world.client.post(
        f"{V1}/returns",
        json={
            "store_id": world.store_a,
            "order_id": a2["order_id"],
            "return_id": f"r-{next(_n)}",
            "occurred_at": "2026-03-05T09:00:00+08:00",
            "lines": [{"line_no": 1, "quantity": 1}],
        },
        headers=world.as_("admin"),
    )
    assert ret.status_code == 201, ret.text
    return {"id": mid, "a1": a1, "b1": b1, "a2": a2, "a3": a3, "ny": ny, "return": ret.json()}


def _page(w: World, url: str, who: str, **params: Any) -> dict[str, Any]:
    resp = w.client.get(url, params=params, headers=w.as_(who))
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def _all(w: World, url: str, who: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(20):
        page = _page(w, url, who, **params, **({"cursor": cursor} if cursor else {}))
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination did not end")


def test_newest_first_across_pages_without_repeats(world: World, shopper: dict[str, Any]) -> None:
    url = f"{V1}/members/{shopper['id']}/purchases"
    expected = [shopper[k]["id"] for k in ("ny", "a3", "a2", "b1", "a1")]
    assert [p["id"] for p in _page(world, url, "admin")["items"]] == expected
    for limit in (1, 2):  # a3 and a2 share their time: the id breaks the tie, on every page size
        assert [p["id"] for p in _all(world, url, "admin", limit=limit)] == expected


def test_each_receipt_has_store_time_business_date_money_points_channel_and_returns(
    world: World, shopper: dict[str, Any], new_york: int
) -> None:
    items = {p["id"]: p for p in _page(world, f"{V1}/members/{shopper['id']}/purchases", "admin")["items"]}
    a1, a2, a3, ny = (items[shopper[k]["id"]] for k in ("a1", "a2", "a3", "ny"))
    assert a1["store"] == {"id": world.store_a, "code": a1["store"]["code"], "name": a1["store"]["name"],
                           "timezone": "Asia/Shanghai"}  # fmt: skip
    assert a1["occurred_at"] == "2026-02-28T17:00:00Z"
    assert a1["business_date"] == "2026-03-01"  # the store's day, not UTC's
    assert ny["store"]["id"] == new_york
    assert ny["occurred_at"] == "2026-03-04T03:00:00Z"
    assert ny["business_date"] == "2026-03-03"
    assert a1["total"] == shopper["a1"]["total"]
    assert a1["points_earned"] == shopper["a1"]["points_earned"] > 0
    assert (a1["channel"], a3["channel"]) == ("store", "online")
    assert a1["returns"] == []
    assert a1["lines"] is None
    (returned,) = a2["returns"]
    assert returned["return_id"] == shopper["return"]["return_id"]
    assert returned["refund"] == shopper["return"]["refund"]
    assert returned["points_reversed"] == shopper["return"]["points_reversed"]
    assert a2["refunded"] == shopper["return"]["refund"]
    assert a2["points_reversed"] == shopper["return"]["points_reversed"]


def test_lines_on_request(world: World, shopper: dict[str, Any]) -> None:
    page = _page(world, f"{V1}/members/{shopper['id']}/purchases", "admin", lines="true", limit=3)
    a2 = next(p for p in page["items"] if p["id"] == shopper["a2"]["id"])
    assert [ln["sku"] for ln in a2["lines"]] == ["SKU-1", "SKU-2", "SKU-3"]
    first, second = a2["lines"][:2]
    assert first["unit_price"] == {"amount": "99.00", "currency": "CNY"}
    assert first["returned_quantity"] == 1
    assert second["discount"] == {"amount": "10.00", "currency": "CNY"}
    assert second["amount"] == {"amount": "169.00", "currency": "CNY"}


def test_store_staff_see_their_stores_receipts_only(world: World, shopper: dict[str, Any]) -> None:
    url = f"{V1}/members/{shopper['id']}/purchases"
    a_ids = {shopper[k]["id"] for k in ("a1", "a2", "a3")}
    assert {p["id"] for p in _all(world, url, "cashier")} == a_ids
    assert {p["id"] for p in _all(world, url, "pos")} == a_ids
    assert [p["id"] for p in _all(world, url, "cashier_b")] == [shopper["b1"]["id"]]
    assert len(_all(world, url, "auditor")) == 5


def test_the_member_sees_all_their_receipts_and_one_with_lines(world: World) -> None:
    mid = world.member_b["id"]
    mine = _buy(world, world.store_a, mid, "2026-03-06T12:00:00+08:00")
    items = _all(world, f"{V1}/me/purchases", "member_b")
    assert mine["id"] in [p["id"] for p in items]
    assert all(p["lines"] is None for p in items)
    one = world.client.get(f"{V1}/me/purchases/{mine['id']}", headers=world.as_("member_b"))
    assert one.status_code == 200, one.text
    assert len(one.json()["lines"]) == 3
    # another member's receipt does not exist for this one
    theirs = world.client.get(f"{V1}/me/purchases/{mine['id']}", headers=world.as_("member"))
    assert theirs.status_code == 404
    assert theirs.json()["type"] == problem_type("PURCHASE_NOT_FOUND")
    assert mine["id"] not in [p["id"] for p in _all(world, f"{V1}/me/purchases", "member")]


def test_bad_cursor_and_unknown_member(world: World, shopper: dict[str, Any]) -> None:
    resp = world.client.get(
        f"{V1}/members/{shopper['id']}/purchases", params={"cursor": "yesterday"}, headers=world.as_("admin")
    )
    assert resp.status_code == 422, resp.text
    assert [e["field"] for e in resp.json()["errors"]] == ["query.cursor"]
    missing = world.client.get(f"{V1}/members/2000000000/purchases", headers=world.as_("admin"))
    assert missing.status_code == 404
    assert missing.json()["type"] == problem_type("MEMBER_NOT_FOUND")


def test_balance_shows_the_expiry_schedule_to_staff_and_member(world: World) -> None:
    mid = int(register(world, "admin", _phone(), world.store_a)["id"])
    first = _buy(world, world.store_a, mid, "2026-03-01T10:00:00+08:00")
    late = _buy(world, world.store_a, mid, "2026-03-01T23:30:00+08:00")  # 15:30 UTC, still Mar 1 here
    staff = world.client.get(f"{V1}/members/{mid}/points", headers=world.as_("cashier")).json()
    assert staff["timezone"] == "Asia/Shanghai"
    assert staff["expiry_schedule"] == [
        {"date": "2027-03-01", "points": first["points_earned"] + late["points_earned"]}
    ]
    tok = world.client.post(f"{V1}/members/{mid}/tokens", headers=world.as_("admin")).json()["token"]
    mine = world.client.get(f"{V1}/me/points", headers={"Authorization": f"Bearer {tok}"}).json()
    assert mine["expiry_schedule"] == staff["expiry_schedule"]
