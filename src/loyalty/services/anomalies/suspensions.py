"""Suspended redemptions: members whose points may not be redeemed while a fraud review stands.

A reviewer who confirms a member's flag may suspend their redemptions (`flags.review`); the
suspension holds until someone with anomalies:review lifts it. Only redemption is refused (the
member still buys, earns and returns as before). The check is :func:`refuse_if_suspended`, which
`services.points.redeem` calls in its own transaction: a redemption of a suspended member is refused
with REDEMPTION_SUSPENDED (409), whatever the entry point (API, console, CLI). This module imports
nothing heavy: the points service imports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Exists, Row, Select, bindparam, delete, exists, select
from sqlalchemy.sql.expression import ColumnElement

from loyalty.db.anomaly_tables import redemption_suspensions
from loyalty.db.core_tables import members
from loyalty.db.prepared import Prepared
from loyalty.domain.actors import Actor
from loyalty.domain.errors import Conflict, NotFound
from loyalty.services import audit
from loyalty.services.common import read

if TYPE_CHECKING:
    from loyalty.bootstrap import Context


@dataclass(frozen=True)
class Suspension:
    member_id: int
    flag_id: int | None
    suspended_at: datetime
    suspended_by: str
    note: str | None
    #: the member's registration store (what a store's staff are scoped by)
    store_id: int | None


def is_suspended(conn: Connection, member_id: int) -> bool:
    """Whether the member's redemptions are suspended, in the caller's transaction."""
    return bool(_SUSPENDED.run(conn, {"member_id": member_id}))


def suspended(member_id: ColumnElement[Any]) -> Exists:
    """Whether the member's redemptions are suspended, as one expression for a statement that reads
    it beside other things (the quote's, on every scan)."""
    return exists().where(redemption_suspensions.c.member_id == member_id)


_SUSPENDED = Prepared(
    select(redemption_suspensions.c.member_id).where(
        redemption_suspensions.c.member_id == bindparam("member_id")
    )
)


def refuse_if_suspended(conn: Connection, member_id: int) -> None:
    """REDEMPTION_SUSPENDED (Conflict) when the member's redemptions are suspended."""
    row = conn.execute(
        select(redemption_suspensions.c.suspended_at, redemption_suspensions.c.flag_id).where(
            redemption_suspensions.c.member_id == member_id
        )
    ).first()
    if row is not None:
        raise Conflict(
            "REDEMPTION_SUSPENDED",
            "member {member_id}'s redemptions are suspended pending a fraud review (since {since})",
            {"member_id": member_id, "since": row.suspended_at.date().isoformat(), "flag_id": row.flag_id},
        )


def _query() -> Select[Any]:
    return select(
        redemption_suspensions.c.member_id,
        redemption_suspensions.c.flag_id,
        redemption_suspensions.c.suspended_at,
        redemption_suspensions.c.suspended_by,
        redemption_suspensions.c.note,
        members.c.registration_store_id.label("store_id"),
    ).select_from(redemption_suspensions.join(members, members.c.id == redemption_suspensions.c.member_id))


def _suspension(r: Row[Any]) -> Suspension:
    return Suspension(
        member_id=int(r.member_id),
        flag_id=None if r.flag_id is None else int(r.flag_id),
        suspended_at=r.suspended_at,
        suspended_by=str(r.suspended_by),
        note=r.note,
        store_id=None if r.store_id is None else int(r.store_id),
    )


def suspension_of(ctx: Context, member_id: int) -> Suspension | None:
    """The member's suspension, or None when they may redeem."""
    q = _query().where(redemption_suspensions.c.member_id == member_id)
    with read(ctx) as conn:
        row = conn.execute(q).first()
    return None if row is None else _suspension(row)


def list_suspensions(ctx: Context, *, store_ids: frozenset[int] | None = None) -> list[Suspension]:
    """Every suspended member, newest first (a store's staff: their stores' members only)."""
    q = _query()
    if store_ids is not None:
        q = q.where(members.c.registration_store_id.in_(sorted(store_ids)))
    q = q.order_by(redemption_suspensions.c.suspended_at.desc(), redemption_suspensions.c.member_id)
    with read(ctx) as conn:
        return [_suspension(r) for r in conn.execute(q)]


def suspend_in(
    conn: Connection, member_id: int, *, flag_id: int | None, note: str | None, actor: Actor, at: datetime
) -> bool:
    """Suspend the member's redemptions on `conn` (audited); False when they already were."""
    exists = conn.execute(
        select(redemption_suspensions.c.member_id).where(redemption_suspensions.c.member_id == member_id)
    ).first()
    if exists is not None:
        return False
    conn.execute(
        redemption_suspensions.insert().values(
            member_id=member_id,
            flag_id=flag_id,
            suspended_at=at,
            suspended_by=f"{actor.kind}:{actor.id}",
            note=note,
        )
    )
    audit.record(
        conn,
        actor,
        "anomalies.suspend",
        "member",
        member_id,
        {"redemptions": "allowed"},
        {"redemptions": "suspended", "flag_id": flag_id, "note": note},
        at=at,
    )
    return True


def lift(ctx: Context, member_id: int, *, note: str | None, actor: Actor) -> Suspension:
    """Let the member redeem again (audited, with `note`); SUSPENSION_NOT_FOUND when they were not
    suspended. Returns the suspension lifted."""
    now = ctx.now()
    with ctx.engine.begin() as conn:
        row = conn.execute(_query().where(redemption_suspensions.c.member_id == member_id)).first()
        if row is None:
            raise NotFound(
                "SUSPENSION_NOT_FOUND",
                "member {member_id}'s redemptions are not suspended",
                {"member_id": member_id},
            )
        lifted = _suspension(row)
        conn.execute(delete(redemption_suspensions).where(redemption_suspensions.c.member_id == member_id))
        audit.record(
            conn,
            actor,
            "anomalies.lift",
            "member",
            member_id,
            {"redemptions": "suspended", "flag_id": lifted.flag_id},
            {"redemptions": "allowed", "note": note},
            at=now,
        )
    return lifted
