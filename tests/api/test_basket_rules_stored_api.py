"""Stored basket rules over the API (SQLite and PostgreSQL): the basket-rules job started through
`POST /jobs`, the sets it stored (`GET /analytics/basket-rule-sets`) and a set's rules read back
(`GET /analytics/basket-rules/stored`) without mining, and the till's quote suggesting from them;
bad queries refused.

The sales are posted on the world's clock (today), so the job's last 90 days hold them; the world's
other sales are older or elsewhere, and each assertion reads what the set says it mined.
"""

from __future__ import annotations

from typing import Any

import pytest

from loyalty.services import jobs
from loyalty.services.basket_rules import RefreshThresholds, refresh_basket_rules
from tests.api.api_world import World

URL = "/api/v1/analytics/basket-rules/stored"
SETS = "/api/v1/analytics/basket-rule-sets"


def _sale(w: World, store: int, order: str, skus: list[str]) -> None:
    body = {
        "store_id": store,
        "order_id": order,
        "occurred_at": w.ctx.now().isoformat(),
        "currency": "CNY",
        "lines": [{"sku": s, "category": s[:2], "quantity": 1, "unit_price": "5.00"} for s in skus],
    }
    resp = w.client.post("/api/v1/purchases", json=body, headers=w.as_("admin"))
    assert resp.status_code == 201, resp.text


@pytest.fixture(scope="module")
def stored(world: World) -> World:
    for n in range(12):  # twelve baskets of store A: pen with ink, and paper in every third
        _sale(world, world.store_a, f"st-{n}", ["pen", "ink"] + (["paper"] if n % 3 == 0 else []))
    resp = world.client.post("/api/v1/jobs", json={"kind": "basket_rules"}, headers=world.as_("analyst"))
    assert resp.status_code == 202, resp.text
    job_id = resp.json()["id"]
    assert jobs.wait(job_id, timeout=60)
    job = world.client.get(f"/api/v1/jobs/{job_id}", headers=world.as_("analyst")).json()
    assert job["status"] == "done", job
    assert job["result"]["sets"] == 6  # the chain and two stores, SKUs and categories
    return world


def _get(w: World, url: str = URL, **params: Any) -> Any:
    return w.client.get(url, params=params, headers=w.as_("analyst"))


def test_the_job_stores_a_set_per_scope_and_level(stored: World) -> None:
    body = _get(stored, SETS).json()
    scopes = [(s["store_id"], s["level"]) for s in body["sets"]]
    assert scopes == [
        (None, "sku"),
        (None, "category"),
        (stored.store_a, "sku"),
        (stored.store_a, "category"),
        (stored.store_b, "sku"),
        (stored.store_b, "category"),
    ]
    a = body["sets"][2]
    assert a["baskets"] >= 12
    assert a["min_count"] >= 10  # the default floor: an itemset must be in ten baskets
    assert a["min_confidence"] == 0.1
    assert (a["min_length"], a["max_length"]) == (2, 4)
    assert a["rules_found"] >= 2  # pen ⇒ ink and ink ⇒ pen
    assert _get(stored, SETS, level="category").json()["sets"][0]["level"] == "category"


def test_a_stores_rules_read_back(stored: World) -> None:
    body = _get(stored, store=stored.store_a, contains="INK").json()
    assert body["rule_set"]["store_id"] == stored.store_a
    assert body["rule_set"]["store_code"]
    pairs = {(tuple(r["antecedent"]), tuple(r["consequent"])) for r in body["rules"]}
    assert {(("pen",), ("ink",)), (("ink",), ("pen",))} <= pairs
    assert body["total"] == len(body["rules"])
    assert all("ink" in r["antecedent"] + r["consequent"] for r in body["rules"])
    every = _get(stored, store=stored.store_a, sort="support").json()
    first = _get(stored, store=stored.store_a, limit=1, sort="support").json()
    later = _get(stored, store=stored.store_a, offset=1, limit=1, sort="support").json()
    assert first["total"] == later["total"] == every["total"] >= 2
    assert later["offset"] == 1
    assert first["rules"] + later["rules"] == every["rules"][:2]
    supports = [r["support"] for r in every["rules"]]
    assert supports == sorted(supports, reverse=True)


def test_a_scope_not_mined_yet_answers_no_set(stored: World) -> None:
    from loyalty.services import merchants
    from loyalty.services.schemas import StoreIn

    new = merchants.create_store(
        stored.ctx, StoreIn(merchant_id=stored.merchant_id, code="ST-NEW", name="New", city="Xi'an")
    )
    body = _get(stored, store=new.id).json()
    assert body == {"rule_set": None, "total": 0, "offset": 0, "rules": []}
    # a refresh mines it too, and a set whose thresholds the caller chose says so
    refresh_basket_rules(stored.ctx, thresholds=RefreshThresholds(min_support=0.5, min_baskets=1))
    assert _get(stored, store=new.id).json()["rule_set"]["baskets"] == 0
    assert _get(stored).json()["rule_set"]["min_support"] == 0.5


def test_bad_queries(stored: World) -> None:
    for params in ({"level": "brand"}, {"sort": "price"}, {"limit": 0}, {"offset": -1}, {"min_lift": -1}):
        assert _get(stored, **params).status_code == 422, params
    assert _get(stored, colour="red").status_code == 422  # undeclared parameter
    assert _get(stored, store=999_999).status_code in (403, 404)
    assert _get(stored, SETS, level="brand").status_code == 422


def test_the_till_quote_suggests_from_the_stored_rules(stored: World) -> None:
    cart = {
        "store_id": stored.store_a,
        "lines": [{"sku": "pen", "category": "pe", "quantity": 1, "unit_price": "5.00"}],
        "suggestions": 2,
    }

    def ask(body: dict[str, Any]) -> Any:
        return stored.client.post("/api/v1/checkout/quote", json=body, headers=stored.as_("pos"))

    resp = ask(cart)
    assert resp.status_code == 200, resp.text
    # pen ⇒ ink holds in every basket; paper (4 baskets) is under the job's 10-basket floor
    assert resp.json()["suggestions"] == [
        {"items": ["ink"], "because": ["pen"], "confidence": 1.0, "lift": 1.0}
    ]
    with_ink = dict(cart, lines=[*cart["lines"], dict(cart["lines"][0], sku="ink")])
    assert ask(with_ink).json()["suggestions"] == []  # the cart holds it already
    assert ask({k: v for k, v in cart.items() if k != "suggestions"}).json()["suggestions"] == []
    bad = ask(dict(cart, suggestions=11))
    assert bad.status_code == 422
    assert any(e["field"].endswith("suggestions") for e in bad.json()["errors"]), bad.text
