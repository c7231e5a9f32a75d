"""Who rang a sale and who signed a member up, through the API: the till's `staff` code, else a staff
account's username (never a POS key's), checked as a staff code, part of the sale's request and order
hashes, kept through every way the server posts sales (SQLite's group commit, PostgreSQL's batches),
anonymous sales and their claims; `registered_by` on a registration alike."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from loyalty.services import purchases as purchases_service
from tests.api.api_world import World, purchase_body, register

V1 = "/api/v1"


def _sale(world: World, body: dict[str, Any], who: str, key: str | None = None) -> httpx.Response:
    headers = {**world.as_(who), **({"Idempotency-Key": key} if key else {})}
    return world.client.post(f"{V1}/purchases", json=body, headers=headers)


def _kept(world: World, store_id: int, order_id: str) -> str | None:
    return purchases_service.get_purchase(world.ctx, store_id=store_id, order_id=order_id).staff


def test_the_tills_code_else_the_staff_accounts_username_is_kept(world: World) -> None:
    member = world.member_a["id"]
    named = _sale(world, {**purchase_body(world.store_a, member, "ST-1"), "staff": "C07"}, "pos")
    assert named.status_code == 201, named.text
    assert named.json()["staff"] == "C07"
    reread = world.client.get(f"{V1}/purchases/{named.json()['id']}", headers=world.as_("pos"))
    assert reread.json()["staff"] == "C07"
    assert _sale(world, purchase_body(world.store_a, member, "ST-2"), "pos").json()["staff"] is None
    cashier = _sale(world, purchase_body(world.store_a, member, "ST-3"), "cashier")
    assert cashier.json()["staff"] == "cashier1"  # the account's username
    own = _sale(world, {**purchase_body(world.store_a, member, "ST-4"), "staff": "收银员 12"}, "cashier")
    assert own.json()["staff"] == "收银员 12"  # the code given wins
    now = {"occurred_at": datetime.now(UTC).isoformat()}  # claimable: within the claim window
    anonymous = _sale(world, {**purchase_body(world.store_a, None, "ST-5"), **now}, "store_manager")
    assert (anonymous.json()["member_id"], anonymous.json()["staff"]) == (None, "store_manager1")
    assert [_kept(world, world.store_a, f"ST-{i}") for i in range(1, 6)] == [
        "C07", None, "cashier1", "收银员 12", "store_manager1",
    ]  # fmt: skip
    claim = world.client.post(
        f"{V1}/purchases/claims",
        json={"store_id": world.store_a, "order_id": "ST-5", "member_id": member},
        headers=world.as_("cashier"),
    )
    assert claim.status_code == 200, claim.text
    claimed = purchases_service.get_purchase(world.ctx, store_id=world.store_a, order_id="ST-5")
    assert (claimed.member_id, claimed.staff) == (member, "store_manager1")  # who rang it, not who claimed


@pytest.mark.parametrize("code", ["", " C07", "C07 ", "C" * 101, "C\u200b7", "C\u00a07", 7, None])
def test_a_staff_code_that_is_not_one_is_refused_naming_the_field(world: World, code: Any) -> None:
    body = {**purchase_body(world.store_a, world.member_a["id"], "ST-BAD"), "staff": code}
    if code is None:  # null is "not given"
        assert _sale(world, body, "pos").status_code == 201
        return
    refused = _sale(world, body, "pos")
    assert refused.status_code == 422, refused.text
    assert [e["field"] for e in refused.json()["errors"]] == ["staff"]
    zh = world.client.post(
        f"{V1}/purchases", json=body, headers={**world.as_("pos"), "Accept-Language": "zh-CN"}
    )
    assert zh.json()["errors"][0]["message"] != refused.json()["errors"][0]["message"]


def test_the_staff_code_is_part_of_the_request_and_the_order(world: World) -> None:
    body = {**purchase_body(world.store_a, world.member_a["id"], "ST-H"), "staff": "C01"}
    first = _sale(world, body, "pos", key="st-h")
    again = _sale(world, body, "pos", key="st-h")
    assert (again.status_code, again.headers.get("Idempotent-Replayed")) == (201, "true")
    assert again.json() == first.json()
    other = _sale(world, {**body, "staff": "C02"}, "pos", key="st-h")
    assert (other.status_code, other.json()["code"]) == (422, "IDEMPOTENCY_MISMATCH")
    reused = _sale(world, {**body, "staff": "C02"}, "pos")  # the order again, rung by someone else
    assert (reused.status_code, reused.json()["code"]) == (422, "ORDER_ID_REUSED")
    unnamed = _sale(world, purchase_body(world.store_a, world.member_a["id"], "ST-H"), "pos")
    assert unnamed.status_code == 422  # naming nobody is another sale too
    replay = _sale(world, body, "pos")
    assert (replay.status_code, replay.json()["replayed"], replay.json()["staff"]) == (201, True, "C01")
    # a sale naming nobody hashes as before sales kept their staff: no "staff" in its body's hash
    plain = purchase_body(world.store_a, world.member_a["id"], "ST-P")
    assert _sale(world, plain, "pos", key="st-p").status_code == 201
    assert (
        _sale(world, {**plain, "staff": None}, "pos", key="st-p").headers.get("Idempotent-Replayed") == "true"
    )


def test_sales_posted_together_keep_each_ones_staff(world: World) -> None:
    """Concurrent sales share the server's transactions (SQLite's group commit, PostgreSQL's
    set-based batches); each keeps its own staff code, or the posting account's username."""
    strategy = type(world.app.state.posting).__name__
    assert strategy == ("SetBasedBatches" if world.url.startswith("postgresql") else "GroupCommit")
    before = world.app.state.posting.transactions
    people = [register(world, "admin", f"+8613720000{i:03d}", world.store_a) for i in range(3)]
    requests = []
    for i in range(12):
        body = purchase_body(world.store_a, people[i % 3]["id"] if i % 4 else None, f"ST-C{i}")
        if i % 3:
            body["staff"] = f"C{i:02d}"
        requests.append((body, world.as_("pos" if i % 2 else "cashier")))

    async def post() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=world.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://pos") as client:
            return await asyncio.gather(
                *(client.post(f"{V1}/purchases", json=b, headers=h) for b, h in requests)
            )

    answers = asyncio.run(post())
    expected = [f"C{i:02d}" if i % 3 else None if i % 2 else "cashier1" for i in range(12)]
    assert [a.status_code for a in answers] == [201] * 12, [a.text for a in answers]
    assert [a.json()["staff"] for a in answers] == expected
    assert [_kept(world, world.store_a, f"ST-C{i}") for i in range(12)] == expected
    assert world.app.state.posting.transactions - before < 12  # some of them shared a transaction


def test_who_signed_a_member_up_is_kept(world: World) -> None:
    by_till = register(world, "pos", "+8613730000001", world.store_a, registered_by="C05")
    assert by_till["registered_by"] == "C05"
    by_pos = register(world, "pos", "+8613730000002", world.store_a)
    assert by_pos["registered_by"] is None
    by_account = register(world, "cashier", "+8613730000003", world.store_a)
    assert by_account["registered_by"] == "cashier1"
    shown = world.client.get(f"{V1}/members/{by_till['id']}", headers=world.as_("admin"))
    assert shown.json()["registered_by"] == "C05"
    refused = world.client.post(
        f"{V1}/members",
        json={
            "phone": "+8613730000004",
            "name": "X",
            "registration_store_id": world.store_a,
            "registered_by": "",
        },
        headers=world.as_("pos"),
    )
    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["errors"]] == ["registered_by"]
