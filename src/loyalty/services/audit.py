"""Audit trail: who changed what, with before/after snapshots, written in the caller's transaction.

Writing in the same transaction as the change means an audit row exists if and only if the change does.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, insert

from loyalty.db.core_tables import audit_log
from loyalty.domain.actors import Actor


def _jsonable(value: Any) -> Any:
    def default(o: Any) -> Any:
        if isinstance(o, datetime | date):
            return o.isoformat()
        if isinstance(o, Decimal):
            return str(o)
        if isinstance(o, set | frozenset):
            return sorted(o)
        return str(o)

    if value is None:
        return None
    return json.loads(json.dumps(value, default=default))


def record(
    conn: Connection,
    actor: Actor,
    action: str,
    entity: str,
    entity_id: str | int,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    *,
    at: datetime | None = None,
) -> None:
    """Append one audit row."""
    conn.execute(
        insert(audit_log).values(
            at=at or datetime.now(UTC),
            actor_kind=actor.kind,
            actor_id=actor.id,
            action=action,
            entity=entity,
            entity_id=str(entity_id),
            before=_jsonable(before),
            after=_jsonable(after),
        )
    )
