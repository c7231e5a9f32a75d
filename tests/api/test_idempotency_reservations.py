"""The reservation behind an Idempotency-Key (issue #22, item 14): held while its request runs, given up
when the request fails, taken over when its request died, and a clear 409 for whoever finds it held
too long. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from sqlalchemy import text

from loyalty.api import idempotency as api_idempotency
from loyalty.services import idempotency
from tests.api.api_world import World, register

V1 = "/api/v1"
_n = itertools.count(1)


def _member(w: World) -> int:
    return int(register(w, "admin", f"+86134{next(_n):08d}", w.store_a)["id"])


def _redeem(
    w: World, member_id: int, key: str, points: int = 40
) -> tuple[int, dict[str, str], dict[str, object]]:
    body = {"member_id": member_id, "store_id": w.store_a, "points": points}
    resp = w.client.post(f"{V1}/points/redeem", json=body, headers={**w.as_("pos"), "Idempotency-Key": key})
    return resp.status_code, dict(resp.headers), resp.json()


def _hold(w: World, key: str, member_id: int, age: timedelta) -> None:
    """A reservation of `key` for that very redemption, made `age` ago by a request still running
    (or dead)."""
    from loyalty.api.idempotency import request_hash
    from loyalty.api.routers.points import RedeemIn

    body = RedeemIn(member_id=member_id, store_id=w.store_a, points=40)
    scope = next(k for k in _scopes(w) if k.startswith("api_key:"))
    with w.ctx.engine.begin() as conn:
        assert (
            idempotency.reserve(
                conn, scope, key, request_hash("POST /points/redeem", body), w.ctx.now() - age
            )
            is None
        )


def _scopes(w: World) -> list[str]:
    from loyalty.services import auth

    return [f"api_key:{k.id}" for k in auth.list_api_keys(w.ctx, w.store_a) if k.name == "till-a"]


def _grant(w: World, member_id: int, points: int) -> None:
    body = {"member_id": member_id, "points": points, "reason": "for the reservation test"}
    assert w.client.post(f"{V1}/points/adjust", json=body, headers=w.as_("admin")).status_code == 201


def test_a_failed_request_frees_its_key(world: World) -> None:
    mid = _member(world)
    key = f"free-{next(_n)}"
    status, _, problem = _redeem(world, mid, key)
    assert (status, problem["code"]) == (409, "POINTS_INSUFFICIENT")
    _grant(world, mid, 100)
    status, headers, _ = _redeem(world, mid, key)  # the retry after fixing the cause runs, and once
    assert status == 201
    assert "idempotent-replayed" not in headers
    assert _redeem(world, mid, key)[1].get("idempotent-replayed") == "true"


def test_a_held_key_gets_a_clear_409(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api_idempotency, "WAIT", 0.1)
    mid = _member(world)
    _grant(world, mid, 100)
    key = f"held-{next(_n)}"
    _hold(world, key, mid, timedelta(seconds=1))
    status, headers, problem = _redeem(world, mid, key)
    assert (status, problem["code"]) == (409, "IDEMPOTENCY_KEY_IN_PROGRESS")
    assert headers["retry-after"] == "1"
    assert "retry" in str(problem["detail"]).lower()
    with world.ctx.engine.connect() as conn:
        spent = conn.execute(
            text("SELECT count(*) FROM transfers WHERE kind = 'redeem' AND member_id = :m"), {"m": mid}
        ).scalar_one()
    assert spent == 0  # the held request's effect is its own: this one did nothing


def test_a_dead_requests_key_is_taken_over(world: World) -> None:
    mid = _member(world)
    _grant(world, mid, 100)
    key = f"dead-{next(_n)}"
    _hold(world, key, mid, idempotency.LEASE + timedelta(seconds=5))
    status, headers, body = _redeem(world, mid, key)
    assert status == 201, body
    assert "idempotent-replayed" not in headers
    again = _redeem(world, mid, key)
    assert again[0] == 201
    assert again[1].get("idempotent-replayed") == "true"
    assert again[2] == body
