"""Audit trail: who changed what, with before/after snapshots, written in the caller's transaction.

Writing in the same transaction as the change means an audit row exists if and only if the change does.
Every write of the API and the CLI records one, whoever the actor (staff, a POS key, a member, the
system): purchases, returns and redemptions included. Where many writes share a transaction the
rows go with them set-based: the set-based POS batches add them to their one statement (`row`,
`columns`), the SQLite group commit gathers them (`deferred`) and writes them in one statement before
it commits, and an import records one row per batch it commits (its counts), not one per line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, insert

from loyalty.db import unnest
from loyalty.db.core_tables import audit_log
from loyalty.db.prepared import Prepared
from loyalty.domain.actors import Actor

_INSERT = Prepared(insert(audit_log))
#: `Connection.info` key of the rows a shared transaction gathers (`deferred`)
_GATHERED = "loyalty.audit.gathered"


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
    if (
        type(value) is dict
        and set(map(type, value)) <= {str}
        and set(map(type, value.values())) <= _JSON_SCALARS
    ):
        return dict(value)  # what the round trip through JSON would give (a sale's: every POS sale)
    return json.loads(json.dumps(value, default=default))


_JSON_SCALARS = frozenset({str, int, bool, type(None)})


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
    """Append one audit row (inside `deferred`: gathered, written with the others before the commit)."""
    values = row(actor, action, entity, entity_id, before, after, at=at)
    gathered: list[dict[str, Any]] | None = conn.info.get(_GATHERED)
    if gathered is not None:
        gathered.append(values)
    else:
        _INSERT.run(conn, values)


def row(
    actor: Actor,
    action: str,
    entity: str,
    entity_id: str | int,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    *,
    at: datetime | None = None,
) -> dict[str, Any]:
    """One audit row's values, as `record` writes them (for a caller that writes many at once)."""
    return {
        "at": at or datetime.now(UTC),
        "actor_kind": actor.kind,
        "actor_id": actor.id,
        "action": action,
        "entity": entity,
        "entity_id": str(entity_id),
        "before": _jsonable(before),
        "after": _jsonable(after),
    }


def record_many(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Write `rows` (`row`'s values) in one statement: one `unnest` insert on PostgreSQL, one
    executemany on SQLite."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        unnest.insert(conn, "audit_log", columns(rows))
    else:
        _INSERT.run_many(conn, rows)


def columns(rows: Sequence[dict[str, Any]]) -> dict[str, Sequence[Any]]:
    """`rows` column by column, as `db.unnest` writes them (JSON as its text, times as they are)."""
    return {
        name: [
            json.dumps(values[name]) if name in _JSON and values[name] is not None else values[name]
            for values in rows
        ]
        for name in _COLUMNS
    }


_COLUMNS = ("at", "actor_kind", "actor_id", "action", "entity", "entity_id", "before", "after")
_JSON = frozenset({"before", "after"})


@contextmanager
def deferred(conn: Connection) -> Iterator[None]:
    """Gather the audit rows `record` is given on `conn` in the block, and write them in one statement
    at its end, inside the transaction (the caller commits). For a transaction many writes share,
    each in a savepoint (the API's group commit on SQLite); see `undone_with`."""
    gathered: list[dict[str, Any]] = []
    conn.info[_GATHERED] = gathered
    try:
        yield
    finally:
        conn.info.pop(_GATHERED, None)
    record_many(conn, gathered)


@contextmanager
def undone_with(conn: Connection) -> Iterator[None]:
    """A block whose writes are undone if it raises (a savepoint): the audit rows it gathered under
    `deferred` are dropped with them."""
    gathered: list[dict[str, Any]] | None = conn.info.get(_GATHERED)
    mark = len(gathered) if gathered is not None else 0
    try:
        yield
    except BaseException:
        if gathered is not None:
            del gathered[mark:]
        raise


def sale(result: Any) -> tuple[str, str, int, None, dict[str, Any]]:
    """(action, entity, id, before, after) of a posted sale (`PurchaseResult`), for `record`."""
    after = sale_after(
        result.store_id,
        result.order_id,
        result.member_id,
        result.total_minor,
        result.points_earned,
        result.channel,
    )
    return SALE_ACTION, "purchase", int(result.purchase_id), None, after


#: the action of a sale posted by the API or the CLI
SALE_ACTION = "purchase.post"


def sale_after(
    store_id: int, order_id: str, member_id: int | None, total_minor: int, points_earned: int, channel: str
) -> dict[str, Any]:
    """What the audit log keeps of a posted sale (the set-based batches write the same)."""
    return {
        "store_id": store_id,
        "order_id": order_id,
        "member_id": member_id,
        "total_minor": total_minor,
        "points_earned": points_earned,
        "channel": channel,
    }
