"""The API's side of anonymous sales and channels: a receipt without a member is posted (also when many
arrive together: the group commit on SQLite, set-based batches on PostgreSQL), listed, returned and
claimed later by the till or by the member with the receipt; the channel is a closed set named in the
error when wrong."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from loyalty.services import points
from tests.api.api_world import World, purchase_body, register

V1 = "/api/v1"
_seq = itertools.count(1)


def _now_body(w: World, member_id: int | None, order: str, **extra: Any) -> dict[str, Any]:
    body = purchase_body(w.store_a, member_id, order)
    body["occurred_at"] = datetime.now(UTC).isoformat()
    return {**body, **extra}


def _post(w: World, body: dict[str, Any], who: str = "pos", **headers: str) -> httpx.Response:
    return w.client.post(f"{V1}/purchases", json=body, headers={**w.as_(who), **headers})


def test_an_anonymous_sale_is_posted_listed_and_returned(world: World) -> None:
    run = next(_seq)
    sale = _post(world, _now_body(world, None, f"an{run}-1", channel="delivery"))
    assert sale.status_code == 201, sale.text
    body = sale.json()
    assert (body["member_id"], body["tier_code"], body["points_earned"], body["rule"]) == (
        None,
        None,
        0,
        "anonymous",
    )
    assert body["channel"] == "delivery"
    shown = world.client.get(f"{V1}/purchases/{body['id']}", headers=world.as_("analyst"))
    assert shown.status_code == 200
    assert shown.json()["member_id"] is None
    listed = world.client.get(
        f"{V1}/purchases", params={"anonymous": "true", "channel": "delivery"}, headers=world.as_("cashier")
    )
    assert listed.status_code == 200, listed.text
    assert body["id"] in [p["id"] for p in listed.json()["items"]]
    assert all(p["member_id"] is None and p["channel"] == "delivery" for p in listed.json()["items"])
    other_store = world.client.get(f"{V1}/purchases", headers=world.as_("cashier_b"))
    assert body["id"] not in [p["id"] for p in other_store.json()["items"]]
    refused = world.client.get(
        f"{V1}/purchases", params={"store_id": world.store_a}, headers=world.as_("cashier_b")
    )
    assert refused.status_code == 403
    returned = world.client.post(
        f"{V1}/returns",
        json={
            "store_id": world.store_a,
            "order_id": f"an{run}-1",
            "return_id": f"anr{run}",
            "occurred_at": datetime.now(UTC).isoformat(),
        },
        headers=world.as_("pos"),
    )
    assert returned.status_code == 201, returned.text
    assert (returned.json()["points_reversed"], returned.json()["refund"]) == (0, body["total"])


def test_a_channel_outside_the_set_is_refused_naming_the_field(world: World) -> None:
    bad = _post(world, _now_body(world, world.member_a["id"], f"ch{next(_seq)}", channel="phone"))
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["channel"]
    assert "mini_program" in bad.json()["errors"][0]["message"]


def test_a_store_sale_keeps_the_idempotency_hash_it_had_before_channels(world: World) -> None:
    """A key stored for a store sale before sales had a channel still matches its retry after the
    upgrade: the hashed body of a store sale is what it was (no channel in it), said or not; a sale in
    another channel is another request."""
    from loyalty.api.idempotency import request_hash
    from loyalty.api.routers.purchases import PurchaseIn

    body = _now_body(world, world.member_a["id"], "hash-1")
    before_channels = {
        "store_id",
        "order_id",
        "member_id",
        "phone",
        "card_no",
        "occurred_at",
        "currency",
        "lines",
    }
    for said in ({}, {"channel": "store"}):
        assert set(PurchaseIn.model_validate({**body, **said}).model_dump(mode="json")) == before_channels
    store = request_hash("POST /purchases", PurchaseIn.model_validate(body))
    online = request_hash("POST /purchases", PurchaseIn.model_validate({**body, "channel": "online"}))
    assert store != online


def test_claims_by_the_till_and_by_the_member(world: World) -> None:
    run = next(_seq)
    member = register(world, "admin", f"+86135{run:03d}00001", world.store_a)
    posted = [_post(world, _now_body(world, None, f"cl{run}-{i}")) for i in range(2)]
    assert [p.status_code for p in posted] == [201, 201]
    key = {"Idempotency-Key": f"cl{run}-0"}
    claim = {"store_id": world.store_a, "order_id": f"cl{run}-0", "member_id": member["id"]}
    won = world.client.post(f"{V1}/purchases/claims", json=claim, headers={**world.as_("pos"), **key})
    assert won.status_code == 200, won.text
    assert won.json()["points_credited"] == won.json()["points_earned"] > 0
    assert won.json()["member_id"] == member["id"]
    replay = world.client.post(f"{V1}/purchases/claims", json=claim, headers={**world.as_("pos"), **key})
    assert replay.status_code == 200
    assert replay.headers.get("Idempotent-Replayed") == "true"
    again = world.client.post(f"{V1}/purchases/claims", json=claim, headers=world.as_("cashier"))
    assert again.status_code == 409
    assert again.json()["code"] == "PURCHASE_ALREADY_CLAIMED"
    elsewhere = world.client.post(f"{V1}/purchases/claims", json=claim, headers=world.as_("pos_b"))
    assert elsewhere.status_code == 403

    me = world.as_("member")
    total = posted[1].json()["total"]["amount"]
    wrong = world.client.post(
        f"{V1}/me/claims",
        json={"store_id": world.store_a, "order_id": f"cl{run}-1", "total": "0.01"},
        headers=me,
    )
    unknown = world.client.post(
        f"{V1}/me/claims", json={"store_id": world.store_a, "order_id": "no-such", "total": total}, headers=me
    )
    assert wrong.status_code == unknown.status_code == 404
    assert wrong.json()["code"] == unknown.json()["code"] == "RECEIPT_NOT_FOUND"
    before = points.balance(world.ctx, world.member_a["id"]).balance
    mine = world.client.post(
        f"{V1}/me/claims",
        json={"store_id": world.store_a, "order_id": f"cl{run}-1", "total": total},
        headers=me,
    )
    assert mine.status_code == 200, mine.text
    assert mine.json()["member_id"] == world.member_a["id"]
    assert points.balance(world.ctx, world.member_a["id"]).balance == before + mine.json()["points_credited"]

    old = _post(world, {**_now_body(world, None, f"cl{run}-old")} | {"occurred_at": _days_ago(31)})
    assert old.status_code == 201
    late = world.client.post(
        f"{V1}/purchases/claims",
        json={**claim, "order_id": f"cl{run}-old"},
        headers=world.as_("pos"),
    )
    assert late.status_code == 409
    assert late.json()["code"] == "PURCHASE_CLAIM_EXPIRED"
    assert points.verify_ledger(world.ctx)["ok"]


def _days_ago(days: int) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat()


def test_anonymous_and_members_sales_arriving_together(world: World) -> None:
    """Concurrent tills: members' and anonymous sales share transactions (group commit, or set-based
    batches on PostgreSQL) and each gets its own answer."""
    run = next(_seq)
    people = [register(world, "admin", f"+86134{run:03d}{i:05d}", world.store_a) for i in range(3)]
    channels = ("store", "online", "mini_program", "delivery")
    requests = [
        (
            _now_body(
                world, None if i % 3 == 0 else people[i % 3]["id"], f"mx{run}-{i}", channel=channels[i % 4]
            ),
            world.as_("pos"),
        )
        for i in range(24)
    ]

    async def post() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=world.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://pos") as client:
            return await asyncio.gather(
                *(client.post(f"{V1}/purchases", json=body, headers=headers) for body, headers in requests)
            )

    answers = asyncio.run(post())
    for i, answer in enumerate(answers):
        assert answer.status_code == 201, answer.text
        got = answer.json()
        assert got["channel"] == channels[i % 4]
        assert (got["member_id"] is None) == (i % 3 == 0)
        assert (got["points_earned"] == 0) if i % 3 == 0 else got["points_earned"] > 0
        stored = world.client.get(f"{V1}/purchases/{got['id']}", headers=world.as_("pos")).json()
        assert (stored["member_id"], stored["channel"], stored["points_earned"]) == (
            got["member_id"],
            got["channel"],
            got["points_earned"],
        )
    assert points.verify_ledger(world.ctx)["ok"]
