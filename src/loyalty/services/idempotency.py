"""Idempotency-Key records: the first response to a (caller, key), replayed to every retry.

Used inside the effect's own transaction where the use case allows (points spends and adjustments:
a crash leaves either both or neither), and by the API around any mutating call. The statements are
prepared once (see `loyalty.db.prepared`): the look-up runs on every POS sale.

Where the effect runs in a transaction of its own, the API first *reserves* the key (`reserve`: a
row with status `IN_PROGRESS` and no response yet, committed at once), so that a concurrent request
with the same key finds it taken and waits for the answer instead of running the effect a second
time; the first request then `complete`s the row with its response, or `release`s it when it failed
(only successful responses are kept). A reservation its request never completed (the process died)
is taken over (`take_over`) once older than `LEASE`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from loyalty.db import unnest
from loyalty.db.core_tables import idempotency_keys
from loyalty.db.prepared import Prepared
from loyalty.domain.errors import IdempotencyMismatch

_KEYS = idempotency_keys.c
_LOOKUP = Prepared(
    select(_KEYS.request_hash, _KEYS.response, _KEYS.status_code, _KEYS.created_at).where(
        _KEYS.scope == bindparam("scope"), _KEYS.key == bindparam("key")
    )
)
_STORE = Prepared(insert(idempotency_keys))
_THE_KEY = (_KEYS.scope == bindparam("of_scope")) & (_KEYS.key == bindparam("of_key"))
_COMPLETE = Prepared(
    update(idempotency_keys)
    .where(_THE_KEY)
    .values(response=bindparam("answer", type_=_KEYS.response.type), status_code=bindparam("answered_with"))
)
_RELEASE = Prepared(delete(idempotency_keys).where(_THE_KEY, _KEYS.status_code == bindparam("in_progress")))
_TAKE_OVER = (
    update(idempotency_keys)
    .where(_THE_KEY, _KEYS.status_code == bindparam("in_progress"), _KEYS.created_at == bindparam("seen"))
    .values(created_at=bindparam("at", type_=_KEYS.created_at.type))
)

#: `status_code` of a reserved key whose request has not answered yet (HTTP's "Processing")
IN_PROGRESS = 102


class KeyReused(IdempotencyMismatch):
    """An Idempotency-Key used again with another request (or on another endpoint)."""


class KeyInProgress(Exception):
    """An Idempotency-Key another request, still running, holds (`Stored.in_progress`): the caller is
    told to retry shortly, when the first request's answer will be there to replay."""


#: how long a reservation holds before another request with its key may take it over
LEASE = timedelta(seconds=30)


@dataclass(frozen=True)
class Stored:
    """A response recorded under a key: the JSON body and the HTTP status it was first given with
    (`IN_PROGRESS` while its request runs: reserved at `created_at`)."""

    response: dict[str, Any]
    status_code: int
    created_at: datetime | None = None

    @property
    def in_progress(self) -> bool:
        return self.status_code == IN_PROGRESS


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
    "SELECT q.position, k.request_hash, k.response, k.status_code, k.created_at "
    "FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY AS q(scope, key, position) "
    "JOIN idempotency_keys k ON k.scope = q.scope AND k.key = q.key"
)


def _found(rows: list[tuple[Any, ...]], key: str, rhash: str) -> Stored | None:
    if not rows:
        return None
    stored_hash, response, status_code, created_at = rows[0]
    if stored_hash != rhash:
        raise KeyReused(
            "IDEMPOTENCY_MISMATCH",
            "Idempotency-Key {idempotency_key!r} was used with a different request",
            {"idempotency_key": key},
        )
    # the driver hands JSON back as text on SQLite and already decoded on PostgreSQL
    body = json.loads(response) if isinstance(response, str | bytes) else response
    return Stored(dict(body), int(status_code), _aware(created_at))


def _aware(value: Any) -> datetime | None:
    """A time as read on the driver: aware on PostgreSQL, the UTC text `UTCDateTime` stores on SQLite."""
    if value is None or isinstance(value, datetime):
        return value
    at = datetime.fromisoformat(str(value))
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


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
    conn: Connection,
    records: Sequence[tuple[str, str, str, dict[str, Any], int]],
    at: Any,
    writes: unnest.Writes | None = None,
) -> None:
    """`store` each (scope, key, request hash, response, status code): one statement on PostgreSQL,
    which a pipeline sends without waiting, or a part of `writes` (a POS batch's one write
    statement) when given."""
    if not records:
        return
    if conn.dialect.name == "postgresql":
        scopes, keys, hashes, responses, statuses = zip(*records, strict=True)
        columns = {
            "scope": scopes,
            "key": keys,
            "request_hash": hashes,
            "response": [json.dumps(body) for body in responses],
            "status_code": statuses,
            "created_at": [at] * len(records),
        }
        if writes is None:
            unnest.insert(conn, "idempotency_keys", columns)
        else:
            writes.insert("idempotency_keys", columns)
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


def reserve(conn: Connection, scope: str, key: str, rhash: str, at: datetime) -> Stored | None:
    """Take (scope, key) for a request about to run (None), or what is recorded under it already: a
    response, or a reservation (`Stored.in_progress`); a different request hash raises. The caller
    commits at once, so that concurrent requests with the key see the reservation."""
    found = find(conn, scope, key, rhash)
    if found is not None:
        return found
    row = {"scope": scope, "key": key, "request_hash": rhash, "response": {}, "status_code": IN_PROGRESS}
    inserted = conn.execute(_insert_if_absent(conn).values(**row, created_at=at).returning(_KEYS.key)).first()
    return None if inserted is not None else find(conn, scope, key, rhash)


def _insert_if_absent(conn: Connection) -> Any:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(idempotency_keys).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(idempotency_keys).on_conflict_do_nothing()


def take_over(conn: Connection, scope: str, key: str, seen: Stored, at: datetime) -> bool:
    """Take a reservation over that its request left (older than `LEASE`, as `seen`); False when
    another request took it, or it was completed or released, meanwhile."""
    params = {"of_scope": scope, "of_key": key, "in_progress": IN_PROGRESS, "seen": seen.created_at, "at": at}
    return bool(conn.execute(_TAKE_OVER, params).rowcount)


def stale(found: Stored, now: datetime) -> bool:
    """Whether a reservation is older than `LEASE`: its request died before answering."""
    return found.in_progress and found.created_at is not None and found.created_at < now - LEASE


def complete(conn: Connection, scope: str, key: str, response: dict[str, Any], status_code: int) -> None:
    """Record the response of a reserved key."""
    _COMPLETE.run(conn, {"of_scope": scope, "of_key": key, "answer": response, "answered_with": status_code})


def release(conn: Connection, scope: str, key: str) -> None:
    """Give a reservation up (its request failed): the key is free for a retry."""
    _RELEASE.run(conn, {"of_scope": scope, "of_key": key, "in_progress": IN_PROGRESS})


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
    reserved: bool = False  # the key's row exists already (`reserve`): saving completes it

    def save(self, conn: Connection, result: Any, at: Any, *, if_absent: bool = False) -> None:
        """Store the rendered result; with ``if_absent`` keep a record a concurrent request made first."""
        self.rendered = self.render(result)
        if self.reserved:
            complete(conn, self.scope, self.key, self.rendered[1], self.rendered[0])
            return
        if if_absent:
            found = find(conn, self.scope, self.key, self.request_hash)
            if found is not None:
                self.rendered = (found.status_code, found.response)
                return
        status, body = self.rendered
        store(conn, self.scope, self.key, self.request_hash, body, at, status)
