"""Idempotency-Key records: the first response to a (caller, key), replayed to every retry.

Used inside the effect's own transaction where the use case allows (points spends and adjustments:
a crash leaves either both or neither), and by the API around any mutating call. The statements are
prepared once (see `loyalty.db.prepared`): the look-up runs on every POS sale.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select

from loyalty.db import unnest
from loyalty.db.core_tables import idempotency_keys
from loyalty.db.prepared import Prepared
from loyalty.domain.errors import IdempotencyMismatch

_KEYS = idempotency_keys.c
_LOOKUP = Prepared(
    select(_KEYS.request_hash, _KEYS.response, _KEYS.status_code).where(
        _KEYS.scope == bindparam("scope"), _KEYS.key == bindparam("key")
    )
)
_STORE = Prepared(insert(idempotency_keys))


@dataclass(frozen=True)
class Stored:
    """A response recorded under a key: the JSON body and the HTTP status it was first given with."""

    response: dict[str, Any]
    status_code: int


def find(conn: Connection, scope: str, key: str, rhash: str) -> Stored | None:
    """The stored response for (scope, key), None if unseen; a different request hash raises."""
    return _found(_LOOKUP.run(conn, {"scope": scope, "key": key}), key, rhash)


def find_many(
    conn: Connection, keys: Sequence[tuple[str, str, str]]
) -> list[Stored | IdempotencyMismatch | None]:
    """`find` for each (scope, key, request hash); one statement on PostgreSQL (inside a pipeline, it
    waits once for itself and everything sent before it).

    Each answer is the stored response, None for an unseen key, or the mismatch (returned, not raised:
    one request's reused key is that request's error only).
    """
    if conn.dialect.name == "postgresql":
        found: list[list[tuple[Any, ...]]] = [[] for _ in keys]
        columns = [[scope for scope, _, _ in keys], [key for _, key, _ in keys]]
        for position, *row in unnest.send(conn, _LOOKUP_MANY, columns)():
            found[position - 1] = [tuple(row)]
    else:
        found = [_LOOKUP.run(conn, {"scope": scope, "key": key}) for scope, key, _ in keys]
    answers: list[Stored | IdempotencyMismatch | None] = []
    for stored, (_, key, rhash) in zip(found, keys, strict=True):
        try:
            answers.append(_found(stored, key, rhash))
        except IdempotencyMismatch as exc:
            answers.append(exc)
    return answers


_LOOKUP_MANY = (
    "SELECT q.position, k.request_hash, k.response, k.status_code "
    "FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY AS q(scope, key, position) "
    "JOIN idempotency_keys k ON k.scope = q.scope AND k.key = q.key"
)


def _found(rows: list[tuple[Any, ...]], key: str, rhash: str) -> Stored | None:
    if not rows:
        return None
    stored_hash, response, status_code = rows[0]
    if stored_hash != rhash:
        raise IdempotencyMismatch(
            "IDEMPOTENCY_MISMATCH",
            "Idempotency-Key {idempotency_key!r} was used with a different request",
            {"idempotency_key": key},
        )
    # the driver hands JSON back as text on SQLite and already decoded on PostgreSQL
    body = json.loads(response) if isinstance(response, str | bytes) else response
    return Stored(dict(body), int(status_code))


def lookup(conn: Connection, scope: str, key: str, rhash: str) -> dict[str, Any] | None:
    """The stored response body for (scope, key), None if unseen; a different body raises."""
    found = find(conn, scope, key, rhash)
    return None if found is None else found.response


def store(
    conn: Connection,
    scope: str,
    key: str,
    rhash: str,
    response: dict[str, Any],
    at: Any,
    status_code: int = 200,
) -> None:
    """Record the first response under (scope, key); a concurrent first record raises IntegrityError."""
    store_many(conn, [(scope, key, rhash, response, status_code)], at)


def store_many(
    conn: Connection, records: Sequence[tuple[str, str, str, dict[str, Any], int]], at: Any
) -> None:
    """`store` each (scope, key, request hash, response, status code): one statement on PostgreSQL,
    which a pipeline sends without waiting."""
    if not records:
        return
    if conn.dialect.name == "postgresql":
        scopes, keys, hashes, responses, statuses = zip(*records, strict=True)
        unnest.insert(
            conn,
            "idempotency_keys",
            {
                "scope": scopes,
                "key": keys,
                "request_hash": hashes,
                "response": [json.dumps(body) for body in responses],
                "status_code": statuses,
                "created_at": [at] * len(records),
            },
        )
        return
    _STORE.run_many(
        conn,
        [
            {
                "scope": scope,
                "key": key,
                "request_hash": rhash,
                "response": response,
                "status_code": status_code,
                "created_at": at,
            }
            for scope, key, rhash, response, status_code in records
        ],
    )


@dataclass
class Record:
    """An Idempotency-Key to record inside the effect's own transaction, with how to render the result.

    Recording with the effect means one transaction per request instead of two, and a crash can never
    leave the effect without its key. ``rendered`` holds what was stored, for the caller to send.
    """

    scope: str
    key: str
    request_hash: str
    render: Callable[[Any], tuple[int, dict[str, Any]]]
    rendered: tuple[int, dict[str, Any]] | None = field(default=None)

    def save(self, conn: Connection, result: Any, at: Any, *, if_absent: bool = False) -> None:
        """Store the rendered result; with ``if_absent`` keep a record a concurrent request made first."""
        self.rendered = self.render(result)
        if if_absent:
            found = find(conn, self.scope, self.key, self.request_hash)
            if found is not None:
                self.rendered = (found.status_code, found.response)
                return
        status, body = self.rendered
        store(conn, self.scope, self.key, self.request_hash, body, at, status)
