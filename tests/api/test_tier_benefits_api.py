"""Tier benefits over HTTP on both backends: a tier's services set through the tiers API (an unknown
one refused naming the field) and shown wherever a tier is — the ladder, a member's record for the
till, the member's own profile and card — named in both languages; rewards for some tiers only
(a member below refused naming the tiers, one in them served, the member's catalogue showing it
locked); and issuing coupons under an Idempotency-Key (a retry answers the same codes, never a second
batch; the key reused with another request refused)."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

from loyalty.services import points, tiers
from tests.api.api_world import World

V1 = "/api/v1"
_n = itertools.count(1)
ZH = {"Accept-Language": "zh-CN"}


def _tier_id(w: World, code: str) -> int:
    return next(t.id for t in tiers.list_tiers(w.ctx) if t.code == code)


def _services(body: dict[str, Any], key: str = "services") -> list[str]:
    return [s["code"] for s in body[key]]


def test_tier_services_are_set_and_shown_wherever_the_tier_is(world: World) -> None:
    w, b = world, world.member_b["id"]
    gold = _tier_id(w, "gold")
    set_ = w.client.patch(
        f"{V1}/tiers/{gold}", json={"services": ["vip_lane", "free_parking"]}, headers=w.as_("marketer")
    )
    assert set_.status_code == 200, set_.text
    assert set_.json()["services"] == [
        {"code": "vip_lane", "name_zh": "VIP 通道", "name_en": "VIP lane"},
        {"code": "free_parking", "name_zh": "免费停车", "name_en": "Free parking"},
    ]
    ladder = w.client.get(f"{V1}/tiers", headers=w.as_("cashier")).json()
    shown = next(t for t in ladder if t["code"] == "gold")
    assert [s["name_zh"] for s in shown["services"]] == ["VIP 通道", "免费停车"]
    assert next(t for t in ladder if t["code"] == "normal")["services"] == []

    unknown = w.client.patch(f"{V1}/tiers/{gold}", json={"services": ["helipad"]}, headers=w.as_("admin"))
    assert unknown.status_code == 422
    assert [e["field"] for e in unknown.json()["errors"]] == ["services.0"]
    cashier = w.client.patch(f"{V1}/tiers/{gold}", json={"services": []}, headers=w.as_("cashier"))
    assert cashier.status_code == 403
    assert _services(w.client.get(f"{V1}/tiers", headers=w.as_("admin")).json()[2]) == [
        "vip_lane",
        "free_parking",
    ]

    before = w.client.get(f"{V1}/members/{b}", headers=w.as_("cashier_b")).json()
    assert (before["tier_code"], before["tier_services"]) == ("normal", [])
    tiers.lock_tier(w.ctx, b, "gold", until=w.ctx.now() + timedelta(days=30), reason="api test")
    card = w.client.get(f"{V1}/members/{b}", headers=w.as_("cashier_b")).json()
    assert card["tier_code"] == "gold"
    assert [(s["code"], s["name_zh"]) for s in card["tier_services"]] == [
        ("vip_lane", "VIP 通道"),
        ("free_parking", "免费停车"),
    ]
    me = w.client.get(f"{V1}/me", headers=w.as_("member_b")).json()
    assert _services(me, "tier_services") == ["vip_lane", "free_parking"]
    my_card = w.client.get(f"{V1}/me/card", headers=w.as_("member_b")).json()
    assert (my_card["tier_code"], _services(my_card, "tier_services")) == (
        "gold",
        ["vip_lane", "free_parking"],
    )

    added = w.client.post(
        f"{V1}/tiers",
        json={"name": "黑卡", "threshold": "90000.00", "multiplier_pct": 250, "services": ["member_lounge"]},
        headers=w.as_("admin"),
    )
    assert added.status_code == 201, added.text
    assert _services(added.json()) == ["member_lounge"]
    bad = w.client.post(
        f"{V1}/tiers",
        json={"name": "Nope", "threshold": "95000.00", "multiplier_pct": 250, "services": ["VIP lane"]},
        headers=w.as_("admin"),
    )
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["services.0"]


def test_a_reward_for_some_tiers_refuses_a_member_below_and_serves_one_in_them(world: World) -> None:
    w, a, b = world, world.member_a["id"], world.member_b["id"]
    tiers.lock_tier(w.ctx, b, "gold", until=w.ctx.now() + timedelta(days=30), reason="api test")
    for who in (a, b):
        points.adjust(w.ctx, who, 1_000, reason="api test", operator="test")
    code = f"lounge-{next(_n)}"
    body = {"code": code, "name": "贵宾室", "kind": "service", "points": 200, "tiers": ["gold", "diamond"]}
    made = w.client.post(f"{V1}/rewards", json=body, headers=w.as_("marketer"))
    assert made.status_code == 201, made.text
    assert made.json()["tiers"] == ["gold", "diamond"]

    below = w.client.post(
        f"{V1}/members/{a}/reward-orders",
        json={"reward": code, "store_id": w.store_a},
        headers=w.as_("cashier"),
    )
    assert below.status_code == 409
    problem = below.json()
    assert problem["code"] == "REWARD_TIER_ONLY"
    assert problem["allowed_tiers"] == ["gold", "diamond"]
    assert "金卡, 钻石" in problem["detail"]
    zh = w.client.post(f"{V1}/me/reward-orders", json={"reward": code}, headers={**w.as_("member"), **ZH})
    assert zh.status_code == 409
    assert "仅限" in zh.json()["detail"]
    assert points.balance(w.ctx, a).available == 1_000  # nothing spent

    mine = {r["code"]: r for r in w.client.get(f"{V1}/me/rewards", headers=w.as_("member")).json()}
    assert (mine[code]["locked"], mine[code]["for_tiers"]) == (True, ["金卡", "钻石"])
    theirs = {r["code"]: r for r in w.client.get(f"{V1}/me/rewards", headers=w.as_("member_b")).json()}
    assert (theirs[code]["locked"], theirs[code]["for_tiers"]) == (False, ["金卡", "钻石"])
    served = w.client.post(f"{V1}/me/reward-orders", json={"reward": code}, headers=w.as_("member_b"))
    assert served.status_code == 201, served.text
    assert served.json()["points"] == 200

    for tiers_given in (["nowhere"], [], ["gold"] * 51):
        refused = w.client.post(
            f"{V1}/rewards",
            json={**body, "code": f"x-{next(_n)}", "tiers": tiers_given},
            headers=w.as_("admin"),
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["field"] == "tiers"
    opened = w.client.patch(f"{V1}/rewards/{code}", json={"tiers": None}, headers=w.as_("marketer"))
    assert (opened.status_code, opened.json()["tiers"]) == (200, None)
    ordered = w.client.post(
        f"{V1}/members/{a}/reward-orders",
        json={"reward": code, "store_id": w.store_a},
        headers=w.as_("cashier"),
    )
    assert ordered.status_code == 201, ordered.text


def _offer(w: World) -> str:
    code = f"tier-offer-{next(_n)}"
    offer = {"code": code, "name": "满100减20", "kind": "ladder", "steps": [{"over": 100, "off": 20}]}
    made = w.client.post(f"{V1}/offers", json={"offer": offer}, headers=w.as_("marketer"))
    assert made.status_code == 201, made.text
    return code


def _issued(w: World, code: str) -> int:
    return int(w.client.get(f"{V1}/offers/{code}", headers=w.as_("marketer")).json()["coupons_issued"])


def test_issuing_coupons_with_an_idempotency_key_never_mints_a_second_batch(world: World) -> None:
    w = world
    code, other = _offer(w), _offer(w)
    key = {"Idempotency-Key": f"issue-{next(_n)}"}
    shared = {"count": 3, "max_uses": 5}
    first = w.client.post(f"{V1}/offers/{code}/coupons", json=shared, headers={**w.as_("marketer"), **key})
    assert first.status_code == 201, first.text
    assert "Idempotent-Replayed" not in first.headers
    again = w.client.post(f"{V1}/offers/{code}/coupons", json=shared, headers={**w.as_("marketer"), **key})
    assert again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json()  # the same shared codes, shown again to the one who asked
    assert _issued(w, code) == 3

    for changed_path, changed_body in ((code, {"count": 4, "max_uses": 5}), (other, shared)):
        reused = w.client.post(
            f"{V1}/offers/{changed_path}/coupons", json=changed_body, headers={**w.as_("marketer"), **key}
        )
        assert (reused.status_code, reused.json()["code"]) == (422, "IDEMPOTENCY_MISMATCH")
    assert (_issued(w, code), _issued(w, other)) == (3, 0)

    # keys are the caller's: another marketer's same key is their own request
    admins = w.client.post(f"{V1}/offers/{code}/coupons", json=shared, headers={**w.as_("admin"), **key})
    assert admins.status_code == 201
    assert "Idempotent-Replayed" not in admins.headers
    assert _issued(w, code) == 6

    wallets = {"member_ids": [w.member_a["id"], w.member_b["id"]]}
    key = {"Idempotency-Key": f"wallets-{next(_n)}"}
    sent = [
        w.client.post(f"{V1}/offers/{other}/coupons", json=wallets, headers={**w.as_("marketer"), **key})
        for _ in range(2)
    ]
    assert [s.status_code for s in sent] == [201, 201]
    assert sent[0].json() == sent[1].json()
    assert _issued(w, other) == 2
    wallet = w.client.get(f"{V1}/me/coupons", headers=w.as_("member")).json()
    assert sum(1 for c in wallet if c["offer_code"] == other) == 1

    # a refused request keeps nothing under its key: corrected, the retry issues
    key = {"Idempotency-Key": f"ended-{next(_n)}"}
    bad = w.client.post(
        f"{V1}/offers/{other}/coupons", json={"member_ids": [999_999]}, headers={**w.as_("marketer"), **key}
    )
    assert bad.status_code == 422
    assert _issued(w, other) == 2
    without = w.client.post(f"{V1}/offers/{other}/coupons", json={"count": 1}, headers=w.as_("marketer"))
    assert without.status_code == 201
    assert _issued(w, other) == 3
