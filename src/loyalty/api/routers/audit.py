"""The audit log for admins and auditors: who changed what, when, with before/after values."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from loyalty.api.deps import CtxDep, in_query, requires
from loyalty.api.schemas import Page
from loyalty.api.security import Principal
from loyalty.domain import cursors
from loyalty.domain.errors import InvalidInput
from loyalty.services import auth as auth_service

router = APIRouter(tags=["audit"])

Auditor = Annotated[Principal, Depends(requires("audit:read"))]


class AuditOut(BaseModel):
    """One audited write."""

    id: int
    at: datetime
    actor_kind: str
    actor_id: str | None
    action: str
    entity: str
    entity_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None


@router.get("/audit", response_model=Page[AuditOut])
def list_audit(
    caller: Auditor,
    ctx: CtxDep,
    entity: Annotated[str | None, Query(max_length=40)] = None,
    entity_id: Annotated[str | None, Query(max_length=64)] = None,
    actor_id: Annotated[str | None, Query(max_length=64)] = None,
    actor_kind: Annotated[str | None, Query(pattern="^(staff|api_key|member|system)$")] = None,
    action: Annotated[str | None, Query(max_length=60)] = None,
    since: Annotated[
        datetime | None, Query(description="Entries at or after this time (with its zone).")
    ] = None,
    until: Annotated[datetime | None, Query(description="Entries before this time (with its zone).")] = None,
    cursor: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[AuditOut]:
    """Audited writes, newest first, filterable by entity, actor, action and time, with cursor
    pagination."""
    try:
        before_id = cursors.before_id(cursor)
        for name, moment in (("since", since), ("until", until)):
            if moment is not None and moment.tzinfo is None:
                raise InvalidInput.field(name, "time must carry a timezone")
    except InvalidInput as exc:
        raise in_query(exc) from exc
    rows = auth_service.audit_entries(
        ctx,
        entity=entity,
        entity_id=entity_id,
        actor_id=actor_id,
        actor_kind=actor_kind,
        action=action,
        since=since,
        until=until,
        before_id=before_id,
        limit=limit,
    )
    items = [
        AuditOut(
            **r.model_dump(exclude={"before", "after"}),
            before=r.before if isinstance(r.before, dict) else None,
            after=r.after if isinstance(r.after, dict) else None,
        )
        for r in rows
    ]
    next_cursor = cursors.id_cursor(rows[-1].id) if len(rows) == limit else None
    return Page[AuditOut](items=items, next_cursor=next_cursor)
