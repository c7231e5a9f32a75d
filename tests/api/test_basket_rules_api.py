"""`GET /api/v1/analytics/basket-rules`: rules on the wire, bounds and bad queries (SQLite and PostgreSQL).

The purchases are posted through the API on days of their own (February 2026), which the queries
select, so the world's other sales do not enter the baskets.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.api_world import World

URL = "/api/v1/analytics/basket-rules"
DAYS = {"from": "2026-02-10", "to": "2026-02-12"}


def _sale(w: World, store: int, order: str, day: int, skus: list[str]) -> None:
    body = {
        "store_id": store,
        "order_id": order,
        "occurred_at": f"2026-02-{day:02d}T10:00:00+08:00",
        "currency": "CNY",
        "lines": [{"sku": s, "category": s[0], "quantity": 1, "unit_price": "5.00"} for s in skus],
    }
    resp = w.client.post("/api/v1/purchases", json=body, headers=w.as_("admin"))
    assert resp.status_code == 201, resp.text


@pytest.fixture(scope="module")
def sales(world: World) -> World:
    _sale(world, world.store_a, "bk-1", 10, ["milk", "bread"])
    _sale(world, world.store_a, "bk-2", 10, ["milk", "bread", "eggs"])
    _sale(world, world.store_a, "bk-3", 11, ["milk", "eggs"])
    _sale(world, world.store_b, "bk-4", 11, ["bread", "jam"])
    _sale(world, world.store_b, "bk-5", 12, ["milk", "bread"])
    _sale(world, world.store_b, "bk-6", 20, [f"toy-{i:02d}" for i in range(24)])  # one big basket, alone
    return world


def _get(w: World, **params: Any) -> Any:
    return w.client.get(URL, params={**DAYS, **params}, headers=w.as_("analyst"))


def test_rules_of_the_chain(sales: World) -> None:
    resp = _get(sales, min_support=0.4, min_confidence=0.6)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["baskets"] == 5
    assert body["lines"] == 11
    assert body["min_count"] == 2
    assert body["itemsets"] == 5  # milk 4, bread 4, eggs 2, {milk, bread} 3, {milk, eggs} 2
    assert body["scope"] == {
        "store_id": None,
        "store_code": None,
        "start": "2026-02-10",
        "end": "2026-02-12",
        "item": "sku",
    }
    rules = [(r["antecedent"], r["consequent"], r["baskets"]) for r in body["rules"]]
    assert rules == [(["eggs"], ["milk"], 2), (["bread"], ["milk"], 3), (["milk"], ["bread"], 3)]
    eggs_milk = body["rules"][0]
    assert eggs_milk["confidence"] == 1.0
    assert eggs_milk["lift"] == pytest.approx(5 / 4)
    assert eggs_milk["conviction"] is None
    assert body["total"] == 3


def test_one_store_and_categories(sales: World) -> None:
    resp = _get(sales, store=sales.store_a, min_support=0.5, min_confidence=0.5, item="category")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["baskets"] == 3
    assert body["scope"]["item"] == "category"
    assert body["scope"]["store_id"] == sales.store_a
    assert all(set(r["antecedent"] + r["consequent"]) <= {"m", "b", "e"} for r in body["rules"])


def test_explosive_support_is_refused_with_the_estimate(sales: World) -> None:
    resp = sales.client.get(
        URL,
        params={"from": "2026-02-20", "to": "2026-02-20", "min_support": 1.0},
        headers=sales.as_("analyst"),
    )
    assert resp.status_code == 422, resp.text
    problem = resp.json()
    assert problem["code"] == "BASKET_TOO_MANY_ITEMSETS"
    assert problem["estimated"] >= 2**24 - 1  # every subset of the 24-item basket
    assert "would give about" in problem["detail"]


def test_bad_queries(sales: World) -> None:
    resp = _get(sales, **{"from": "2026-02-12", "to": "2026-02-10"})
    assert resp.status_code == 422
    assert resp.json()["code"] == "VALIDATION_FAILED"
    assert resp.json()["errors"][0]["field"] == "query.from"
    for params in ({"min_support": 0}, {"min_support": 1.5}, {"sort": "price"}, {"item": "brand"}):
        assert _get(sales, **params).status_code == 422, params
    assert _get(sales, store=9999).status_code in (403, 404)
    assert _get(sales, colour="red").status_code == 422  # undeclared parameter
