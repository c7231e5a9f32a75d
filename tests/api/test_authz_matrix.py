"""Every endpoint × every caller: who is allowed, who is refused (incl. cross-store, cross-member).

The expectations below are written out by hand, independently of `loyalty.api.security.PERMISSIONS`,
so a wrong entry in the permission table fails here. A route the app serves but the matrix does not
list fails too (the routes are read from the app, not from its published schema, so an unpublished
route counts), so a new endpoint cannot ship without deciding who may call it. Allowed callers must get
a 2xx (the requests are valid), refused ones 403 (401 when anonymous); where an object is another
member's, 404 (`hidden`). The other store's cashier, till and manager (`cashier_b`, `pos_b`,
`manager_b`) try every object of store A: the manager holds every store-scoped permission, so a missing
store check on a manager-only route shows here.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.anomalies.helpers import flag_for, fresh_flag, suspended_member
from tests.api.api_world import PASSWORD, World, purchase_body, register
from tests.api.routes import app_routes

CALLERS = (
    "admin",
    "marketer",
    "store_manager",
    "cashier",
    "analyst",
    "auditor",
    "pos",
    "member",
    "cashier_b",
    "manager_b",
    "pos_b",
    "member_b",
    "anonymous",
)
OTHER_STORE_STAFF = {"cashier_b", "manager_b"}
STAFF = {"admin", "marketer", "store_manager", "cashier", "analyst", "auditor", *OTHER_STORE_STAFF}
POS = {"pos", "pos_b"}
READERS = STAFF | POS
FRONT_A = {"admin", "store_manager", "cashier", "pos"}  # may write for store A
MEMBERS = {"member", "member_b"}
ANALYSTS = frozenset({"admin", "analyst", "marketer"})  # analytics:read
# anomalies:read (store managers: their stores' members' flags; manager_b sees store B's) and :review
ANOMALY_READERS = frozenset({"admin", "auditor", "analyst", "store_manager", "manager_b"})
ANOMALY_REVIEWERS = frozenset({"admin", "auditor"})
_counter = itertools.count(1)


def _n() -> int:
    return next(_counter)


@dataclass(frozen=True)
class Case:
    method: str
    path: str  # the route template, to check coverage
    allowed: frozenset[str]
    build: Callable[[World], dict[str, Any]]  # → kwargs for client.request (url, json, data, params)
    hidden: frozenset[str] = frozenset()  # callers to whom the object does not exist: 404, not 403


def _fresh_member(w: World, store: int | None = None) -> int:
    return int(register(w, "admin", f"+86137{_n():08d}", store or w.store_a)["id"])


def _erasure(w: World) -> dict[str, Any]:
    """An erasure of a fresh member of store A, confirmed with its card number."""
    member = register(w, "admin", f"+86137{_n():08d}", w.store_a)
    return {"url": f"/api/v1/members/{member['id']}/erase", "json": {"confirm": member["card_no"]}}


def _purchase_a(w: World) -> dict[str, Any]:
    order = f"mx-{_n()}"
    resp = w.client.post(
        "/api/v1/purchases", json=purchase_body(w.store_a, w.member_a["id"], order), headers=w.as_("admin")
    )
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def _shared_purchase(w: World) -> int:
    cache = w.__dict__.setdefault("_mx", {})
    if "purchase" not in cache:
        cache["purchase"] = _purchase_a(w)["id"]
    return int(cache["purchase"])


def _key_a(w: World) -> int:
    resp = w.client.post(
        f"/api/v1/stores/{w.store_a}/api-keys", json={"name": f"k{_n()}"}, headers=w.as_("admin")
    )
    assert resp.status_code == 201, resp.text
    return int(resp.json()["id"])


def _staff_user(w: World) -> int:
    resp = w.client.post(
        "/api/v1/staff",
        json={"username": f"user{_n()}", "password": PASSWORD, "role": "analyst"},
        headers=w.as_("admin"),
    )
    assert resp.status_code == 201, resp.text
    return int(resp.json()["id"])


def _merchant(w: World) -> int:
    resp = w.client.post(
        "/api/v1/merchants", json={"code": f"MX{_n()}", "name": "Partner"}, headers=w.as_("admin")
    )
    assert resp.status_code == 201, resp.text
    return int(resp.json()["id"])


def _store(w: World) -> int:
    body = {"merchant_id": w.merchant_id, "code": f"MXS{_n()}", "name": "Matrix store"}
    resp = w.client.post("/api/v1/stores", json=body, headers=w.as_("admin"))
    assert resp.status_code == 201, resp.text
    return int(resp.json()["id"])


def _top_tier(w: World) -> int:
    """The highest tier of the seeded ladder (diamond), whatever tiers the matrix added above it."""
    resp = w.client.get("/api/v1/tiers", headers=w.as_("admin"))
    return int(next(t["id"] for t in resp.json() if t["code"] == "diamond"))


def _anonymous_sale_a(w: World) -> dict[str, Any]:
    """A fresh anonymous sale at store A, made just now (within the claim window)."""
    body = purchase_body(w.store_a, None, f"anon-{_n()}")
    body["occurred_at"] = datetime.now(UTC).isoformat()
    resp = w.client.post("/api/v1/purchases", json=body, headers=w.as_("admin"))
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def _claim_body(w: World) -> dict[str, Any]:
    sale = _anonymous_sale_a(w)
    return {"store_id": w.store_a, "order_id": sale["order_id"], "member_id": w.member_a["id"]}


def _my_claim_body(w: World) -> dict[str, Any]:
    sale = _anonymous_sale_a(w)
    return {"store_id": w.store_a, "order_id": sale["order_id"], "total": sale["total"]["amount"]}


def _return_body(w: World) -> dict[str, Any]:
    p = _purchase_a(w)
    return {
        "store_id": w.store_a,
        "order_id": p["order_id"],
        "return_id": f"r-{_n()}",
        "occurred_at": "2026-03-02T10:00:00+08:00",
    }


def _jobs_idle(body: dict[str, Any]) -> dict[str, Any]:
    """`body`, once every job the app runs in the background has ended."""
    from loyalty.services import jobs

    assert jobs.wait_all(120)
    return body


def _finished_job(w: World) -> int:
    """A finished job's id (a tier evaluation run once for the module)."""
    from loyalty.domain.actors import SYSTEM
    from loyalty.services import jobs

    cache = w.__dict__.setdefault("_mx", {})
    if "job" not in cache:
        _jobs_idle({})
        cache["job"] = jobs.run_now(w.ctx, "tier_evaluation", SYSTEM)[0].id
    return int(cache["job"])


def _anomaly_flag(w: World) -> int:
    """An open flag about member A (made once for the module)."""
    cache = w.__dict__.setdefault("_mx", {})
    if "flag" not in cache:
        cache["flag"] = flag_for(w.ctx, w.member_a["id"], w.store_a)
    return int(cache["flag"])


PROGRAMME_READERS = frozenset({"admin", "marketer", "analyst", "auditor"})  # programme:read


def _harmless_rule() -> dict[str, Any]:
    """A new earning rule that gives nothing in this world (no sale has its SKU)."""
    return {"code": f"mx-{_n()}", "kind": "fixed_bonus", "points": 1, "when": {"skus": ["MX-NEVER-SOLD"]}}


def _defined_rule(w: World) -> str:
    """The code of a harmless rule defined just now, to retire."""
    from loyalty.services.earning_rules.book import define_rules

    rule = _harmless_rule()
    define_rules(w.ctx, [rule])
    return str(rule["code"])


def _reward(w: World) -> str:
    """A reward of the world's catalogue any member may order any number of times (1 point, no stock)."""
    from loyalty.domain.programme.rewards import RewardTerms
    from loyalty.services.rewards import catalog

    cache = w.__dict__.setdefault("_mx", {})
    if "reward" not in cache:
        catalog.define_reward(w.ctx, RewardTerms(code="mx-pen", name="Pen", kind="gift", points=1))
        cache["reward"] = "mx-pen"
    return str(cache["reward"])


def _funded(w: World) -> None:
    """Members A and B hold points enough for the reward orders of the matrix and the attacks."""
    from loyalty.services import points

    for mid in (w.member_a["id"], w.member_b["id"]):
        if points.balance(w.ctx, mid).available < 100:
            points.adjust(w.ctx, mid, 1_000, reason="matrix rewards", operator="test")


def _reward_order_body(w: World) -> dict[str, Any]:
    _funded(w)
    return {"reward": _reward(w), "store_id": w.store_a}


def _reward_order(w: World) -> int:
    """A fresh order of member A at store A, reserved."""
    from loyalty.services.rewards import redeem

    _funded(w)
    return redeem.redeem(w.ctx, w.member_a["id"], _reward(w), store_id=w.store_a).id


def _fresh_reward(w: World) -> str:
    from loyalty.domain.programme.rewards import RewardTerms
    from loyalty.services.rewards import catalog

    code = f"mx-r{_n()}"
    catalog.define_reward(w.ctx, RewardTerms(code=code, name="Mug", kind="gift", points=5, stock=3))
    return code


def _offer(w: World) -> str:
    """An offer of the world's to issue coupons of and list (5 % off; made once for the module)."""
    from loyalty.services.offers.book import define_offer

    cache = w.__dict__.setdefault("_mx", {})
    if "offer" not in cache:
        define_offer(w.ctx, {"code": "mx-offer", "name": "5 %", "kind": "percent_off", "percent": 5})
        cache["offer"] = "mx-offer"
    return str(cache["offer"])


def _fresh_offer(w: World) -> str:
    """The code of an offer defined just now, to end."""
    from loyalty.services.offers.book import define_offer

    code = f"mx-o{_n()}"
    define_offer(w.ctx, {"code": code, "name": "¥5 off", "kind": "amount_off", "amount": 5})
    return code


def _fresh_coupon(w: World) -> str:
    """A shared code of `_offer` issued just now, to void."""
    from loyalty.services.offers.coupons import issue_coupons

    return issue_coupons(w.ctx, _offer(w), count=1).codes[0]


#: the month the targets cases follow and plan (a plan for its sales is set once, see `_target_plan`)
TARGET_MONTH = "2026-03"
# store targets are read as the KPIs are (kpis:read: store managers their own stores, manager_b store B's)
# and set by the chain (targets:write)
TARGET_READERS = frozenset({"admin", "analyst", "marketer", "store_manager", "manager_b"})


def _target_plan(w: World) -> str:
    """The targets path of a month with a sales plan (an equal split, set once for the module)."""
    from loyalty.domain.actors import SYSTEM
    from loyalty.services import targets

    cache = w.__dict__.setdefault("_mx", {})
    if "target_plan" not in cache:
        targets.set_plan(w.ctx, TARGET_MONTH, "sales", 100_000, SYSTEM, method="equal")
        cache["target_plan"] = f"/api/v1/targets/{TARGET_MONTH}"
    return str(cache["target_plan"])


# members' feedback: a member rates their own purchase (member_b: not found), staff read it as the KPIs
# (feedback:read; manager_b: store B's) and store managers and admins handle it (manager_b: not found)
FEEDBACK_READERS = frozenset({"admin", "analyst", "marketer", "store_manager", "manager_b"})


def _fresh_sale_a(w: World) -> int:
    """A sale of member A's at store A made now (a purchase is rated within 30 days, once)."""
    body = purchase_body(w.store_a, w.member_a["id"], f"mxf-{_n()}")
    body["occurred_at"] = datetime.now(UTC).isoformat()
    resp = w.client.post("/api/v1/purchases", json=body, headers=w.as_("admin"))
    assert resp.status_code == 201, resp.text
    return int(resp.json()["id"])


def _fresh_feedback_a(w: World) -> int:
    """A low rating of a fresh sale of member A's at store A, to handle."""
    from loyalty.services import feedback

    return feedback.rate_purchase(w.ctx, w.member_a["id"], _fresh_sale_a(w), 1, "slow").id


def f(**kw: Any) -> Callable[[World], dict[str, Any]]:
    return lambda w: {k: (v(w) if callable(v) else v) for k, v in kw.items()}


A = frozenset
CASES: list[Case] = [
    Case("GET", "/api/v1/health", A(CALLERS), f(url="/api/v1/health")),
    Case(
        "POST",
        "/api/v1/auth/token",
        A(CALLERS),
        f(url="/api/v1/auth/token", data={"username": "admin1", "password": PASSWORD}),
    ),
    Case("GET", "/api/v1/auth/whoami", A(set(CALLERS) - {"anonymous"}), f(url="/api/v1/auth/whoami")),
    Case("GET", "/api/v1/staff", A({"admin"}), f(url="/api/v1/staff")),
    Case(
        "POST",
        "/api/v1/staff",
        A({"admin"}),
        f(
            url="/api/v1/staff",
            json=lambda w: {"username": f"staff{_n()}", "password": PASSWORD, "role": "marketer"},
        ),
    ),
    Case(
        "PATCH",
        "/api/v1/staff/{user_id}",
        A({"admin"}),
        f(url=lambda w: f"/api/v1/staff/{_staff_user(w)}", json={"active": False}),
    ),
    Case(
        "GET",
        "/api/v1/stores/{store_id}/api-keys",
        A({"admin", "store_manager"}),
        f(url=lambda w: f"/api/v1/stores/{w.store_a}/api-keys"),
    ),
    Case(
        "POST",
        "/api/v1/stores/{store_id}/api-keys",
        A({"admin", "store_manager"}),
        f(url=lambda w: f"/api/v1/stores/{w.store_a}/api-keys", json={"name": "till"}),
    ),
    Case(
        "DELETE",
        "/api/v1/api-keys/{key_pk}",
        A({"admin", "store_manager"}),
        f(url=lambda w: f"/api/v1/api-keys/{_key_a(w)}"),
    ),
    Case(
        "POST",
        "/api/v1/members",
        A(FRONT_A),
        f(
            url="/api/v1/members",
            json=lambda w: {"phone": f"+86136{_n():08d}", "name": "New", "registration_store_id": w.store_a},
        ),
    ),
    Case(
        "GET",
        "/api/v1/members/lookup",
        A(READERS),
        f(url="/api/v1/members/lookup", params=lambda w: {"phone": w.member_a["phone"]}),
    ),
    Case("GET", "/api/v1/members", A(READERS), f(url="/api/v1/members")),
    Case(
        "GET",
        "/api/v1/members/{member_id}",
        A(READERS),
        f(url=lambda w: f"/api/v1/members/{w.member_a['id']}"),
    ),
    Case(
        "PATCH",
        "/api/v1/members/{member_id}",
        A(FRONT_A),
        f(url=lambda w: f"/api/v1/members/{w.member_a['id']}", json={"tags": ["vip"]}),
    ),
    Case(
        "POST",
        "/api/v1/members/{member_id}/deactivate",
        A({"admin", "store_manager"}),
        f(url=lambda w: f"/api/v1/members/{_fresh_member(w)}/deactivate"),
    ),
    Case(
        "POST",
        "/api/v1/members/merge",
        A({"admin", "store_manager"}),
        f(
            url="/api/v1/members/merge",
            json=lambda w: {"duplicate_id": _fresh_member(w), "survivor_id": _fresh_member(w)},
        ),
    ),
    Case(
        "GET",
        "/api/v1/members/{member_id}/data-export",
        A({"admin"}),
        f(url=lambda w: f"/api/v1/members/{w.member_a['id']}/data-export"),
    ),
    Case("POST", "/api/v1/members/{member_id}/erase", A({"admin"}), lambda w: _erasure(w)),
    Case(
        "POST",
        "/api/v1/members/{member_id}/tokens",
        A(FRONT_A),
        f(url=lambda w: f"/api/v1/members/{w.member_a['id']}/tokens"),
    ),
    Case(
        "POST",
        "/api/v1/purchases",
        A(FRONT_A),
        f(url="/api/v1/purchases", json=lambda w: purchase_body(w.store_a, w.member_a["id"], f"m-{_n()}")),
    ),
    Case(
        "GET",
        "/api/v1/members/{member_id}/purchases",
        A(READERS - {"marketer"}),  # store staff of other stores: 200 with their stores' receipts only
        f(url=lambda w: f"/api/v1/members/{w.member_a['id']}/purchases"),
    ),
    Case(
        "GET",
        "/api/v1/me/purchases/{purchase_id}",
        A({"member"}),
        f(url=lambda w: f"/api/v1/me/purchases/{_shared_purchase(w)}"),  # member A's receipt
        hidden=A({"member_b"}),
    ),
    Case(
        "GET",
        "/api/v1/purchases/{purchase_id}",
        A({"admin", "store_manager", "cashier", "pos", "analyst", "auditor"}),
        f(url=lambda w: f"/api/v1/purchases/{_shared_purchase(w)}"),
    ),
    # Without a store filter, other stores' staff and tills list their own stores' sales.
    Case(
        "GET",
        "/api/v1/purchases",
        A({"admin", "store_manager", "cashier", "pos", "analyst", "auditor", "pos_b", *OTHER_STORE_STAFF}),
        f(url="/api/v1/purchases"),
    ),
    Case("POST", "/api/v1/purchases/claims", A(FRONT_A), f(url="/api/v1/purchases/claims", json=_claim_body)),
    Case("POST", "/api/v1/me/claims", A(MEMBERS), f(url="/api/v1/me/claims", json=_my_claim_body)),
    Case("POST", "/api/v1/returns", A(FRONT_A), f(url="/api/v1/returns", json=_return_body)),
    Case(
        "GET",
        "/api/v1/members/{member_id}/points",
        A(READERS),
        f(url=lambda w: f"/api/v1/members/{w.member_a['id']}/points"),
    ),
    Case(
        "GET",
        "/api/v1/members/{member_id}/points/statement",
        A(READERS),
        f(url=lambda w: f"/api/v1/members/{w.member_a['id']}/points/statement"),
    ),
    Case(
        "POST",
        "/api/v1/points/redeem",
        A(FRONT_A),
        f(
            url="/api/v1/points/redeem",
            json=lambda w: {"member_id": w.member_a["id"], "store_id": w.store_a, "points": 1},
        ),
    ),
    Case(
        "POST",
        "/api/v1/points/adjust",
        A({"admin", "store_manager"}),
        f(
            url="/api/v1/points/adjust",
            json=lambda w: {"member_id": w.member_a["id"], "points": 5, "reason": "goodwill"},
        ),
    ),
    Case("GET", "/api/v1/tiers", A(READERS), f(url="/api/v1/tiers")),
    Case(
        "GET",
        "/api/v1/members/{member_id}/tier",
        A(READERS),
        f(url=lambda w: f"/api/v1/members/{w.member_a['id']}/tier"),
    ),
    Case(
        "GET",
        "/api/v1/members/{member_id}/tier/history",
        A(READERS),
        f(url=lambda w: f"/api/v1/members/{w.member_a['id']}/tier/history"),
    ),
    Case("GET", "/api/v1/merchants", A(READERS), f(url="/api/v1/merchants")),
    Case(
        "POST",
        "/api/v1/merchants",
        A({"admin"}),
        f(url="/api/v1/merchants", json=lambda w: {"code": f"M{_n()}", "name": "Partner"}),
    ),
    Case("GET", "/api/v1/stores", A(READERS), f(url="/api/v1/stores")),
    Case(
        "POST",
        "/api/v1/stores",
        A({"admin"}),
        f(
            url="/api/v1/stores",
            json=lambda w: {"merchant_id": w.merchant_id, "code": f"S{_n()}", "name": "New"},
        ),
    ),
    Case("GET", "/api/v1/audit", A({"admin", "auditor"}), f(url="/api/v1/audit")),
    Case(
        "PATCH",
        "/api/v1/merchants/{merchant_id}",
        A({"admin"}),
        f(url=lambda w: f"/api/v1/merchants/{_merchant(w)}", json={"name": "Partner renamed"}),
    ),
    Case(
        "PATCH",
        "/api/v1/stores/{store_id}",
        A({"admin"}),
        f(url=lambda w: f"/api/v1/stores/{_store(w)}", json={"name": "Renamed", "city": None}),
    ),
    Case(
        "POST",
        "/api/v1/staff/{user_id}/password",
        A({"admin"}),
        f(url=lambda w: f"/api/v1/staff/{_staff_user(w)}/password", json={}),
    ),
    Case("GET", "/api/v1/programme", A(READERS), f(url="/api/v1/programme")),
    Case(
        "PATCH",
        "/api/v1/programme",
        A({"admin", "marketer"}),
        f(url="/api/v1/programme", json=lambda w: {"name": f"Programme {_n()}"}),
    ),
    Case(
        "POST",
        "/api/v1/tiers",
        A({"admin", "marketer"}),
        f(
            url="/api/v1/tiers",
            json=lambda w: {
                "name": f"Tier {_n()}",
                "threshold": f"{900_000 + _n()}.00",
                "multiplier_pct": 250,
            },
        ),
    ),
    Case(
        "PATCH",
        "/api/v1/tiers/{tier_id}",
        A({"admin", "marketer"}),
        f(url=lambda w: f"/api/v1/tiers/{_top_tier(w)}", json={"multiplier_pct": 200}),
    ),
    # earning rules: read by programme:read, changed by programme:write (marketers and admins)
    Case(
        "GET",
        "/api/v1/programme/rules",
        A(PROGRAMME_READERS),
        f(url="/api/v1/programme/rules", params={"history": "true"}),
    ),
    Case(
        "POST",
        "/api/v1/programme/rules",
        A({"admin", "marketer"}),
        f(url="/api/v1/programme/rules", json=lambda w: {"rules": [_harmless_rule()]}),
    ),
    Case(
        "DELETE",
        "/api/v1/programme/rules/{code}",
        A({"admin", "marketer"}),
        f(url=lambda w: f"/api/v1/programme/rules/{_defined_rule(w)}"),
    ),
    Case("GET", "/api/v1/programme/rules.yaml", A(PROGRAMME_READERS), f(url="/api/v1/programme/rules.yaml")),
    # a draft replayed over past days: read by whoever reads the programme, nothing written
    Case(
        "POST",
        "/api/v1/programme/simulations",
        A(PROGRAMME_READERS),
        f(
            url="/api/v1/programme/simulations",
            json=lambda w: {"rules": [_harmless_rule()], "from": "2026-03-01", "to": "2026-03-02"},
        ),
    ),
    Case(
        "PUT",
        "/api/v1/programme/rules.yaml",
        A({"admin", "marketer"}),
        f(url="/api/v1/programme/rules.yaml", params={"dry_run": "true"}, content="rules: []\n"),
    ),
    # the whole programme (rules and offers) as one YAML document
    Case("GET", "/api/v1/programme.yaml", A(PROGRAMME_READERS), f(url="/api/v1/programme.yaml")),
    Case(
        "PUT",
        "/api/v1/programme.yaml",
        A({"admin", "marketer"}),
        f(url="/api/v1/programme.yaml", params={"dry_run": "true"}, content="rules: []\noffers: []\n"),
    ),
    # rewards: the catalogue is read by marketers and the front line and defined by programme:write;
    # an order spends points at the caller's store (points:redeem), a member orders through /me
    Case("GET", "/api/v1/rewards", A(READERS), f(url="/api/v1/rewards")),
    Case(
        "POST",
        "/api/v1/rewards",
        A({"admin", "marketer"}),
        f(
            url="/api/v1/rewards",
            json=lambda w: {
                "code": f"mx-new{_n()}",
                "name": "Tote",
                "kind": "gift",
                "points": 50,
                "stock": 9,
            },
        ),
    ),
    Case(
        "PATCH",
        "/api/v1/rewards/{code}",
        A({"admin", "marketer"}),
        f(url=lambda w: f"/api/v1/rewards/{_fresh_reward(w)}", json={"stock": 10}),
    ),
    Case(
        "POST",
        "/api/v1/members/{member_id}/reward-orders",
        A(FRONT_A),
        f(url=lambda w: f"/api/v1/members/{w.member_a['id']}/reward-orders", json=_reward_order_body),
    ),
    Case(
        "GET",
        "/api/v1/members/{member_id}/reward-orders",
        A(READERS),
        f(url=lambda w: f"/api/v1/members/{w.member_a['id']}/reward-orders"),
    ),
    Case(
        "POST",
        "/api/v1/reward-orders/{order_id}/fulfil",
        A(FRONT_A),
        f(url=lambda w: f"/api/v1/reward-orders/{_reward_order(w)}/fulfil", json={"status": "collected"}),
    ),
    Case(
        "POST",
        "/api/v1/reward-orders/{order_id}/cancel",
        A(FRONT_A),
        f(url=lambda w: f"/api/v1/reward-orders/{_reward_order(w)}/cancel", json={"reason": "changed mind"}),
    ),
    Case("GET", "/api/v1/me/rewards", A(MEMBERS), f(url="/api/v1/me/rewards")),
    Case("GET", "/api/v1/me/reward-orders", A(MEMBERS), f(url="/api/v1/me/reward-orders")),
    Case(
        "POST",
        "/api/v1/me/reward-orders",
        A(MEMBERS),
        f(url="/api/v1/me/reward-orders", json=lambda w: {"reward": _reward_order_body(w)["reward"]}),
    ),
    # offers and coupons: read with programme:read, defined, ended, issued and voided with
    # programme:write; a member's wallet is read by staff who read members, and by the member via /me
    Case("GET", "/api/v1/offers", A(PROGRAMME_READERS), f(url="/api/v1/offers")),
    Case(
        "POST",
        "/api/v1/offers",
        A({"admin", "marketer"}),
        f(
            url="/api/v1/offers",
            json=lambda w: {
                "offer": {"code": f"mx-new-o{_n()}", "name": "5 %", "kind": "percent_off", "percent": 5},
                "per_member": 1,
            },
        ),
    ),
    Case(
        "GET", "/api/v1/offers/{code}", A(PROGRAMME_READERS), f(url=lambda w: f"/api/v1/offers/{_offer(w)}")
    ),
    Case(
        "POST",
        "/api/v1/offers/{code}/end",
        A({"admin", "marketer"}),
        f(url=lambda w: f"/api/v1/offers/{_fresh_offer(w)}/end"),
    ),
    Case(
        "POST",
        "/api/v1/offers/{code}/coupons",
        A({"admin", "marketer"}),
        f(url=lambda w: f"/api/v1/offers/{_offer(w)}/coupons", json={"count": 1}),
    ),
    Case(
        "GET",
        "/api/v1/offers/{code}/coupons",
        A(PROGRAMME_READERS),
        f(url=lambda w: f"/api/v1/offers/{_offer(w)}/coupons", params={"limit": "5"}),
    ),
    Case(
        "POST",
        "/api/v1/coupons/{code}/void",
        A({"admin", "marketer"}),
        f(url=lambda w: f"/api/v1/coupons/{_fresh_coupon(w)}/void"),
    ),
    Case(
        "GET",
        "/api/v1/members/{member_id}/coupons",
        A(READERS),
        f(url=lambda w: f"/api/v1/members/{w.member_a['id']}/coupons"),
    ),
    Case("GET", "/api/v1/me/coupons", A(MEMBERS), f(url="/api/v1/me/coupons")),
    # the till's quote: a sale's callers, for their own store
    Case(
        "POST",
        "/api/v1/checkout/quote",
        A(FRONT_A),
        f(
            url="/api/v1/checkout/quote",
            json=lambda w: {
                "store_id": w.store_a,
                "member_id": w.member_a["id"],
                "lines": [{"sku": "SKU-1", "category": "apparel", "quantity": 1, "unit_price": "19.90"}],
            },
        ),
    ),
    # why a sale earned its points: whoever may read the receipt
    Case(
        "GET",
        "/api/v1/purchases/{purchase_id}/earning",
        A({"admin", "store_manager", "cashier", "pos", "analyst", "auditor"}),
        f(url=lambda w: f"/api/v1/purchases/{_shared_purchase(w)}/earning"),
    ),
    Case(
        "GET",
        "/api/v1/me/purchases/{purchase_id}/earning",
        A({"member"}),
        f(url=lambda w: f"/api/v1/me/purchases/{_shared_purchase(w)}/earning"),  # member A's receipt
        hidden=A({"member_b"}),
    ),
    # KPIs: chain-wide roles read every store and the chain; a store manager their own store only
    Case(
        "GET",
        "/api/v1/kpis/stores/{store_id}",
        A({"admin", "analyst", "marketer", "store_manager"}),
        f(url=lambda w: f"/api/v1/kpis/stores/{w.store_a}"),
    ),
    Case("GET", "/api/v1/kpis", A({"admin", "analyst", "marketer"}), f(url="/api/v1/kpis")),
    # KPIs by staff: a store's (store managers: their own, manager_b store B's not A's) or, no store
    # named, the caller's stores (every store for chain-wide roles)
    Case(
        "GET",
        "/api/v1/kpis/staff",
        A({"admin", "analyst", "marketer", "store_manager"}),
        f(url="/api/v1/kpis/staff", params=lambda w: {"store": w.store_a}),
    ),
    Case(
        "GET",
        "/api/v1/kpis/staff",
        A({"admin", "analyst", "marketer", "store_manager", "manager_b"}),
        f(url="/api/v1/kpis/staff"),
    ),
    # store targets: read as the KPIs (store managers: their stores' rows); set by admins (targets:write)
    Case(
        "PUT",
        "/api/v1/targets/{month}/plans/{metric}",
        A({"admin"}),
        f(
            url=f"/api/v1/targets/{TARGET_MONTH}/plans/sales",
            json={"chain_target": "1000.00", "method": "equal"},
        ),
    ),
    Case(
        "PATCH",
        "/api/v1/targets/{month}/plans/{metric}",
        A({"admin"}),
        f(url=f"/api/v1/targets/{TARGET_MONTH}/plans/sales", json={"targets": {"S001": "500.00"}}),
    ),
    Case(
        "GET",
        "/api/v1/targets/{month}/plans/{metric}",
        TARGET_READERS,
        f(url=lambda w: f"{_target_plan(w)}/plans/sales"),
    ),
    Case(
        "GET",
        "/api/v1/targets/{month}/plans/{metric}/history",
        TARGET_READERS,
        f(url=lambda w: f"{_target_plan(w)}/plans/sales/history"),
    ),
    Case(
        "GET",
        "/api/v1/targets/{month}/progress",
        TARGET_READERS,
        f(url=lambda w: f"{_target_plan(w)}/progress"),
    ),
    Case(
        "GET", "/api/v1/targets/{month}/league", TARGET_READERS, f(url=lambda w: f"{_target_plan(w)}/league")
    ),
    Case(
        "GET", "/api/v1/targets/{month}/alerts", TARGET_READERS, f(url=lambda w: f"{_target_plan(w)}/alerts")
    ),
    Case("GET", "/api/v1/targets/alert-rules", TARGET_READERS, f(url="/api/v1/targets/alert-rules")),
    Case(
        "PUT",
        "/api/v1/targets/alert-rules",
        A({"admin"}),
        f(url="/api/v1/targets/alert-rules", json={"behind_points": 10, "forecast_pct": 90}),
    ),
    Case(
        "POST",
        "/api/v1/me/purchases/{purchase_id}/feedback",
        A({"member"}),
        f(
            url=lambda w: f"/api/v1/me/purchases/{_fresh_sale_a(w)}/feedback",
            json={"rating": 4, "comment": "店员很耐心"},
        ),
        hidden=A({"member_b"}),
    ),
    Case("GET", "/api/v1/feedback", FEEDBACK_READERS, f(url="/api/v1/feedback")),
    Case(
        "POST",
        "/api/v1/feedback/{feedback_id}/handle",
        A({"admin", "store_manager"}),
        f(url=lambda w: f"/api/v1/feedback/{_fresh_feedback_a(w)}/handle", json={"note": "已致电"}),
        hidden=A({"manager_b"}),
    ),
    # A job runs in the server's background: each request waits for the previous one's to end, so
    # that every allowed caller starts one (a second run of a kind under way answers 409).
    Case(
        "POST",
        "/api/v1/jobs",
        A({"admin", "analyst"}),  # analytics:refresh; expiry and tiers need jobs:run (admin only)
        f(url="/api/v1/jobs", json=lambda w: _jobs_idle({"kind": "analytics_refresh"})),
    ),
    Case("GET", "/api/v1/jobs", A({"admin", "analyst", "auditor"}), f(url="/api/v1/jobs")),
    Case(
        "GET",
        "/api/v1/jobs/{job_id}",
        A({"admin", "analyst", "auditor"}),
        f(url=lambda w: f"/api/v1/jobs/{_finished_job(w)}"),
    ),
    *[
        Case("GET", f"/api/v1/analytics/{p}", ANALYSTS, f(url=f"/api/v1/analytics/{p}"))
        for p in ("segments", "distributions", "model-check")
    ],
    Case(
        "GET",
        "/api/v1/analytics/basket-rules",
        ANALYSTS,
        f(url="/api/v1/analytics/basket-rules", params={"min_support": 0.5, "min_confidence": 0.5}),
    ),
    # stored basket rules: a mining result read back (analytics:read); the chain's set, or none yet
    Case("GET", "/api/v1/analytics/basket-rule-sets", ANALYSTS, f(url="/api/v1/analytics/basket-rule-sets")),
    Case(
        "GET",
        "/api/v1/analytics/basket-rules/stored",
        ANALYSTS,
        f(url="/api/v1/analytics/basket-rules/stored", params={"level": "category", "limit": 5}),
    ),
    # anomalies: the queue and the rules are read with anomalies:read, reviewed with anomalies:review;
    # a flag about a member of store A does not exist for store B's manager
    Case("GET", "/api/v1/anomalies/flags", ANOMALY_READERS, f(url="/api/v1/anomalies/flags")),
    Case(
        "GET",
        "/api/v1/anomalies/flags/{flag_id}",
        ANOMALY_READERS - {"manager_b"},
        f(url=lambda w: f"/api/v1/anomalies/flags/{_anomaly_flag(w)}"),
        hidden=A({"manager_b"}),
    ),
    Case(
        "POST",
        "/api/v1/anomalies/flags/{flag_id}/review",
        ANOMALY_REVIEWERS,
        f(
            url=lambda w: f"/api/v1/anomalies/flags/{fresh_flag(w.ctx, w.store_a)[0]}/review",
            json={"decision": "reject"},
        ),
    ),
    Case("GET", "/api/v1/anomalies/rules", ANOMALY_READERS, f(url="/api/v1/anomalies/rules")),
    Case(
        "PUT",
        "/api/v1/anomalies/rules",
        ANOMALY_REVIEWERS,
        f(url="/api/v1/anomalies/rules", json={"rules": {"velocity": {"params": {"per_hour": 6}}}}),
    ),
    Case(
        "POST",
        "/api/v1/anomalies/scans",
        ANOMALY_REVIEWERS,
        f(url="/api/v1/anomalies/scans", json=lambda w: _jobs_idle({})),
    ),
    Case("GET", "/api/v1/anomalies/suspensions", ANOMALY_READERS, f(url="/api/v1/anomalies/suspensions")),
    Case(
        "POST",
        "/api/v1/anomalies/suspensions/{member_id}/lift",
        ANOMALY_REVIEWERS,
        f(url=lambda w: f"/api/v1/anomalies/suspensions/{suspended_member(w.ctx, w.store_a)}/lift", json={}),
    ),
    # member clusters: a mining result (analytics:read), the chain's and one member's
    Case("GET", "/api/v1/analytics/clusters", ANALYSTS, f(url="/api/v1/analytics/clusters")),
    # churn: the run and its members at risk, and one member's risk, are mining results (analytics:read)
    Case("GET", "/api/v1/analytics/churn", ANALYSTS, f(url="/api/v1/analytics/churn", params={"limit": 3})),
    Case(
        "GET",
        "/api/v1/members/{member_id}/churn",
        ANALYSTS,
        f(url=lambda w: f"/api/v1/members/{w.member_a['id']}/churn"),
    ),
    Case(
        "GET",
        "/api/v1/members/{member_id}/cluster",
        ANALYSTS,
        f(url=lambda w: f"/api/v1/members/{w.member_a['id']}/cluster"),
    ),
    # recommendations: a member's list is read as the member is (members:read: every staff role and
    # till, other stores' too, as GET /members/{id}; members themselves have no members:read); the
    # recommender's figures are a mining result (analytics:read)
    Case(
        "GET",
        "/api/v1/members/{member_id}/recommendations",
        A(READERS),
        f(url=lambda w: f"/api/v1/members/{w.member_a['id']}/recommendations", params={"limit": 3}),
    ),
    Case("GET", "/api/v1/analytics/recommendations", ANALYSTS, f(url="/api/v1/analytics/recommendations")),
    *[
        Case("GET", f"/api/v1/me{p}", A(MEMBERS), f(url=f"/api/v1/me{p}"))
        for p in (
            "",
            "/card",
            "/card/qr.png",
            "/card/qr.svg",
            "/points",
            "/points/statement",
            "/purchases",
            "/tier",
            "/tier/history",
        )
    ],
    # Outside the API: the schema and its offline docs are public; `/` redirects to /docs.
    *[
        Case("GET", p, A(CALLERS), f(url=p))
        for p in ("/", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc")
    ],
]


def test_matrix_covers_every_route(world: World) -> None:
    routes = app_routes(world.app)
    covered = {(c.method, c.path) for c in CASES}
    assert routes - covered == set(), "routes without an authorization expectation"
    assert covered - routes == set(), "matrix entries for routes that do not exist"


@pytest.fixture
def mx_world(world: World) -> World:
    """The module's world with a store manager of store B (`manager_b`), created once per world."""
    if "manager_b" not in world.headers:
        from loyalty.api.security import issue_access_token
        from loyalty.services import auth

        user = auth.create_staff(
            world.ctx,
            username="manager_b",
            password=PASSWORD,
            role="store_manager",
            store_ids=[world.store_b],
        )
        token, _ = issue_access_token(
            world.ctx.settings.secret_key,
            user_id=user.id,
            username=user.username,
            role="store_manager",
            store_ids=[world.store_b],
            now=world.ctx.now(),
        )
        world.headers["manager_b"] = {"Authorization": f"Bearer {token}"}
    return world


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.method} {c.path}")
def test_authorization_matrix(mx_world: World, case: Case) -> None:
    world = mx_world
    # Give member A plenty of points so every allowed redemption succeeds.
    if "funded" not in world.__dict__:
        world.__dict__["funded"] = True
        r = world.client.post(
            "/api/v1/points/adjust",
            json={"member_id": world.member_a["id"], "points": 10_000, "reason": "matrix funding"},
            headers=world.as_("admin"),
        )
        assert r.status_code == 201, r.text
    failures = []
    for caller in CALLERS:
        kwargs = case.build(world)
        resp = world.client.request(case.method, headers=world.as_(caller), **kwargs)
        if caller in case.allowed:
            ok = 200 <= resp.status_code < 300
        elif caller in case.hidden:
            ok = resp.status_code == 404
        elif caller == "anonymous":
            ok = resp.status_code == 401
        else:
            ok = resp.status_code == 403
        if not ok:
            failures.append(f"{caller}: {resp.status_code} {resp.text[:400]}")
        if resp.status_code in (401, 403):
            assert resp.headers["content-type"].startswith("application/problem+json")
    assert not failures, "\n".join(failures)
