"""`GET /members/{id}/data-export` and `POST /members/{id}/erase`, on both backends: the package as a
download, the typed confirmation, what the API shows of an erased member, and the refusals after."""

from __future__ import annotations

import itertools
import json
from typing import Any

from sqlalchemy import text

from tests.api.api_world import World, purchase_body, register

V1 = "/api/v1"
_n = itertools.count(1)


def _member(world: World, **extra: Any) -> dict[str, Any]:
    return register(world, "admin", f"+86133{next(_n):08d}", world.store_a, **extra)


def test_the_data_package_is_a_json_download_for_administrators(world: World) -> None:
    member = _member(world, name="Package", email="package@example.com", marketing_consent=True)
    sale = world.client.post(
        f"{V1}/purchases",
        json=purchase_body(world.store_a, member["id"], f"pkg-{next(_n)}"),
        headers=world.as_("admin"),
    )
    assert sale.status_code == 201, sale.text
    url = f"{V1}/members/{member['id']}/data-export"
    response = world.client.get(url, headers=world.as_("admin"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert (
        response.headers["content-disposition"] == f'attachment; filename="member-{member["id"]}-data.json"'
    )
    package = response.json()
    assert package["format"] == "loyalty.member-data/1"
    assert package["currency"] == "CNY"
    # unmasked: this is the member's own data handed over
    assert (package["member"]["phone"], package["member"]["name"]) == (member["phone"], "Package")
    assert package["member"]["card_no"] == member["card_no"]
    assert [p["order_id"] for p in package["purchases"]] == [sale.json()["order_id"]]
    assert len(package["purchases"][0]["lines"]) == 3
    assert package["points"]["statement"][0]["kind"] == "earn"
    assert package["consents"]["history"][0]["marketing_consent"] is True
    assert package["tier"]["current"]["tier"]["code"] == "normal"
    for who in ("store_manager", "cashier", "analyst", "auditor", "pos", "member"):
        assert world.client.get(url, headers=world.as_(who)).status_code == 403, who
    missing = world.client.get(f"{V1}/members/987654/data-export", headers=world.as_("admin"))
    assert missing.status_code == 404
    assert world.client.get(url, params={"format": "csv"}, headers=world.as_("admin")).status_code == 422


def test_erasure_needs_the_card_number_and_leaves_an_anonymised_record(world: World) -> None:
    member = _member(world, name="Vanishing", email="vanishing@example.com", tags=["vip"])
    url = f"{V1}/members/{member['id']}/erase"
    wrong = world.client.post(url, json={"confirm": member["member_code"]}, headers=world.as_("admin"))
    assert wrong.status_code == 422
    assert wrong.json()["code"] == "ERASURE_NOT_CONFIRMED"
    assert [e["field"] for e in wrong.json()["errors"]] == ["confirm"]
    assert world.client.post(url, json={}, headers=world.as_("admin")).status_code == 422
    assert world.client.get(f"{V1}/members/{member['id']}", headers=world.as_("admin")).json()["name"] == (
        "Vanishing"
    )

    done = world.client.post(url, json={"confirm": member["card_no"]}, headers=world.as_("admin"))
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["erased_ids"] == [member["id"]]
    shown = body["member"]
    assert (shown["phone"], shown["name"], shown["email"], shown["birthday"], shown["tags"]) == (
        None,
        None,
        None,
        None,
        [],
    )
    assert shown["status"] == "inactive"
    assert shown["erased_at"] == body["erased_at"]
    assert shown["card_no"] != member["card_no"]
    again = world.client.get(f"{V1}/members/{member['id']}", headers=world.as_("cashier")).json()
    assert again["erased_at"] is not None
    assert again["phone"] is None
    # the old references find nobody, and the list holds nothing of theirs
    for params in (
        {"phone": member["phone"]},
        {"card_no": member["card_no"]},
        {"member_code": member["member_code"]},
    ):
        lookup = world.client.get(f"{V1}/members/lookup", params=params, headers=world.as_("admin"))
        assert lookup.status_code == 404, params
    listed = world.client.get(f"{V1}/members", params={"q": "Vanishing"}, headers=world.as_("admin")).json()
    assert listed["items"] == []
    # the package now holds no contact data either
    package = world.client.get(f"{V1}/members/{member['id']}/data-export", headers=world.as_("admin")).json()
    assert member["phone"] not in json.dumps(package)
    assert "Vanishing" not in json.dumps(package)
    # an erased record is never erased twice, filled in again or merged
    second = world.client.post(url, json={"confirm": shown["card_no"]}, headers=world.as_("admin"))
    assert (second.status_code, second.json()["code"]) == (409, "MEMBER_ERASED")
    patched = world.client.patch(
        f"{V1}/members/{member['id']}", json={"name": "Back"}, headers=world.as_("admin")
    )
    assert (patched.status_code, patched.json()["code"]) == (409, "MEMBER_ERASED")
    other = _member(world)
    merged = world.client.post(
        f"{V1}/members/merge",
        json={"duplicate_id": member["id"], "survivor_id": other["id"]},
        headers=world.as_("admin"),
    )
    assert (merged.status_code, merged.json()["code"]) == (409, "MEMBER_ERASED")
    assert [e["field"] for e in merged.json()["errors"]] == ["duplicate_id"]
    # the phone is free again
    assert register(world, "admin", member["phone"], world.store_a)["id"] != member["id"]


def test_the_erasure_answers_in_chinese_too(world: World) -> None:
    member = _member(world)
    headers = {**world.as_("admin"), "Accept-Language": "zh-CN"}
    wrong = world.client.post(f"{V1}/members/{member['id']}/erase", json={"confirm": "1"}, headers=headers)
    assert wrong.status_code == 422
    assert wrong.json()["title"] == "删除未经确认"
    assert wrong.json()["errors"][0]["message"] == "请输入该会员的卡号以确认删除"


def test_merging_into_an_inactive_member_is_refused(world: World) -> None:
    survivor, duplicate = _member(world), _member(world)
    world.client.post(f"{V1}/members/{survivor['id']}/deactivate", headers=world.as_("admin"))
    refused = world.client.post(
        f"{V1}/members/merge",
        json={"duplicate_id": duplicate["id"], "survivor_id": survivor["id"]},
        headers=world.as_("admin"),
    )
    assert (refused.status_code, refused.json()["code"]) == (409, "MEMBER_INACTIVE")
    assert [e["field"] for e in refused.json()["errors"]] == ["survivor_id"]
    # the other way round is allowed: a deactivated duplicate may be merged away
    done = world.client.post(
        f"{V1}/members/merge",
        json={"duplicate_id": survivor["id"], "survivor_id": duplicate["id"]},
        headers=world.as_("admin"),
    )
    assert done.status_code == 200, done.text


def test_stored_replies_that_held_the_member_are_forgotten(world: World) -> None:
    phone = f"+86133{next(_n):08d}"
    headers = {**world.as_("admin"), "Idempotency-Key": f"erase-me-{next(_n)}"}
    body = {"phone": phone, "name": "Replayed", "registration_store_id": world.store_a}
    member = world.client.post(f"{V1}/members", json=body, headers=headers).json()
    assert world.client.post(f"{V1}/members", json=body, headers=headers).json()["id"] == member["id"]
    done = world.client.post(
        f"{V1}/members/{member['id']}/erase", json={"confirm": member["card_no"]}, headers=world.as_("admin")
    )
    assert done.json()["requests_forgotten"] == 1
    with world.ctx.engine.connect() as conn:
        stored = json.dumps(
            [r[0] for r in conn.execute(text("SELECT response FROM idempotency_keys"))], default=str
        )
    assert phone not in stored
    assert member["member_code"] not in stored
