"""Earning rules through the REST API, on both backends: defined, listed, versioned and retired; the
programme as YAML; every bad field named; a sale before a change earns by the old version and one
after by the new (posted with their own `occurred_at`); the till's quote is what posting gives, and
a receipt's explanation is what it earned."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml

from loyalty.bootstrap import FrozenClock
from tests.api.api_world import World, register

V1 = "/api/v1"
_n = itertools.count(1)


def _code() -> str:
    return f"api-{next(_n)}"


def _sku() -> str:
    return f"API-SKU-{next(_n)}"


def _fields(resp: Any) -> list[str]:
    return [e["field"] for e in resp.json()["errors"]]


def _sale(w: World, sku: str, at: datetime, *, member: int | None = None, who: str = "pos") -> dict[str, Any]:
    body = {
        "store_id": w.store_a,
        "member_id": w.member_a["id"] if member is None else member,
        "order_id": f"api-{next(_n)}",
        "occurred_at": at.isoformat(),
        "lines": [
            {"sku": sku, "category": "apparel", "quantity": 2, "unit_price": "49.90", "discount": "5.00"},
            {"sku": "PLAIN", "category": "shoes", "quantity": 1, "unit_price": "120.00"},
        ],
    }
    resp = w.client.post(f"{V1}/purchases", json=body, headers=w.as_(who))
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def test_rules_are_defined_listed_versioned_and_retired(world: World) -> None:
    code, sku = _code(), _sku()
    rule = {
        "code": code,
        "name": "加赠",
        "kind": "bonus_per_unit",
        "points_per_unit": 3,
        "when": {"skus": [sku]},
    }
    created = world.client.post(
        f"{V1}/programme/rules", json={"rules": [rule]}, headers=world.as_("marketer")
    )
    assert created.status_code == 201, created.text
    (v1,) = created.json()
    assert (v1["code"], v1["version"], v1["kind"], v1["effective_to"]) == (code, 1, "bonus_per_unit", None)
    assert v1["definition"]["when"] == {"skus": [sku]}
    same = world.client.post(f"{V1}/programme/rules", json={"rules": [rule]}, headers=world.as_("marketer"))
    assert (same.status_code, same.json()) == (201, [])  # the same as in force: nothing written
    changed = world.client.post(
        f"{V1}/programme/rules", json={"rules": [{**rule, "points_per_unit": 4}]}, headers=world.as_("admin")
    )
    assert [v["version"] for v in changed.json()] == [2]
    listed = world.client.get(f"{V1}/programme/rules", headers=world.as_("analyst")).json()
    assert [(v["version"], v["definition"]["points_per_unit"]) for v in listed if v["code"] == code] == [
        (2, 4)
    ]
    history = world.client.get(
        f"{V1}/programme/rules", params={"history": "true"}, headers=world.as_("auditor")
    ).json()
    versions = [v for v in history if v["code"] == code]
    assert [v["version"] for v in versions] == [1, 2]
    assert versions[0]["effective_to"] == versions[1]["effective_from"]
    retired = world.client.delete(f"{V1}/programme/rules/{code}", headers=world.as_("marketer"))
    assert retired.status_code == 200, retired.text
    assert retired.json()["effective_to"] is not None
    listed = world.client.get(f"{V1}/programme/rules", headers=world.as_("marketer")).json()
    assert code not in {v["code"] for v in listed}
    gone = world.client.delete(f"{V1}/programme/rules/{code}", headers=world.as_("marketer"))
    assert (gone.status_code, gone.json()["code"]) == (404, "RULE_NOT_FOUND")


def test_bad_definitions_are_refused_naming_each_field_in_the_callers_language(world: World) -> None:
    rules = [
        {"code": _code(), "kind": "fixed_bonus", "points": 5, "when": {"stores": ["NO-SUCH-STORE"]}},
        {"code": _code(), "kind": "multiplier", "multiplier_pct": 200, "when": {"hours": "9-17"}},
        {"code": "x", "kind": "fixed_bonus", "points": 5, "when": {"tiers": ["platinum"]}},
        {"code": "x", "kind": "fixed_bonus", "points": 6},
    ]
    resp = world.client.post(f"{V1}/programme/rules", json={"rules": rules}, headers=world.as_("marketer"))
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["code"] == "RULE_INVALID"
    assert _fields(resp) == [
        "rules[0].when.stores",
        "rules[1].when.hours",
        "rules[2].when.tiers",
        "rules[3].code",
    ]
    chinese = world.client.post(
        f"{V1}/programme/rules",
        json={"rules": rules[1:2]},
        headers={**world.as_("marketer"), "Accept-Language": "zh-CN"},
    )
    assert chinese.json()["errors"] == [
        {"field": "rules[0].when.hours", "message": "格式应为 HH:MM-HH:MM（收到 9-17）"}
    ]
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    backdated = world.client.post(
        f"{V1}/programme/rules",
        json={"rules": [{"code": _code(), "kind": "fixed_bonus", "points": 5}], "effective_from": past},
        headers=world.as_("marketer"),
    )
    assert (backdated.status_code, backdated.json()["code"], _fields(backdated)) == (
        422,
        "RULE_BACKDATED",
        ["effective_from"],
    )


def test_the_programme_travels_as_yaml(world: World) -> None:
    code, sku = _code(), _sku()
    rule = {"code": code, "name": "YAML", "kind": "fixed_bonus", "points": 7, "when": {"skus": [sku]}}
    world.client.post(f"{V1}/programme/rules", json={"rules": [rule]}, headers=world.as_("marketer"))
    exported = world.client.get(f"{V1}/programme/rules.yaml", headers=world.as_("auditor"))
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("application/yaml")
    document = yaml.safe_load(exported.text)
    assert (document["programme"], document["currency"]) == ("default", "CNY")
    assert rule | {"name": "YAML"} in document["rules"]
    put = {"headers": {**world.as_("marketer"), "Content-Type": "application/yaml"}}
    again = world.client.put(f"{V1}/programme/rules.yaml", content=exported.text, **put)
    assert again.status_code == 200, again.text
    assert {c["action"] for c in again.json()["changes"]} == {"unchanged"}
    document["rules"] = [dict(r, points=8) if r["code"] == code else r for r in document["rules"]]
    text = yaml.safe_dump(document, allow_unicode=True)
    dry = world.client.put(f"{V1}/programme/rules.yaml", params={"dry_run": "true"}, content=text, **put)
    assert dry.json()["dry_run"] is True
    assert [c for c in dry.json()["changes"] if c["action"] != "unchanged"] == [
        {"code": code, "action": "changed", "version": 2}
    ]
    listed = world.client.get(f"{V1}/programme/rules", headers=world.as_("marketer")).json()
    assert [v["version"] for v in listed if v["code"] == code] == [1]  # the dry run wrote nothing
    bad = world.client.put(f"{V1}/programme/rules.yaml", content="rules:\n  - code: [\n", **put)
    assert (bad.status_code, bad.json()["code"], _fields(bad)) == (422, "RULES_YAML_INVALID", ["yaml"])
    wrong = world.client.put(
        f"{V1}/programme/rules.yaml", content="currency: USD\nrules:\n  - {code: a, kind: exclude}\n", **put
    )
    assert _fields(wrong) == ["currency", "rules[0].when"]


def test_the_whole_programme_travels_as_one_yaml_document(world: World) -> None:
    code = _code()
    offer = {"code": code, "name": "满100减20", "kind": "amount_off", "amount": "20.00",
             "when": {"min_spend": "100.00", "skus": [_sku()]}, "limits": {"per_member": 1}}  # fmt: skip
    put = {"headers": {**world.as_("marketer"), "Content-Type": "application/yaml"}}
    first = world.client.put(f"{V1}/programme.yaml", content=yaml.safe_dump({"offers": [offer]}), **put)
    assert first.status_code == 200, first.text
    assert (first.json()["rules"], {o["code"]: o["action"] for o in first.json()["offers"]}[code]) == (
        None,
        "new",
    )
    exported = world.client.get(f"{V1}/programme.yaml", headers=world.as_("auditor"))
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("application/yaml")
    document = yaml.safe_load(exported.text)
    assert offer in document["offers"]
    again = world.client.put(f"{V1}/programme.yaml", content=exported.text, **put)
    assert (again.status_code, again.json()["unchanged"]) == (200, True)
    issued = world.client.post(
        f"{V1}/offers/{code}/coupons", json={"count": 1}, headers=world.as_("marketer")
    )
    assert issued.status_code == 201
    document["offers"] = [o | {"amount": "25.00"} if o["code"] == code else o for o in document["offers"]]
    index = [o["code"] for o in document["offers"]].index(code)
    refused = world.client.put(f"{V1}/programme.yaml", content=yaml.safe_dump(document), **put)
    assert (refused.status_code, refused.json()["code"]) == (422, "PROGRAMME_INVALID")
    assert _fields(refused) == [f"offers[{index}]"]


def test_a_sale_earns_by_the_version_in_force_at_its_time(world: World) -> None:
    """v1 from two hours ago, v2 from half an hour ago: a sale made 45 minutes ago (posted now) earns
    by v1, one made 10 minutes ago by v2, and each explanation names its version."""
    code, sku = _code(), _sku()
    now = datetime.now(UTC)
    rule = {
        "code": code,
        "name": "版本",
        "kind": "bonus_per_unit",
        "points_per_unit": 1,
        "when": {"skus": [sku]},
    }
    clock = world.ctx.clock
    try:
        world.ctx.clock = FrozenClock(now - timedelta(hours=2))  # the rules were defined then
        first = world.client.post(
            f"{V1}/programme/rules", json={"rules": [rule]}, headers=world.as_("marketer")
        )
        world.ctx.clock = FrozenClock(now - timedelta(hours=1))
        later = (now - timedelta(minutes=30)).isoformat()
        second = world.client.post(
            f"{V1}/programme/rules",
            json={"rules": [{**rule, "points_per_unit": 5}], "effective_from": later},
            headers=world.as_("marketer"),
        )
    finally:
        world.ctx.clock = clock
    assert (first.status_code, second.status_code) == (201, 201), second.text
    old = _sale(world, sku, now - timedelta(minutes=45))
    new = _sale(world, sku, now - timedelta(minutes=10))
    entries = {}
    for sale in (old, new):
        explained = world.client.get(f"{V1}/purchases/{sale['id']}/earning", headers=world.as_("cashier"))
        assert explained.status_code == 200, explained.text
        body = explained.json()
        assert sum(ln["points"] for ln in body["lines"]) == body["points_earned"] == sale["points_earned"]
        assert body["base_rule"] == sale["rule"]
        entries[sale["id"]] = [(r["code"], r["version"], r["points"]) for r in body["lines"][0]["rules"]]
    # the line is 2 × 49.90 − 5.00 = 94.80: 1 point per yuan by v1, 5 by v2
    assert entries[old["id"]] == [(code, 1, 94)]
    assert entries[new["id"]] == [(code, 2, 474)]
    assert new["points_earned"] - old["points_earned"] == 474 - 94


def test_the_quote_is_what_posting_gives(world: World) -> None:
    code, sku = _code(), _sku()
    rules = [
        {
            "code": code,
            "name": "整单奖励",
            "kind": "fixed_bonus",
            "points": 50,
            "when": {"min_spend": "100", "channels": ["delivery"]},
        },  # only this test's sales
        {
            "code": _code(),
            "name": "商品三倍",
            "kind": "multiplier",
            "multiplier_pct": 300,
            "when": {"skus": [sku]},
        },
    ]
    made = world.client.post(f"{V1}/programme/rules", json={"rules": rules}, headers=world.as_("marketer"))
    assert made.status_code == 201, made.text
    member = int(register(world, "admin", f"+86135{next(_n):08d}", world.store_a)["id"])
    at = datetime.now(UTC)  # the rules are in force from when they were defined, just before
    cart = {
        "store_id": world.store_a,
        "member_id": member,
        "occurred_at": at.isoformat(),
        "channel": "delivery",
        "lines": [
            {"sku": sku, "category": "apparel", "quantity": 2, "unit_price": "49.90", "discount": "5.00"},
            {"sku": "PLAIN", "category": "shoes", "quantity": 1, "unit_price": "120.00"},
        ],
    }
    quoted = world.client.post(f"{V1}/checkout/quote", json=cart, headers=world.as_("pos"))
    assert quoted.status_code == 200, quoted.text
    q = quoted.json()
    assert (q["anonymous"], q["note"], q["total"]["amount"]) == (False, None, "214.80")
    assert q["redemption"]["available"] == 0
    sale = world.client.post(
        f"{V1}/purchases", json={**cart, "order_id": f"quote-{next(_n)}"}, headers=world.as_("pos")
    ).json()
    assert sale["points_earned"] == q["points"] > 0
    assert {r["code"] for ln in q["lines"] for r in ln["rules"]} == {r["code"] for r in rules}
    assert sale["rule"] == q["base_rule"]
    explained = world.client.get(f"{V1}/purchases/{sale['id']}/earning", headers=world.as_("pos")).json()
    assert explained["lines"] == q["lines"]
    mine = world.client.get(f"{V1}/me/purchases/{sale['id']}/earning", headers=world.as_("member"))
    assert mine.status_code == 404  # member A's token; the sale is another member's
    anonymous = world.client.post(
        f"{V1}/checkout/quote", json={**cart, "member_id": None}, headers=world.as_("cashier")
    ).json()
    assert (anonymous["anonymous"], anonymous["points"], anonymous["redemption"]) == (True, 0, None)
    assert anonymous["note"]
    bad = world.client.post(
        f"{V1}/checkout/quote",
        json={**cart, "lines": [{**cart["lines"][0], "unit_price": "1.001"}]},
        headers=world.as_("cashier"),
    )
    assert (bad.status_code, _fields(bad)) == (422, ["lines.0.unit_price"])


def test_a_member_reads_why_their_own_sale_earned(world: World) -> None:
    sale = _sale(world, _sku(), datetime.now(UTC) - timedelta(minutes=2))
    mine = world.client.get(f"{V1}/me/purchases/{sale['id']}/earning", headers=world.as_("member"))
    assert mine.status_code == 200, mine.text
    assert mine.json()["points_earned"] == sale["points_earned"]
    other = world.client.get(f"{V1}/me/purchases/{sale['id']}/earning", headers=world.as_("member_b"))
    assert (other.status_code, other.json()["code"]) == (404, "PURCHASE_NOT_FOUND")
