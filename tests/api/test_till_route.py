"""The till's two routes answer a well-formed request without FastAPI's dependency solving
(`api.till_route`), and exactly as FastAPI's own handler answers it; anything else is FastAPI's."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import fastapi.routing
import pytest

from loyalty.api.till_route import TillRoute, _Plan
from tests.api.api_world import World, purchase_body

#: a JSON media type FastAPI reads as JSON but the lean path leaves to it
_STANDARD = {"Content-Type": "application/vnd.loyalty+json"}


@pytest.fixture
def solved(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The routes FastAPI solved the dependencies of, request by request."""
    calls: list[str] = []
    solve = fastapi.routing.solve_dependencies

    async def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs["request"].url.path)
        return await solve(*args, **kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", counting)
    return calls


def _routes(routes: list[Any]) -> Iterator[Any]:
    for route in routes:
        if hasattr(route, "original_router"):  # an included router
            yield from _routes(route.original_router.routes)
        else:
            yield route


def test_only_the_till_routes_have_a_lean_plan(world: World) -> None:
    planned = {
        (method, route.path)
        for route in _routes(world.app.router.routes)
        if isinstance(route, TillRoute) and _Plan.of(route) is not None
        for method in route.methods
    }
    assert planned == {("POST", "/purchases"), ("POST", "/checkout/quote")}


def test_a_quote_answers_the_same_by_either_path(world: World, solved: list[str]) -> None:
    cart = purchase_body(world.store_a, world.member_a["id"], "q")
    del cart["order_id"]
    lean = world.client.post("/api/v1/checkout/quote", json=cart, headers=world.as_("pos"))
    assert solved == []
    standard = world.client.post(
        "/api/v1/checkout/quote", json=cart, headers={**world.as_("pos"), **_STANDARD}
    )
    assert solved == ["/api/v1/checkout/quote"]
    assert (lean.status_code, lean.json()) == (standard.status_code, standard.json()) == (200, lean.json())
    assert lean.json()["points"] > 0


def test_a_sale_answers_the_same_by_either_path_and_replays_across_them(
    world: World, solved: list[str]
) -> None:
    pos = world.as_("pos")
    lean = world.client.post(
        "/api/v1/purchases",
        json=purchase_body(world.store_a, world.member_a["id"], "lean-1"),
        headers={**pos, "Idempotency-Key": "till-lean-1"},
    )
    assert lean.status_code == 201, lean.text
    assert solved == []
    standard = world.client.post(
        "/api/v1/purchases",
        json=purchase_body(world.store_a, world.member_a["id"], "std-1"),
        headers={**pos, **_STANDARD, "Idempotency-Key": "till-std-1"},
    )
    assert standard.status_code == 201, standard.text
    assert solved == ["/api/v1/purchases"]
    different = {"id", "order_id"}
    assert {k: v for k, v in lean.json().items() if k not in different} == {
        k: v for k, v in standard.json().items() if k not in different
    }
    # The lean sale's retry through FastAPI's handler replays it, and the other way round.
    again = world.client.post(
        "/api/v1/purchases",
        json=purchase_body(world.store_a, world.member_a["id"], "lean-1"),
        headers={**pos, **_STANDARD, "Idempotency-Key": "till-lean-1"},
    )
    back = world.client.post(
        "/api/v1/purchases",
        json=purchase_body(world.store_a, world.member_a["id"], "std-1"),
        headers={**pos, "Idempotency-Key": "till-std-1"},
    )
    assert (again.json(), back.json()) == (lean.json(), standard.json())


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"headers": {"Idempotency-Key": ""}}, "Idempotency-Key"),  # too short for its parameter
        ({"body": {"lines": []}}, "lines"),
        ({"body": {"store_id": "a store"}}, "store_id"),
        ({"raw": b'{"store_id": 1,'}, None),  # not JSON
    ],
)
def test_what_the_lean_path_cannot_read_fastapi_answers(
    world: World, solved: list[str], change: dict[str, Any], named: str | None
) -> None:
    body = {**purchase_body(world.store_a, world.member_a["id"], "bad-1"), **change.get("body", {})}
    headers = {**world.as_("pos"), **change.get("headers", {})}
    if "raw" in change:
        as_json = {**headers, "Content-Type": "application/json"}
        resp = world.client.post("/api/v1/purchases", content=change["raw"], headers=as_json)
    else:
        resp = world.client.post("/api/v1/purchases", json=body, headers=headers)
    assert resp.status_code == 422, resp.text
    if named is None:  # FastAPI's handler refuses it before solving anything
        assert resp.json()["errors"][0]["message"].startswith("Invalid JSON"), resp.text
        return
    assert solved == ["/api/v1/purchases"]  # FastAPI's handler gave the answer
    assert named in resp.text


def test_credentials_are_checked_on_the_lean_path(world: World, solved: list[str]) -> None:
    body = purchase_body(world.store_a, world.member_a["id"], "nobody-1")
    anonymous = world.client.post("/api/v1/purchases", json=body)
    wrong_role = world.client.post("/api/v1/purchases", json=body, headers=world.as_("member"))
    assert (anonymous.status_code, wrong_role.status_code) == (401, 403)
    assert solved == []  # well-formed: the lean path called the credentials' dependency itself
