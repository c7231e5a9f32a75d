"""Offers and coupons over HTTP on both backends: a marketer defines an offer with its limits, issues
codes to wallets and as shared codes, lists them, ends the offer and voids a code; the wallet as staff
and as the member see it; a sale's use moves the offer's counters; every bad definition named by its
field, and who may do what."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.api.api_world import World, purchase_body

V1 = "/api/v1"
PRINTED = re.compile(r"^[A-HJ-NP-Z2-9]{4}(-[A-HJ-NP-Z2-9]{4}){3}$")
_n = itertools.count(1)


def _code() -> str:
    return f"api-offer-{next(_n)}"


def _fields(resp: Any) -> list[str]:
    return [e["field"] for e in resp.json().get("errors") or []]


def _ladder(code: str) -> dict[str, Any]:
    return {
        "code": code,
        "name": "满100减20 / 满300减50",
        "kind": "ladder",
        "steps": [{"over": 100, "off": 20}, {"over": "300", "off": "50.00"}],
    }


def _define(w: World, offer: dict[str, Any], who: str = "marketer", **limits: Any) -> Any:
    return w.client.post(f"{V1}/offers", json={"offer": offer, **limits}, headers=w.as_(who))


def _sale_with(w: World, code: str) -> dict[str, Any]:
    body = purchase_body(w.store_a, w.member_a["id"], f"offer-sale-{next(_n)}")
    body["occurred_at"] = datetime.now(UTC).isoformat()
    body["coupon_codes"] = [code]
    resp = w.client.post(f"{V1}/purchases", json=body, headers=w.as_("pos"))
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def test_an_offer_defined_issued_used_listed_and_ended(world: World) -> None:
    w, code = world, _code()
    a, b = w.member_a["id"], w.member_b["id"]
    made = _define(w, _ladder(code), per_member=1, max_uses=100, budget="500.00", validity_days=30)
    assert made.status_code == 201, made.text
    offer = made.json()
    assert (offer["status"], offer["uses"], offer["coupons_issued"]) == ("running", 0, 0)
    assert offer["budget"] == offer["budget_left"] == {"amount": "500.00", "currency": "CNY"}
    assert offer["discounted"] == {"amount": "0.00", "currency": "CNY"}
    assert offer["definition"]["steps"] == [
        {"over": "100.00", "off": "20.00"},
        {"over": "300.00", "off": "50.00"},
    ]
    assert (offer["per_member"], offer["max_uses"], offer["validity_days"]) == (1, 100, 30)

    wallets = w.client.post(
        f"{V1}/offers/{code}/coupons", json={"member_ids": [a, b]}, headers=w.as_("marketer")
    )
    assert wallets.status_code == 201, wallets.text
    held = wallets.json()["coupons"]
    assert [c["member_id"] for c in held] == [a, b]
    assert all(PRINTED.match(c["code"]) for c in held)
    shared = w.client.post(
        f"{V1}/offers/{code}/coupons", json={"count": 3, "max_uses": 5}, headers=w.as_("admin")
    )
    assert shared.status_code == 201, shared.text
    assert [c["member_id"] for c in shared.json()["coupons"]] == [None, None, None]
    assert len({c["code"] for c in held + shared.json()["coupons"]}) == 5

    # the wallet: staff (any store's) and the member see member A's code; member B only theirs
    mine = w.client.get(f"{V1}/me/coupons", headers=w.as_("member")).json()
    assert held[0]["code"] in [c["code"] for c in mine]
    by_staff = w.client.get(f"{V1}/members/{a}/coupons", headers=w.as_("cashier_b")).json()
    assert [c["code"] for c in by_staff] == [c["code"] for c in mine]
    entry = next(c for c in mine if c["code"] == held[0]["code"])
    assert (entry["offer_code"], entry["kind"], entry["usable_now"]) == (code, "ladder", True)
    theirs = w.client.get(f"{V1}/me/coupons", headers=w.as_("member_b")).json()
    assert held[0]["code"] not in [c["code"] for c in theirs]
    assert held[1]["code"] in [c["code"] for c in theirs]

    # a sale uses member A's code: the offer counts the use, its discount and what is left
    sale = _sale_with(w, held[0]["code"])
    assert [c["offer_code"] for c in sale["coupons"]] == [code]
    shown = w.client.get(f"{V1}/offers/{code}", headers=w.as_("analyst")).json()
    assert (shown["uses"], shown["coupons_issued"]) == (1, 5)
    assert shown["discounted"]["amount"] == "50.00"
    assert shown["budget_left"]["amount"] == "450.00"
    listed = w.client.get(f"{V1}/offers", headers=w.as_("auditor")).json()
    assert code in [o["code"] for o in listed]
    running = w.client.get(f"{V1}/offers", params={"current": "true"}, headers=w.as_("marketer")).json()
    assert code in [o["code"] for o in running]

    # the coupons, page by page: codes for the marketer, masked for the analyst
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
        page = w.client.get(f"{V1}/offers/{code}/coupons", params=params, headers=w.as_("marketer")).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 5
    assert {c["code"] for c in seen} == {c["code"] for c in held + shared.json()["coupons"]}
    status = {c["code"]: c["status"] for c in seen}
    assert status[held[0]["code"]] == "used"
    assert status[held[1]["code"]] == "usable"
    masked = w.client.get(f"{V1}/offers/{code}/coupons", headers=w.as_("analyst")).json()["items"]
    assert all(re.match(r"^[A-Z2-9]{4}-\*{4}-\*{4}-[A-Z2-9]{4}$", c["code"]) for c in masked)

    # void a shared code (typed: lower case, no dashes), then end the offer
    first = shared.json()["coupons"][0]["code"]
    voided = w.client.post(f"{V1}/coupons/{first.replace('-', '').lower()}/void", headers=w.as_("marketer"))
    assert (voided.status_code, voided.json()["status"], voided.json()["code"]) == (200, "voided", first)
    again = w.client.post(f"{V1}/coupons/{first}/void", headers=w.as_("marketer"))
    assert (again.status_code, again.json()["code"]) == (409, "COUPON_VOIDED")
    used = w.client.post(f"{V1}/coupons/{held[0]['code']}/void", headers=w.as_("marketer"))
    assert (used.status_code, used.json()["code"]) == (409, "COUPON_USED_UP")

    ended = w.client.post(f"{V1}/offers/{code}/end", headers=w.as_("marketer"))
    assert (ended.status_code, ended.json()["status"]) == (200, "ended")
    assert ended.json()["valid_to"] is not None
    after = w.client.get(f"{V1}/members/{b}/coupons", headers=w.as_("pos")).json()
    assert held[1]["code"] not in [c["code"] for c in after]  # an ended offer's codes leave the wallet
    statuses = w.client.get(f"{V1}/offers/{code}/coupons", headers=w.as_("admin")).json()["items"]
    assert {c["code"]: c["status"] for c in statuses}[held[1]["code"]] == "expired"
    twice = w.client.post(f"{V1}/offers/{code}/end", headers=w.as_("marketer"))
    assert (twice.status_code, twice.json()["code"]) == (409, "OFFER_ENDED")
    late = w.client.post(f"{V1}/offers/{code}/coupons", json={"count": 1}, headers=w.as_("marketer"))
    assert (late.status_code, late.json()["code"]) == (409, "OFFER_ENDED")
    now_running = w.client.get(f"{V1}/offers", params={"current": "true"}, headers=w.as_("marketer")).json()
    assert code not in [o["code"] for o in now_running]


def test_a_definition_that_cannot_work_is_refused_naming_the_field(world: World) -> None:
    w, code = world, _code()
    five: dict[str, Any] = {"code": code, "kind": "amount_off", "amount": 5}
    bad: list[tuple[dict[str, Any], dict[str, Any], str]] = [
        ({"code": code, "kind": "half_price"}, {}, "offer.kind"),
        (_ladder(code) | {"steps": [{"over": 300, "off": 50}, {"over": 100, "off": 20}]}, {}, "offer.steps"),
        ({"code": code, "kind": "percent_off", "percent": 150}, {}, "offer.percent"),
        (five | {"when": {"stores": ["NOWHERE"]}}, {}, "offer.when.stores"),
        (five | {"colour": "red"}, {}, "offer.colour"),
        (five | {"automatic": True}, {"max_uses": 5}, "max_uses"),
        (five, {"budget": "0.001"}, "budget"),
        (five, {"budget": "0"}, "budget"),
        (five, {"per_member": 0}, "per_member"),
        (five, {"activation_days": 366}, "activation_days"),
        (five, {"surprise": 1}, "surprise"),
    ]  # fmt: skip
    soon = datetime.now(UTC) + timedelta(days=2)
    bad += [
        (
            five,
            {"valid_from": soon.isoformat(), "valid_to": (soon - timedelta(hours=1)).isoformat()},
            "valid_to",
        ),
        (
            five,
            {"valid_from": (soon + timedelta(days=200)).isoformat()},
            "valid_from",
        ),
    ]
    for offer, limits, field in bad:
        resp = _define(w, offer, **limits)
        assert resp.status_code == 422, (field, resp.text)
        assert field in _fields(resp), (field, resp.json())
    assert w.client.get(f"{V1}/offers/{code}", headers=w.as_("marketer")).status_code == 404  # none written

    made = _define(w, {"code": code, "kind": "amount_off", "amount": 5})
    assert made.status_code == 201, made.text
    taken = _define(w, {"code": code, "kind": "percent_off", "percent": 5})
    assert (taken.status_code, taken.json()["code"], _fields(taken)) == (422, "OFFER_EXISTS", ["offer.code"])

    issue = f"{V1}/offers/{code}/coupons"
    for body, field in (
        ({}, "member_ids"),
        ({"member_ids": [w.member_a["id"]], "count": 2}, "member_ids"),
        ({"member_ids": [2_000_000_000]}, "member_ids"),
        ({"count": 10_001}, "count"),
        ({"count": 1, "max_uses": 0}, "max_uses"),
    ):
        resp = w.client.post(issue, json=body, headers=w.as_("marketer"))
        assert resp.status_code == 422, (body, resp.text)
        assert _fields(resp) == [field], (body, resp.json())

    promo = _code()
    assert (
        _define(w, {"code": promo, "kind": "percent_off", "percent": 5, "automatic": True}).status_code == 201
    )
    resp = w.client.post(f"{V1}/offers/{promo}/coupons", json={"count": 1}, headers=w.as_("marketer"))
    assert (resp.status_code, resp.json()["code"]) == (409, "OFFER_AUTOMATIC")

    for method, path in (
        ("GET", "/offers/no-such-offer"),
        ("POST", "/offers/no-such-offer/end"),
        ("GET", "/offers/no-such-offer/coupons"),
        ("POST", "/coupons/AAAA-BBBB-CCCC-DDDD/void"),
    ):
        resp = w.client.request(method, f"{V1}{path}", headers=w.as_("admin"))
        assert (resp.status_code, _fields(resp)) == (404, ["path.code"]), (path, resp.text)
    resp = w.client.get(f"{V1}/offers/{code}/coupons", params={"cursor": "abc"}, headers=w.as_("admin"))
    assert (resp.status_code, _fields(resp)) == (422, ["query.cursor"])


def test_who_may_do_what(world: World) -> None:
    w, code = world, _code()
    offer = {"code": code, "kind": "percent_off", "percent": 10}
    for who, status in (
        ("analyst", 403),
        ("cashier", 403),
        ("pos", 403),
        ("member", 403),
        ("anonymous", 401),
    ):
        assert _define(w, offer, who=who).status_code == status, who
    assert _define(w, offer, who="admin").status_code == 201
    for who, status in (("analyst", 200), ("auditor", 200), ("cashier", 403), ("store_manager", 403)):
        assert w.client.get(f"{V1}/offers/{code}", headers=w.as_(who)).status_code == status, who
    issue = f"{V1}/offers/{code}/coupons"
    for who in ("analyst", "auditor", "cashier"):
        assert w.client.post(issue, json={"count": 1}, headers=w.as_(who)).status_code == 403, who
    wallet = f"{V1}/members/{w.member_a['id']}/coupons"
    for who in ("cashier", "pos", "analyst", "store_manager"):
        assert w.client.get(wallet, headers=w.as_(who)).status_code == 200, who
    assert w.client.get(wallet, headers=w.as_("member")).status_code == 403  # members use /me
    assert w.client.get(f"{V1}/me/coupons", headers=w.as_("cashier")).status_code == 403
    missing = w.client.get(f"{V1}/members/2000000000/coupons", headers=w.as_("cashier"))
    assert (missing.status_code, missing.json()["code"]) == (404, "MEMBER_NOT_FOUND")


def test_a_next_order_coupon_waits_in_the_wallet(world: World) -> None:
    w, code = world, _code()
    made = _define(w, {"code": code, "kind": "amount_off", "amount": "10.00"}, activation_days=7)
    assert made.status_code == 201, made.text
    issued = w.client.post(
        f"{V1}/offers/{code}/coupons", json={"member_ids": [w.member_a["id"]]}, headers=w.as_("marketer")
    )
    held = issued.json()["coupons"][0]["code"]
    mine = {c["code"]: c for c in w.client.get(f"{V1}/me/coupons", headers=w.as_("member")).json()}
    assert mine[held]["usable_now"] is False
    assert mine[held]["definition"] == {"code": code, "name": code, "kind": "amount_off", "amount": "10.00"}
    listed = w.client.get(f"{V1}/offers/{code}/coupons", headers=w.as_("marketer")).json()["items"]
    assert [(c["code"], c["status"], c["member_id"]) for c in listed] == [(held, "waiting", w.member_a["id"])]
