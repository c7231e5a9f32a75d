"""The same API behind a real uvicorn server on a TCP port (both backends, via `db_url`).

Also where concurrency is checked end to end: many tills spending one member's points at the same
moment must never overdraw them; the losers get 409, not 5xx.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import httpx
import pytest

from tests.api.api_world import World, build_world, purchase_body
from tests.api.live_server import serve
from tests.conftest import end_pg_backends


@contextmanager
def _serve(url: str) -> Iterator[tuple[str, World]]:
    world = build_world(url)
    try:
        with serve(world.app, start_within=10) as base:
            yield base, world
    finally:
        world.client.close()
        world.ctx.engine.dispose()


@pytest.fixture
def served(db_url: str) -> Iterator[tuple[str, World]]:
    with _serve(db_url) as served:
        yield served


def test_over_tcp_login_post_and_concurrent_spends(served: tuple[str, World]) -> None:
    base, world = served
    with httpx.Client(base_url=base, timeout=30) as http:
        assert http.get("/api/v1/health").json()["database"] == "ok"
        assert http.get("/openapi.json").status_code == 200
        token = http.post("/api/v1/auth/token", data={"username": "admin1", "password": "s3cret-passw0rd"})
        admin = {"Authorization": f"Bearer {token.json()['access_token']}"}
        member_id = world.member_a["id"]
        adj = http.post(
            "/api/v1/points/adjust",
            json={"member_id": member_id, "points": 100, "reason": "race test"},
            headers=admin,
        )
        assert adj.status_code == 201, adj.text

    def spend(i: int) -> int:
        with httpx.Client(base_url=base, timeout=30) as c:
            r = c.post(
                "/api/v1/points/redeem",
                json={"member_id": member_id, "store_id": world.store_a, "points": 30},
                headers={**world.as_("pos"), "Idempotency-Key": f"race-{i}"},
            )
            return r.status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(spend, range(8)))
    assert codes.count(201) == 3, codes  # 3 × 30 ≤ 100 < 4 × 30
    assert set(codes) <= {201, 409}, codes
    with httpx.Client(base_url=base) as http:
        bal = http.get(f"/api/v1/members/{member_id}/points", headers=world.as_("admin")).json()
    assert bal["available"] == 10


def test_one_sale_posted_at_once_from_many_tills_with_one_key(served: tuple[str, World]) -> None:
    """A till retrying on several connections at once: one effect, one stored response, same answer."""
    base, world = served
    body = purchase_body(world.store_a, world.member_a["id"], "race-sale-1")

    def post(_i: int) -> tuple[int, dict[str, object]]:
        with httpx.Client(base_url=base, timeout=30) as c:
            r = c.post(
                "/api/v1/purchases", json=body, headers={**world.as_("pos"), "Idempotency-Key": "race-sale-1"}
            )
            return r.status_code, r.json()

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(post, range(8)))
    assert {code for code, _ in results} == {201}, results
    assert len({payload["id"] for _, payload in results}) == 1
    assert len({payload["points_earned"] for _, payload in results}) == 1
    with httpx.Client(base_url=base) as http:
        history = http.get(
            f"/api/v1/members/{world.member_a['id']}/points/statement", headers=world.as_("admin")
        ).json()
    earned = [e for e in history["items"] if e["order_id"] == "race-sale-1"]
    assert len(earned) == 1, history
    assert earned[0]["points"] == results[0][1]["points_earned"]


@pytest.mark.postgres
def test_a_till_s_sale_goes_through_after_the_database_closed_the_server_s_connections(pg_url: str) -> None:
    """A database restart between two sales: the second is answered 201, not 5xx, and posted once."""
    with _serve(pg_url) as (base, world):
        pos = world.as_("pos")
        with httpx.Client(base_url=base, timeout=30) as http:
            first = http.post(
                "/api/v1/purchases",
                json=purchase_body(world.store_a, world.member_a["id"], "restart-1"),
                headers={**pos, "Idempotency-Key": "restart-1"},
            )
            assert first.status_code == 201, first.text
            assert end_pg_backends(pg_url) >= 1
            second = http.post(
                "/api/v1/purchases",
                json=purchase_body(world.store_a, world.member_a["id"], "restart-2"),
                headers={**pos, "Idempotency-Key": "restart-2"},
            )
            assert second.status_code == 201, second.text
            again = http.post(  # the till's retry of the second sale replays it
                "/api/v1/purchases",
                json=purchase_body(world.store_a, world.member_a["id"], "restart-2"),
                headers={**pos, "Idempotency-Key": "restart-2"},
            )
        assert again.status_code == 201
        assert again.json()["id"] == second.json()["id"]
