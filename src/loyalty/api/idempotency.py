"""`Idempotency-Key` for mutating POS calls, stored in the core's `idempotency_keys` table.

A till that times out retries with the same key and must get the first answer, not a second effect.
A reused key with another body (or on another endpoint) is rejected with 422. Only successful
responses are stored, so a till can retry a failed request after fixing the cause.
Keys are scoped per caller (`staff:7`, `api_key:3`), so tills cannot collide with each other.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from loyalty.api.errors import ApiError
from loyalty.api.security import Principal
from loyalty.domain.errors import IdempotencyMismatch
from loyalty.services import idempotency
from loyalty.services.common import read

if TYPE_CHECKING:
    from loyalty.bootstrap import Context

REPLAY_HEADER = "Idempotent-Replayed"

Payload = BaseModel | dict[str, Any] | None
#: a use case run under a key: gets the record to save with its effect (None without a key)
KeyedHandler = Callable[[idempotency.Record | None], tuple[int, BaseModel]]

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=150,
        description="Unique per logical operation; a retry with the same key returns the first response.",
    ),
]


def request_hash(route: str, payload: BaseModel | dict[str, Any] | None) -> str:
    """Fingerprint of what was asked: the route and the canonical JSON of the validated body."""
    data = payload.model_dump(mode="json") if isinstance(payload, BaseModel) else payload
    canonical = json.dumps({"route": route, "body": data}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def run_idempotent(
    ctx: Context,
    principal: Principal,
    key: str | None,
    route: str,
    payload: BaseModel | dict[str, Any] | None,
    handler: Callable[[], tuple[int, BaseModel]],
) -> JSONResponse:
    """Run `handler` once per (caller, key); replay its stored response afterwards.

    One indexed read before and one insert after the work. Two *concurrent* first attempts with one
    key may both reach the handler; that is safe because every handler behind this is itself
    idempotent in its own transaction (purchases on store + order id, returns on store + return id,
    redemptions and adjustments on the same key, registrations on the unique phone), so the second
    gets the first's effect, and only one response is stored.
    """
    return run_idempotent_within(ctx, principal, key, route, payload, lambda _record: handler())


def run_idempotent_within(
    ctx: Context,
    principal: Principal,
    key: str | None,
    route: str,
    payload: Payload,
    handler: KeyedHandler,
) -> JSONResponse:
    """:func:`run_idempotent` for a handler that can record the key in its own transaction.

    The handler gets an :class:`idempotency.Record` (None without a key) to pass to the core use case;
    when it saved the record, nothing is written afterwards (one transaction per POS sale, not two).
    """

    def replay_from(scope: str, key: str, digest: str) -> JSONResponse | None:
        with read(ctx) as conn:
            return _replay(conn, scope, key, digest)

    def store_unsaved(record: idempotency.Record, status: int, body: dict[str, Any]) -> None:
        try:
            with ctx.engine.begin() as conn:
                idempotency.store(
                    conn, record.scope, record.key, record.request_hash, body, ctx.now(), status
                )
        except IntegrityError:
            pass  # a concurrent first attempt stored its (equivalent) response first

    return _keyed(principal, key, route, payload, handler, replay_from, store_unsaved)


def run_idempotent_in(
    conn: Connection,
    principal: Principal,
    key: str | None,
    route: str,
    payload: Payload,
    handler: KeyedHandler,
) -> JSONResponse:
    """:func:`run_idempotent_within` inside the caller's transaction `conn`: a POS sale's own on
    PostgreSQL, the shared one of the API's group commit on SQLite.

    The look-up, the effect and its record share that transaction; the handler must save the record.
    """
    return _keyed(principal, key, route, payload, handler, partial(_replay, conn), store_unsaved=None)


def _keyed(
    principal: Principal,
    key: str | None,
    route: str,
    payload: Payload,
    handler: KeyedHandler,
    replay_from: Callable[[str, str, str], JSONResponse | None],
    store_unsaved: Callable[[idempotency.Record, int, dict[str, Any]], None] | None,
) -> JSONResponse:
    """Replay what (caller, key) was first answered, else run `handler` with a record to save.

    `replay_from(scope, key, digest)` looks the key up; `store_unsaved` records the response when the
    handler did not save the record itself (None: it must have).
    """
    if key is None:
        return _answer(None, *handler(None))
    scope = principal.scope_key
    digest = request_hash(route, payload)
    replay = replay_from(scope, key, digest)
    if replay is not None:
        return replay
    record = idempotency.Record(scope, key, digest, render=_not_rendered)
    status, model = handler(record)
    if record.rendered is None:
        if store_unsaved is None:
            raise RuntimeError("a handler run inside a shared transaction must save its idempotency record")
        body = model.model_dump(mode="json")
        store_unsaved(record, status, body)
        return JSONResponse(body, status_code=status)
    return _answer(record, status, model)


def _replay(conn: Connection, scope: str, key: str, digest: str) -> JSONResponse | None:
    """The stored response for (scope, key) as sent the first time, None when the key is new."""
    try:
        stored = idempotency.find(conn, scope, key, digest)
    except IdempotencyMismatch as exc:
        raise _mismatch() from exc
    return None if stored is None else _replayed(stored)


def replayed_or_mismatch(
    found: idempotency.Stored | IdempotencyMismatch | None,
) -> JSONResponse | ApiError | None:
    """A key's look-up (`idempotency.find_many`) as answered: the first response replayed, the 422
    for a key reused with another request, or None for a new key."""
    if found is None:
        return None
    if isinstance(found, IdempotencyMismatch):
        return _mismatch()
    return _replayed(found)


def _replayed(stored: idempotency.Stored) -> JSONResponse:
    return JSONResponse(stored.response, status_code=stored.status_code, headers={REPLAY_HEADER: "true"})


def _answer(record: idempotency.Record | None, status: int, model: BaseModel) -> JSONResponse:
    """The handler's response: what its record stored (rendered once, in the transaction), else the model."""
    if record is not None and record.rendered is not None:
        status, body = record.rendered
        return JSONResponse(body, status_code=status)
    return JSONResponse(model.model_dump(mode="json"), status_code=status)


def _mismatch() -> ApiError:
    return ApiError(422, "IDEMPOTENCY_MISMATCH", "This Idempotency-Key was used with a different request.")


def _not_rendered(_result: Any) -> tuple[int, dict[str, Any]]:
    raise RuntimeError("a handler passed the idempotency record on without setting how to render it")
