"""Ten tills send the same request with one Idempotency-Key at the same moment, over a real server:
exactly one effect, and every answer is the first one replayed (same body, `Idempotent-Replayed`) or
a clear 409 IDEMPOTENCY_KEY_IN_PROGRESS with Retry-After, never a generic error (issue #22, item 14).

PostgreSQL runs the requests side by side (its transactions really overlap); SQLite too, one writer
at a time.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.api.api_world import World, build_world, pg_world, purchase_body, register
from tests.api.live_server import serve

N = 10
_n = itertools.count(1)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, World]]:
    """A seeded world behind a uvicorn server (its base URL), per backend and module."""
    if request.param == "sqlite":
        world = build_world(f"sqlite:///{tmp_path_factory.mktemp('idem') / 'loyalty.db'}")
        try:
            with serve(world.app) as base:
                yield base, world
        finally:
            world.client.close()
            world.ctx.engine.dispose()
        return
    with pg_world() as world, serve(world.app) as base:
        yield base, world


def _all_at_once(base: str, path: str, body: dict[str, Any], headers: dict[str, str]) -> list[httpx.Response]:
    """`N` identical requests released together from `N` threads, each with its own connection."""
    start = threading.Barrier(N)

    def send(_: int) -> httpx.Response:
        with httpx.Client(base_url=base, timeout=60) as client:
            start.wait()
            return client.post(f"/api/v1{path}", json=body, headers=headers)

    with ThreadPoolExecutor(N) as pool:
        return list(pool.map(send, range(N)))


def _one_effect_many_answers(answers: list[httpx.Response], created: int) -> dict[str, Any]:
    """One first answer; the others replay it or say the key is in progress. Returns the first body."""
    first = [a for a in answers if a.status_code == created and "Idempotent-Replayed" not in a.headers]
    assert len(first) == 1, [(a.status_code, dict(a.headers), a.text) for a in answers]
    body = first[0].json()
    for a in answers:
        if a is first[0]:
            continue
        if a.status_code == 409:
            problem = a.json()
            assert problem["code"] == "IDEMPOTENCY_KEY_IN_PROGRESS", a.text
            assert int(a.headers["Retry-After"]) >= 1
            assert "retry" in problem["detail"].lower()
            continue
        assert a.status_code == created, a.text
        assert a.headers.get("Idempotent-Replayed") == "true", dict(a.headers)
        assert a.json() == body
    return dict(body)


def _count(w: World, sql: str, **params: Any) -> int:
    with w.ctx.engine.connect() as conn:
        return int(conn.execute(text(sql), params).scalar_one())


def _key(w: World, who: str) -> dict[str, str]:
    return {**w.as_(who), "Idempotency-Key": f"same-{next(_n)}"}


def _now() -> str:
    return datetime.now(UTC).isoformat()


def test_redemptions(served: tuple[str, World]) -> None:
    base, w = served
    mid = int(register(w, "admin", f"+86139{next(_n):08d}", w.store_a)["id"])
    grant = {"member_id": mid, "points": 1_000, "reason": "race for one key"}
    assert w.client.post("/api/v1/points/adjust", json=grant, headers=w.as_("admin")).status_code == 201
    body = {"member_id": mid, "store_id": w.store_a, "points": 30}
    answers = _all_at_once(base, "/points/redeem", body, _key(w, "pos"))
    _one_effect_many_answers(answers, 201)
    assert _count(w, "SELECT count(*) FROM transfers WHERE kind = 'redeem' AND member_id = :m", m=mid) == 1


def test_adjustments(served: tuple[str, World]) -> None:
    base, w = served
    mid = int(register(w, "admin", f"+86139{next(_n):08d}", w.store_a)["id"])
    body = {"member_id": mid, "points": 77, "reason": "one goodwill grant"}
    _one_effect_many_answers(_all_at_once(base, "/points/adjust", body, _key(w, "admin")), 201)
    assert _count(w, "SELECT count(*) FROM transfers WHERE kind = 'adjust' AND member_id = :m", m=mid) == 1


def test_purchases(served: tuple[str, World]) -> None:
    base, w = served
    body = purchase_body(w.store_a, w.member_a["id"], f"same-key-{next(_n)}") | {"occurred_at": _now()}
    _one_effect_many_answers(_all_at_once(base, "/purchases", body, _key(w, "pos")), 201)
    assert _count(w, "SELECT count(*) FROM purchases WHERE order_id = :o", o=body["order_id"]) == 1


def test_returns(served: tuple[str, World]) -> None:
    base, w = served
    sale = purchase_body(w.store_a, w.member_a["id"], f"same-ret-{next(_n)}") | {"occurred_at": _now()}
    assert w.client.post("/api/v1/purchases", json=sale, headers=w.as_("pos")).status_code == 201
    body = {
        "store_id": w.store_a,
        "order_id": sale["order_id"],
        "return_id": f"r-{next(_n)}",
        "occurred_at": _now(),
        "lines": [{"line_no": 2, "quantity": 1}],
    }
    _one_effect_many_answers(_all_at_once(base, "/returns", body, _key(w, "pos")), 201)
    assert _count(w, "SELECT count(*) FROM returns WHERE return_id = :r", r=body["return_id"]) == 1


def test_claims(served: tuple[str, World]) -> None:
    base, w = served
    sale = purchase_body(w.store_a, None, f"same-claim-{next(_n)}") | {"occurred_at": _now()}
    assert w.client.post("/api/v1/purchases", json=sale, headers=w.as_("pos")).status_code == 201
    mid = int(register(w, "admin", f"+86139{next(_n):08d}", w.store_a)["id"])
    body = {"store_id": w.store_a, "order_id": sale["order_id"], "member_id": mid}
    _one_effect_many_answers(_all_at_once(base, "/purchases/claims", body, _key(w, "pos")), 200)
    earned = "SELECT count(*) FROM transfers t JOIN purchases p ON p.id = t.purchase_id WHERE p.order_id = :o"
    assert _count(w, earned, o=sale["order_id"]) == 1


def test_registrations(served: tuple[str, World]) -> None:
    base, w = served
    phone = f"+86139{next(_n):08d}"
    body = {"phone": phone, "name": "Once", "registration_store_id": w.store_a}
    _one_effect_many_answers(_all_at_once(base, "/members", body, _key(w, "cashier")), 201)
    assert _count(w, "SELECT count(*) FROM members WHERE name = 'Once' AND phone = :p", p=phone) == 1
