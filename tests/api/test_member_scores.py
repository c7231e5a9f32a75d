"""Analytics scores on the member resource, and the member list's score, tier and segment filters.

On SQLite and PostgreSQL. Scores are written as `loyalty analytics refresh` writes them (rows in
`member_scores`); one test runs the real refresh end to end.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, get_args

import pytest
from sqlalchemy import delete, event, insert

from loyalty.api.errors import problem_type
from loyalty.db.analytics_tables import member_scores
from loyalty.services import member_search
from loyalty.services import members as members_service
from tests.api.api_world import World, purchase_body, register

V1 = "/api/v1"
SCORED_AT = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
_phones = itertools.count(1)


def _phone() -> str:
    return f"+86133{next(_phones):08d}"


def _score(w: World, member_id: int, rfm_code: str, segment: str, **kw: Any) -> None:
    row = {
        "member_id": member_id,
        "rfm_code": rfm_code,
        "segment": segment,
        "recency_days": 3,
        "frequency": 4,
        "monetary_minor": 123_450,
        "p_alive": None,
        "expected_purchases": None,
        "clv_minor": None,
        "model": "bgnbd",
        "computed_at": SCORED_AT,
        **kw,
    }
    with w.ctx.engine.begin() as conn:
        conn.execute(delete(member_scores).where(member_scores.c.member_id == member_id))
        conn.execute(insert(member_scores).values(**row))


@pytest.fixture(scope="module")
def scored(world: World) -> dict[str, int]:
    """Four members of store A with known scores, one never scored; ids by name."""
    ids = {name: int(register(world, "admin", _phone(), world.store_a, name=name)["id"]) for name in "vwxyz"}
    _score(world, ids["v"], "222", "high_value", p_alive=0.93, expected_purchases=2.5, clv_minor=88_800)
    _score(world, ids["w"], "222", "high_value", p_alive=0.41, expected_purchases=0.7, clv_minor=12_000)
    _score(world, ids["x"], "112", "win_back", p_alive=0.12, expected_purchases=0.1, clv_minor=3_000)
    _score(world, ids["y"], "111", "general_win_back")  # RFM only: no purchase model fitted
    return ids


def _ids(resp: Any) -> list[int]:
    assert resp.status_code == 200, resp.text
    return [m["id"] for m in resp.json()["items"]]


def _problem_fields(resp: Any) -> list[str]:
    assert resp.status_code == 422, resp.text
    body = resp.json()
    assert body["type"] == problem_type("VALIDATION_FAILED")
    return [e["field"] for e in body["errors"]]


# --- the member resource ------------------------------------------------------------------------


def test_staff_see_the_scores_with_group_names_money_and_time(world: World, scored: dict[str, int]) -> None:
    for who in ("admin", "analyst", "cashier", "pos"):
        got = world.client.get(f"{V1}/members/{scored['v']}", headers=world.as_(who))
        assert got.status_code == 200, got.text
        assert got.json()["scores"] == {
            "segment": {
                "code": "high_value",
                "rfm_code": "222",
                "name_zh": "重要价值客户",
                "name_en": "High value",
            },
            "recency_days": 3,
            "frequency": 4,
            "monetary": {"amount": "1234.50", "currency": "CNY"},
            "p_alive": 0.93,
            "expected_purchases": 2.5,
            "clv": {"amount": "888.00", "currency": "CNY"},
            "model": "bgnbd",
            "scored_at": "2026-03-02T01:00:00Z",
        }


def test_scores_are_null_when_never_scored_or_no_model_fitted(world: World, scored: dict[str, int]) -> None:
    never = world.client.get(f"{V1}/members/{scored['z']}", headers=world.as_("admin")).json()
    assert never["scores"] is None
    rfm_only = world.client.get(f"{V1}/members/{scored['y']}", headers=world.as_("admin")).json()["scores"]
    assert rfm_only["segment"]["code"] == "general_win_back"
    assert (rfm_only["p_alive"], rfm_only["expected_purchases"], rfm_only["clv"]) == (None, None, None)


def test_the_till_lookup_and_the_list_carry_the_scores_too(world: World, scored: dict[str, int]) -> None:
    member = world.client.get(f"{V1}/members/{scored['x']}", headers=world.as_("admin")).json()
    found = world.client.get(
        f"{V1}/members/lookup", params={"card_no": member["card_no"]}, headers=world.as_("pos")
    )
    assert found.json()["scores"]["segment"]["code"] == "win_back"
    listed = world.client.get(f"{V1}/members", params={"segment": "win_back"}, headers=world.as_("admin"))
    assert [m["scores"]["p_alive"] for m in listed.json()["items"]] == [0.12]


def test_a_member_does_not_see_their_own_scores(world: World) -> None:
    _score(world, world.member_a["id"], "112", "win_back", p_alive=0.2, clv_minor=1_000)
    try:
        me = world.client.get(f"{V1}/me", headers=world.as_("member"))
        assert me.status_code == 200, me.text
        assert "scores" not in me.json()
        assert me.json()["id"] == world.member_a["id"]
    finally:
        with world.ctx.engine.begin() as conn:
            conn.execute(delete(member_scores).where(member_scores.c.member_id == world.member_a["id"]))


@contextmanager
def _selects(w: World) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    event.listen(w.ctx.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(w.ctx.engine, "before_cursor_execute", count)


def test_scores_cost_the_lookup_no_extra_query_and_the_list_none_per_member(
    world: World, scored: dict[str, int]
) -> None:
    with _selects(world) as seen:
        members_service.get_member(world.ctx, scored["v"])
    assert len(seen) == 1, seen  # member, tier and scores in one statement
    counts = []
    for limit in (1, 4):
        with _selects(world) as seen:
            page = member_search.search_members(
                world.ctx, member_search.MemberFilter(store_ids=[world.store_a]), limit=limit
            )
        assert len(page.items) == limit
        counts.append(len(seen))
    assert counts[0] == counts[1] <= 3, counts  # tiers, the page's ids, the page's members


# --- filters ------------------------------------------------------------------------------------


def test_filter_by_segment_rfm_code_p_alive_and_clv(world: World, scored: dict[str, int]) -> None:
    get = lambda **p: _ids(world.client.get(f"{V1}/members", params=p, headers=world.as_("admin")))  # noqa: E731
    v, w, x, y = (scored[k] for k in "vwxy")
    assert get(segment="high_value") == [w, v]
    assert get(segment=["high_value", "win_back"]) == [x, w, v]
    assert get(rfm_code="111") == [y]
    assert get(segment="high_value", p_alive_min="0.5") == [v]
    assert get(p_alive_max="0.5") == [x, w]  # never fitted (y) and never scored (z) match no range
    assert get(clv_min="120.00", clv_max="888.00") == [w, v]
    assert get(clv_min="120.01") == [v]
    assert get(segment="develop") == []


def test_score_filters_respect_store_scope(world: World, scored: dict[str, int]) -> None:
    mine = _ids(
        world.client.get(f"{V1}/members", params={"segment": "high_value"}, headers=world.as_("cashier"))
    )
    assert mine == [scored["w"], scored["v"]]
    other = world.client.get(
        f"{V1}/members", params={"segment": "high_value"}, headers=world.as_("cashier_b")
    )
    assert _ids(other) == []


def test_tier_filter_accepts_known_codes(world: World, scored: dict[str, int]) -> None:
    got = _ids(world.client.get(f"{V1}/members", params={"tier": "normal"}, headers=world.as_("admin")))
    assert scored["v"] in got


@pytest.mark.parametrize(
    ("params", "fields"),
    [
        ({"segment": "big_spenders"}, ["query.segment.0"]),
        ({"segment": ["high_value", "big_spenders"]}, ["query.segment.1"]),
        ({"rfm_code": "333"}, ["query.rfm_code.0"]),
        ({"tier": "platinum"}, ["query.tier"]),
        ({"p_alive_min": "1.5"}, ["query.p_alive_min"]),
        ({"p_alive_min": "0.8", "p_alive_max": "0.2"}, ["query.p_alive_max"]),
        ({"clv_min": "10.001"}, ["query.clv_min"]),
        ({"clv_min": "abc"}, ["query.clv_min"]),
        ({"clv_min": "500", "clv_max": "100"}, ["query.clv_max"]),
        ({"cursor": "next-please"}, ["query.cursor"]),
        ({"segmnt": "high_value"}, ["query.segmnt"]),
    ],
)
def test_bad_filters_are_422_naming_the_field(
    world: World, params: dict[str, Any], fields: list[str]
) -> None:
    resp = world.client.get(f"{V1}/members", params=params, headers=world.as_("admin"))
    assert _problem_fields(resp) == fields


def test_unknown_tier_names_the_known_ones(world: World) -> None:
    resp = world.client.get(f"{V1}/members", params={"tier": "platinum"}, headers=world.as_("admin"))
    message = resp.json()["errors"][0]["message"]
    assert "platinum" in message
    assert "normal, silver, gold, diamond" in message


def test_the_api_segment_list_is_the_analytics_one() -> None:
    from loyalty.api.routers.members import RfmCode, Segment

    assert set(get_args(Segment)) == set(member_search.SEGMENT_CODES)
    assert set(get_args(RfmCode)) == set(member_search.SEGMENT_CODES.values())


# --- the real refresh (last: it replaces every member's scores) ---------------------------------


def test_scores_written_by_analytics_refresh_show_on_the_member(world: World) -> None:
    from loyalty.analytics.store import refresh

    buyers = [int(register(world, "admin", _phone(), world.store_a)["id"]) for _ in range(3)]
    for n, member_id in enumerate(buyers):
        for k in range(n + 1):
            body = purchase_body(world.store_a, member_id, f"rf-{member_id}-{k}", price=f"{50 * (n + 1)}.00")
            body["occurred_at"] = f"2026-02-{10 + 3 * k:02d}T10:00:00+08:00"
            resp = world.client.post(f"{V1}/purchases", json=body, headers=world.as_("admin"))
            assert resp.status_code == 201, resp.text
    assert refresh(world.ctx.engine, now=datetime(2026, 3, 1, tzinfo=UTC)) >= 3
    shown = world.client.get(f"{V1}/members/{buyers[2]}", headers=world.as_("analyst")).json()["scores"]
    assert shown is not None
    assert shown["segment"]["rfm_code"] in member_search.SEGMENT_CODES.values()
    assert member_search.SEGMENT_CODES[shown["segment"]["code"]] == shown["segment"]["rfm_code"]
    assert shown["scored_at"].startswith("2026-03-01T00:00:00")
    listed = world.client.get(
        f"{V1}/members", params={"segment": shown["segment"]["code"]}, headers=world.as_("analyst")
    )
    assert buyers[2] in _ids(listed)
