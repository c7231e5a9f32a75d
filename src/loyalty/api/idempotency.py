"""`Idempotency-Key` for mutating POS calls, stored in the core's `idempotency_keys` table.

A till that times out retries with the same key and must get the first answer, not a second effect.
A reused key with another body (or on another endpoint) is rejected with 422. Only successful
responses are stored, so a till can retry a failed request after fixing the cause.
Keys are scoped per caller (`staff:7`, `api_key:3`), so tills cannot collide with each other.

A request that arrives while another with its key is still running waits for that one's answer (up
to `WAIT` seconds) and replays it; if it is not there by then, it is answered 409
IDEMPOTENCY_KEY_IN_PROGRESS with `Retry-After`. It never runs the effect a second time, nor gets an
error the first one's effect caused (a duplicate phone, a sale claimed already).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from loyalty.api.errors import ApiError
from loyalty.api.security import Principal
from loyalty.domain.errors import IdempotencyMismatch
from loyalty.services import idempotency
from loyalty.services.posting.sale_request import SaleAnswer

if TYPE_CHECKING:
    from loyalty.bootstrap import Context

REPLAY_HEADER = "Idempotent-Replayed"
#: how long a request waits for a concurrent one with its key to answer, in seconds
WAIT = 2.0
_POLL = 0.02

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

    The key is reserved before the work (one short transaction) and completed with the response
    after it; a concurrent request with the key waits for that response (see the module docstring).
    Should a reservation outlive its request (the process died between the effect's commit and the
    response's), a retry after `idempotency.LEASE` runs the handler again, which is itself idempotent
    in its own transaction (purchases on store + order id, returns on store + return id, redemptions
    and adjustments on the same key).
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

    The handler gets an :class:`idempotency.Record` (None without a key), reserved already, to pass
    to the core use case; when it saved the record, nothing is written afterwards.
    """
    if key is None:
        return _answer(None, *handler(None))
    scope = principal.scope_key
    digest = request_hash(route, payload)
    replay = _reserve_or_replay(ctx, scope, key, digest)
    if replay is not None:
        return replay
    record = idempotency.Record(scope, key, digest, render=_not_rendered, reserved=True)
    try:
        status, model = handler(record)
    except BaseException:
        _release(ctx, scope, key)
        raise
    if record.rendered is None:
        body = model.model_dump(mode="json")
        with ctx.engine.begin() as conn:
            idempotency.complete(conn, scope, key, body, status)
        return JSONResponse(body, status_code=status)
    return _answer(record, status, model)


def _reserve_or_replay(ctx: Context, scope: str, key: str, digest: str) -> JSONResponse | None:
    """Reserve (scope, key) for this request (None), or the answer of the request that has it: its
    stored response replayed, once it is there (waiting up to `WAIT` seconds), else the 409."""
    deadline = time.monotonic() + WAIT
    while True:
        try:
            with ctx.engine.begin() as conn:
                found = idempotency.reserve(conn, scope, key, digest, ctx.now())
                if found is not None and idempotency.stale(found, ctx.now()):
                    # Its request died before answering: this one runs the work (idempotent) anew.
                    found = None if idempotency.take_over(conn, scope, key, found, ctx.now()) else found
        except IdempotencyMismatch as exc:
            raise _mismatch() from exc
        if found is None:
            return None
        if not found.in_progress:
            return _replayed(found)
        if time.monotonic() >= deadline:
            raise in_progress()
        time.sleep(_POLL)


def _release(ctx: Context, scope: str, key: str) -> None:
    """Free a reserved key whose request failed, so a retry runs it; should this fail too, the
    reservation lapses after `idempotency.LEASE`."""
    with suppress(Exception), ctx.engine.begin() as conn:
        idempotency.release(conn, scope, key)


def in_progress() -> ApiError:
    """409 for a request whose Idempotency-Key another request, still running, holds."""
    return ApiError(
        409,
        "IDEMPOTENCY_KEY_IN_PROGRESS",
        "A request with this Idempotency-Key is still in progress; retry in a moment to get its answer.",
        headers={"Retry-After": "1"},
    )


async def answered(posting: Awaitable[SaleAnswer]) -> JSONResponse:
    """A posting strategy's answer to a sale as the response: the 201 body, or the key's stored
    answer replayed; a key reused with another request is the 422, one still held the 409."""
    try:
        answer = await posting
    except idempotency.KeyReused as exc:
        raise _mismatch() from exc
    except idempotency.KeyInProgress as exc:
        raise in_progress() from exc
    headers = {REPLAY_HEADER: "true"} if answer.replayed else None
    return JSONResponse(answer.body, status_code=answer.status, headers=headers)


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
