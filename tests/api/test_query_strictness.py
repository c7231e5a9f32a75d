"""Every API route answers a query parameter it does not declare with a 422 naming it.

FastAPI ignores undeclared parameters, so `GET /members?segmnt=high_value` used to return every
member. The check is mounted once by the app factory; these tests walk every published operation, so a
route added later is covered without being listed here.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Query
from fastapi.testclient import TestClient

from loyalty.api import strict_query
from loyalty.api.errors import install_error_handlers, problem_type
from tests.api.api_world import World

V1 = "/api/v1"


def _unknown(resp: object, *names: str) -> dict[str, object]:
    assert resp.status_code == 422, (resp.request.url, resp.text)  # type: ignore[attr-defined]
    assert resp.headers["content-type"].startswith("application/problem+json")  # type: ignore[attr-defined]
    body = dict(resp.json())  # type: ignore[attr-defined]
    assert body["type"] == problem_type("VALIDATION_FAILED")
    assert [e["field"] for e in body["errors"]] == [f"query.{n}" for n in names]
    return body


def test_every_route_refuses_an_undeclared_parameter(world: World) -> None:
    operations = [
        (method.upper(), path)
        for path, ops in world.app.openapi()["paths"].items()
        for method in ops
        if path.startswith(V1)
    ]
    assert len(operations) >= 30
    for method, path in operations:
        url = re.sub(r"\{[^}]+\}", "1", path)
        for who in ("anonymous", "admin"):
            resp = world.client.request(method, url, params={"zz_unknown": "1"}, headers=world.as_(who))
            _unknown(resp, "zz_unknown")


def test_the_problem_names_each_unknown_parameter_and_what_the_route_accepts(world: World) -> None:
    resp = world.client.get(
        f"{V1}/members",
        params={"segmnt": "high_value", "limit": "5", "Tier": "gold"},
        headers=world.as_("admin"),
    )
    body = _unknown(resp, "Tier", "segmnt")
    message = body["errors"][0]["message"]  # type: ignore[index]
    assert "cursor, limit" in message
    assert "segment" in message


def test_declared_parameters_and_empty_queries_still_pass(world: World) -> None:
    assert (
        world.client.get(f"{V1}/members", params={"limit": "1"}, headers=world.as_("admin")).status_code
        == 200
    )
    assert world.client.get(f"{V1}/members?", headers=world.as_("admin")).status_code == 200
    assert world.client.get(f"{V1}/health").status_code == 200
    lookup = world.client.get(
        f"{V1}/members/lookup", params={"phone": world.member_a["phone"]}, headers=world.as_("pos")
    )
    assert lookup.status_code == 200, lookup.text


def _paging(page_size: Annotated[int, Query(alias="page-size")] = 10) -> int:
    return page_size


_things = APIRouter()


@_things.get("/things")
def _list_things(size: Annotated[int, Depends(_paging)], q: str | None = None) -> dict[str, object]:
    return {"size": size, "q": q}


@_things.post("/things")
def _add_thing() -> dict[str, object]:
    return {}


def test_parameters_declared_by_a_dependency_are_accepted() -> None:
    """A route's accepted names include those its dependencies declare (and their aliases), and are
    the route's own: the POST beside the GET declares none."""
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(_things, prefix="/v")
    strict_query.install(app, [("/v", _things)])
    client = TestClient(app, raise_server_exceptions=False)
    assert client.get("/v/things", params={"page-size": "3", "q": "x"}).json() == {"size": 3, "q": "x"}
    _unknown(client.get("/v/things", params={"page_size": "3"}), "page_size")
    _unknown(client.post("/v/things", params={"q": "x"}), "q")
    assert client.get("/v/nothing", params={"q": "x"}).status_code == 404  # no route: a 404, not a 422
