"""Merging speaks of the duplicate and the survivor everywhere; the old API names are refused, not mapped."""

from __future__ import annotations

import itertools
from typing import Any

import httpx

from loyalty.api.errors import problem_type
from tests.api.api_world import World, register

V1 = "/api/v1"
_n = itertools.count(1)


def _pair(w: World) -> tuple[int, int]:
    ids = [int(register(w, "admin", f"+86131{next(_n):08d}", w.store_a)["id"]) for _ in range(2)]
    return ids[0], ids[1]


def _status(w: World, member_id: int) -> dict[str, Any]:
    return dict(w.client.get(f"{V1}/members/{member_id}", headers=w.as_("admin")).json())


def _merge(w: World, body: dict[str, int], role: str = "admin") -> httpx.Response:
    return w.client.post(f"{V1}/members/merge", json=body, headers=w.as_(role))


def test_the_duplicate_is_merged_into_the_survivor(world: World) -> None:
    duplicate, survivor = _pair(world)
    resp = _merge(world, {"duplicate_id": duplicate, "survivor_id": survivor}, "store_manager")
    assert resp.status_code == 200, resp.text
    assert resp.json()["id"] == survivor
    gone = _status(world, duplicate)
    assert (gone["status"], gone["merged_into_id"]) == ("merged", survivor)
    audit = world.client.get(
        f"{V1}/audit", params={"entity": "member", "entity_id": str(survivor)}, headers=world.as_("admin")
    )
    assert audit.status_code == 200, audit.text
    (merge,) = [e for e in audit.json()["items"] if e["action"] == "member.merge"]
    assert merge["before"]["duplicate"]["id"] == duplicate
    assert "scores" not in merge["before"]["survivor"]  # the registry's fields, not analytics


def test_the_old_names_get_a_422_naming_the_new_ones_and_merge_nothing(world: World) -> None:
    duplicate, survivor = _pair(world)
    for body, fields, new in (
        ({"source_id": duplicate, "target_id": survivor}, ["source_id", "target_id"], "duplicate_id"),
        ({"duplicate_id": duplicate, "target_id": survivor}, ["target_id"], "survivor_id"),
    ):
        resp = _merge(world, body)
        assert resp.status_code == 422, resp.text
        problem = resp.json()
        assert problem["type"] == problem_type("VALIDATION_FAILED")
        assert [e["field"] for e in problem["errors"]] == fields
        assert new in problem["detail"]
        assert "survivor_id" in problem["errors"][-1]["message"]
    assert _status(world, duplicate)["status"] == "active"
    assert _status(world, survivor)["status"] == "active"


def test_a_member_cannot_be_merged_into_itself(world: World) -> None:
    duplicate, _ = _pair(world)
    resp = _merge(world, {"duplicate_id": duplicate, "survivor_id": duplicate})
    assert resp.status_code == 422, resp.text
    assert [e["field"] for e in resp.json()["errors"]] == ["survivor_id"]
