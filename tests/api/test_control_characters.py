"""Control characters in a request's text: a 422 naming the field, on every route, on both backends.

On SQLite a NUL in `q=` or `name=` listed every member: SQLite reads a LIKE pattern as a C string, so
`%\\x00%` is `%`. PostgreSQL refuses NUL in text, which came back as an unnamed 422 ("a value is out of
range for storage") or, in a body, after work was done. Now the edge refuses such text before any
query (`loyalty.api.text_guard`, the rule in `loyalty.domain.text`), and the member search refuses it
too for any other caller (the CLI). Legitimate text (CJK, emoji, spaces, a reason on two lines, a
backslash) goes through as before.
"""

from __future__ import annotations

import itertools
import json
import secrets
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from loyalty.domain.errors import InvalidInput
from loyalty.services import member_search
from tests.api.api_world import World, purchase_body, register

V1 = "/api/v1"
_seq = itertools.count(1)
#: NUL, ESC, DEL, a C1 control (NEL) and a lone surrogate
HOSTILE = ["\x00", "\x1b[31m", "\x7f", "\x85", "\ud800"]


def _phone() -> str:
    return f"+86137{secrets.randbelow(10**8):08d}"


def _refused(resp: httpx.Response, *fields: str) -> dict[str, Any]:
    assert resp.status_code == 422, resp.text
    body = dict(resp.json())
    assert body["code"] == "VALIDATION_FAILED"
    assert [e["field"] for e in body["errors"]] == list(fields), body
    assert all("control character" in e["message"] for e in body["errors"]), body
    return body


def _raw_json(w: World, method: str, path: str, text: str, who: str) -> httpx.Response:
    """JSON text as it is (httpx cannot encode a lone surrogate)."""
    headers = {**w.as_(who), "Content-Type": "application/json"}
    return w.client.request(method, f"{V1}{path}", content=text.encode(), headers=headers)


@pytest.mark.parametrize("param", ["q", "name", "phone", "card_no", "tag"])
def test_a_nul_in_a_member_filter_is_refused_not_ignored(world: World, param: str) -> None:
    for bad in ("\x00", "Ali\x00ce", "\x00%"):
        resp = world.client.get(f"{V1}/members", params={param: bad}, headers=world.as_("admin"))
        body = _refused(resp, f"query.{param}")
        assert "U+0000" in body["errors"][0]["message"]
        assert "items" not in body


def test_every_control_character_is_refused_in_any_route_s_query(world: World) -> None:
    for bad in HOSTILE[:-1]:  # a URL cannot carry a lone surrogate
        _refused(world.client.get(f"{V1}/members", params={"q": bad}, headers=world.as_("admin")), "query.q")
        _refused(
            world.client.get(f"{V1}/audit", params={"entity": f"member{bad}"}, headers=world.as_("admin")),
            "query.entity",
        )
        lookup = world.client.get(
            f"{V1}/members/lookup", params={"member_code": bad}, headers=world.as_("pos")
        )
        _refused(lookup, "query.member_code")


def test_the_member_search_refuses_it_whoever_calls(world: World) -> None:
    """The service itself (the CLI's `members list` goes through it): FILTER_INVALID naming each filter."""
    with pytest.raises(InvalidInput) as info:
        member_search.search_members(world.ctx, member_search.MemberFilter(q="\x00", name="A\x00"))
    assert info.value.code == "FILTER_INVALID"
    assert [e["field"] for e in info.value.details["errors"]] == ["q", "name"]


def test_control_characters_in_a_body_are_refused_naming_the_field_and_nothing_is_written(
    world: World,
) -> None:
    for bad in HOSTILE:
        phone = _phone()
        text = json.dumps({"phone": phone, "name": f"A{bad}B", "registration_store_id": world.store_a})
        _refused(_raw_json(world, "POST", "/members", text, "admin"), "name")
        found = world.client.get(f"{V1}/members", params={"phone": phone}, headers=world.as_("admin"))
        assert found.json()["items"] == []
    order = f"cc-{next(_seq)}"
    sale = purchase_body(world.store_a, world.member_a["id"], order)
    sale["occurred_at"] = datetime.now(UTC).isoformat()
    sale["lines"][1]["category"] = "shoes\x00"
    _refused(world.client.post(f"{V1}/purchases", json=sale, headers=world.as_("pos")), "lines.1.category")
    listed = world.client.get(f"{V1}/members/{world.member_a['id']}/purchases", headers=world.as_("admin"))
    assert order not in [p["order_id"] for p in listed.json()["items"]]
    patched = world.client.patch(
        f"{V1}/members/{world.member_a['id']}", json={"name": "Alice\x1b[2J"}, headers=world.as_("admin")
    )
    _refused(patched, "name")
    assert (
        world.client.get(f"{V1}/members/{world.member_a['id']}", headers=world.as_("admin")).json()["name"]
        == world.member_a["name"]
    )
    # JSON in UTF-16 (which the parser accepts) is checked as well
    utf16 = json.dumps({"phone": _phone(), "name": "A\x00B", "registration_store_id": world.store_a})
    headers = {**world.as_("admin"), "Content-Type": "application/json"}
    _refused(world.client.post(f"{V1}/members", content=utf16.encode("utf-16"), headers=headers), "name")
    # a key is text too; and a form (the login) is checked like JSON
    _refused(_raw_json(world, "POST", "/members", '{"na\\u0000me": "x"}', "admin"), "na\\u0000me")
    login = world.client.post(f"{V1}/auth/token", data={"username": "admin1\x00", "password": "x" * 12})
    _refused(login, "username")


def test_legitimate_text_goes_through(world: World) -> None:
    name = "张三 🎉 O'Brien-Łukasz"
    member = register(world, "admin", _phone(), world.store_a, name=name)
    assert member["name"] == name
    for params in ({"q": "张三 🎉"}, {"name": "O'Brien"}):
        found = world.client.get(f"{V1}/members", params=params, headers=world.as_("admin"))
        assert found.status_code == 200, found.text
        assert member["id"] in [m["id"] for m in found.json()["items"]]
    # Python's json.dumps escapes non-ASCII (\\uXXXX, emoji as a surrogate pair): still the same text
    escaped = json.dumps({"phone": _phone(), "name": "李四 😀", "registration_store_id": world.store_a})
    assert "\\ud83d" in escaped
    made = _raw_json(world, "POST", "/members", escaped, "admin")
    assert made.status_code == 201, made.text
    assert made.json()["name"] == "李四 😀"
    # a backslash followed by u0000 is text, not a NUL; a reason may run over lines and hold a tab
    literal = register(world, "admin", _phone(), world.store_a, name="C:\\b\\u0000")
    assert literal["name"] == "C:\\b\\u0000"
    adjusted = world.client.post(
        f"{V1}/points/adjust",
        json={"member_id": member["id"], "points": 5, "reason": "goodwill:\n\tlate delivery"},
        headers=world.as_("admin"),
    )
    assert adjusted.status_code == 201, adjusted.text
