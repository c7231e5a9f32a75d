"""Idempotency-Key handling inside the same transaction as the effect.

Storing the key and the response in the effect's transaction means a crash leaves either both or
neither, so a retry after a crash either replays or performs the effect exactly once.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert, select

from loyalty.db.core_tables import idempotency_keys
from loyalty.domain.errors import IdempotencyMismatch


def lookup(conn: Connection, scope: str, key: str, rhash: str) -> dict[str, Any] | None:
    """The stored response for (scope, key), None if unseen; a different body raises."""
    row = conn.execute(
        select(idempotency_keys.c.request_hash, idempotency_keys.c.response).where(
            idempotency_keys.c.scope == scope, idempotency_keys.c.key == key
        )
    ).first()
    if row is None:
        return None
    if row.request_hash != rhash:
        raise IdempotencyMismatch(
            "IDEMPOTENCY_MISMATCH", f"Idempotency-Key {key!r} was used with a different request"
        )
    return dict(row.response)


def store(
    conn: Connection,
    scope: str,
    key: str,
    rhash: str,
    response: dict[str, Any],
    at: Any,
    status_code: int = 200,
) -> None:
    conn.execute(
        insert(idempotency_keys).values(
            scope=scope,
            key=key,
            request_hash=rhash,
            response=response,
            status_code=status_code,
            created_at=at,
        )
    )
