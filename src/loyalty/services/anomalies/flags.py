"""The review queue: flags listed and filtered, one flag, and its review (approve or reject), audited.

A store's staff (`store_ids` given) see the flags of their stores' members only (a member belongs to
the store they registered at); staff flags, about the staff's own manual adjustments, are for
chain-wide reviewers. A flag outside the caller's stores does not exist for them (NotFound, as a
member of another store). A review is final: approving confirms the fraud and may suspend the
member's redemptions in the same transaction; rejecting records a false alarm; either way the flag
leaves the queue, the reviewer, time and note are kept on it and in the audit log, and a later scan
does not raise it again for the days it covered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import ColumnElement, Row, Select, and_, func, select, update

from loyalty.db.anomaly_tables import FLAG_STATUSES, anomaly_flags, redemption_suspensions
from loyalty.db.auth_tables import staff_users
from loyalty.db.core_tables import members
from loyalty.domain.actors import Actor
from loyalty.domain.errors import Conflict, InvalidInput, NotFound
from loyalty.services import audit
from loyalty.services.anomalies.suspensions import suspend_in
from loyalty.services.common import read

if TYPE_CHECKING:
    from loyalty.bootstrap import Context

Decision = Literal["approve", "reject"]
DECISIONS: dict[str, str] = {"approve": "approved", "reject": "rejected"}
SORTS = ("score", "newest")
MAX_NOTE = 1000
MAX_LIMIT = 500


@dataclass(frozen=True)
class Flag:
    """One flag as the queue shows it."""

    id: int
    subject_kind: str
    subject: str
    member_id: int | None
    operator: str | None
    kind: str
    period_start: date
    period_end: date
    score: float
    reason_code: str
    params: dict[str, Any]
    status: str
    created_at: datetime
    updated_at: datetime
    reviewed_by: str | None
    reviewer_name: str | None
    reviewed_at: datetime | None
    note: str | None
    suspended: bool
    #: the member's registration store
    store_id: int | None
    #: whether the member's redemptions are suspended now (whichever flag did it)
    member_suspended: bool
    #: the staff operator as people know them (the username of "staff:7"), else the operator
    operator_name: str | None

    def reason(self, locale: str) -> str:
        """Why it was flagged, with its figures, in `locale`."""
        from loyalty.analytics.anomalies import reason

        return reason(self.reason_code, self.params, locale, self.operator_name)

    def kind_name(self, locale: str) -> str:
        from loyalty.analytics.anomalies import kind_name

        return kind_name(self.kind, locale)

    def as_dict(self, locale: str) -> dict[str, Any]:
        """The flag as plain data, its reason in `locale` (the CLI's JSON)."""
        return {
            "id": self.id,
            "subject_kind": self.subject_kind,
            "member_id": self.member_id,
            "operator": self.operator,
            "operator_name": self.operator_name,
            "store_id": self.store_id,
            "kind": self.kind,
            "kind_name": self.kind_name(locale),
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "score": self.score,
            "reason_code": self.reason_code,
            "reason": self.reason(locale),
            "figures": self.params,
            "status": self.status,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "reviewed_by": self.reviewer_name or self.reviewed_by,
            "reviewed_at": self.reviewed_at.isoformat() if self.reviewed_at else None,
            "note": self.note,
            "suspended": self.suspended,
            "member_suspended": self.member_suspended,
        }


@dataclass(frozen=True)
class FlagFilter:
    """Which flags to list; None leaves a criterion out. The period matches flags overlapping it."""

    status: str | None = "open"
    kind: str | None = None
    subject_kind: str | None = None
    member_id: int | None = None
    store_id: int | None = None
    start: date | None = None
    end: date | None = None
    min_score: float | None = None


@dataclass(frozen=True)
class FlagPage:
    items: list[Flag]
    total: int


def _query() -> Select[Any]:
    suspended = (
        select(redemption_suspensions.c.member_id)
        .where(redemption_suspensions.c.member_id == anomaly_flags.c.member_id)
        .exists()
    )
    return select(
        anomaly_flags,
        members.c.registration_store_id.label("store_id"),
        suspended.label("member_suspended"),
    ).select_from(anomaly_flags.outerjoin(members, members.c.id == anomaly_flags.c.member_id))


def _scope(store_ids: frozenset[int] | None) -> ColumnElement[bool] | None:
    if store_ids is None:
        return None
    return and_(
        anomaly_flags.c.subject_kind == "member",
        members.c.registration_store_id.in_(sorted(store_ids)),
    )


def _names(ctx: Context, rows: list[Row[Any]]) -> dict[str, str]:
    """Usernames of the staff operators ("staff:7" → "li.wei") among `rows`."""
    ids = {
        int(r.operator.split(":", 1)[1])
        for r in rows
        if r.operator and r.operator.startswith("staff:") and r.operator.split(":", 1)[1].isdigit()
    }
    if not ids:
        return {}
    with read(ctx) as conn:
        found = conn.execute(
            select(staff_users.c.id, staff_users.c.username).where(staff_users.c.id.in_(ids))
        )
        return {f"staff:{r.id}": str(r.username) for r in found}


def _flag(r: Row[Any], names: dict[str, str]) -> Flag:
    return Flag(
        id=int(r.id),
        subject_kind=str(r.subject_kind),
        subject=str(r.subject),
        member_id=None if r.member_id is None else int(r.member_id),
        operator=r.operator,
        kind=str(r.kind),
        period_start=r.period_start,
        period_end=r.period_end,
        score=float(r.score),
        reason_code=str(r.reason_code),
        params=dict(r.params or {}),
        status=str(r.status),
        created_at=r.created_at,
        updated_at=r.updated_at,
        reviewed_by=r.reviewed_by,
        reviewer_name=r.reviewer_name,
        reviewed_at=r.reviewed_at,
        note=r.note,
        suspended=bool(r.suspended),
        store_id=None if r.store_id is None else int(r.store_id),
        member_suspended=bool(r.member_suspended),
        operator_name=names.get(r.operator, r.operator) if r.operator else None,
    )


def _check(flt: FlagFilter, sort: str, limit: int, offset: int) -> None:
    from loyalty.analytics.anomalies import RULE_CODES

    def bad(field: str, message: str, values: dict[str, Any] | None = None) -> InvalidInput:
        return InvalidInput.field(field, message, "FILTER_INVALID", values)

    if flt.status is not None and flt.status not in FLAG_STATUSES:
        raise bad("status", "status must be one of {choices}", {"choices": ", ".join(FLAG_STATUSES)})
    if flt.kind is not None and flt.kind not in RULE_CODES:
        raise bad("kind", "kind must be one of {choices}", {"choices": ", ".join(RULE_CODES)})
    if flt.subject_kind is not None and flt.subject_kind not in ("member", "staff"):
        raise bad("subject", "subject must be member or staff")
    if flt.start and flt.end and flt.start > flt.end:
        raise bad("from", "the period must not end before it starts")
    if sort not in SORTS:
        raise bad("sort", "sort must be one of {choices}", {"choices": ", ".join(SORTS)})
    if not 1 <= limit <= MAX_LIMIT:
        raise bad("limit", "limit must be between 1 and {max}", {"max": MAX_LIMIT})
    if offset < 0:
        raise bad("offset", "offset must not be negative")


def list_flags(
    ctx: Context,
    flt: FlagFilter | None = None,
    *,
    store_ids: frozenset[int] | None = None,
    sort: str = "score",
    limit: int = 50,
    offset: int = 0,
) -> FlagPage:
    """The flags that pass `flt`, highest score first (or newest), a page of them and how many in all."""
    flt = flt or FlagFilter()
    _check(flt, sort, limit, offset)
    where: list[ColumnElement[bool]] = []
    scope = _scope(store_ids)
    if scope is not None:
        where.append(scope)
    if flt.status is not None:
        where.append(anomaly_flags.c.status == flt.status)
    if flt.kind is not None:
        where.append(anomaly_flags.c.kind == flt.kind)
    if flt.subject_kind is not None:
        where.append(anomaly_flags.c.subject_kind == flt.subject_kind)
    if flt.member_id is not None:
        where.append(anomaly_flags.c.member_id == flt.member_id)
    if flt.store_id is not None:
        where.append(members.c.registration_store_id == flt.store_id)
    if flt.start is not None:
        where.append(anomaly_flags.c.period_end >= flt.start)
    if flt.end is not None:
        where.append(anomaly_flags.c.period_start <= flt.end)
    if flt.min_score is not None:
        where.append(anomaly_flags.c.score >= flt.min_score)
    order = (
        (anomaly_flags.c.score.desc(), anomaly_flags.c.id.desc())
        if sort == "score"
        else (anomaly_flags.c.id.desc(),)
    )
    q = _query().where(*where).order_by(*order).limit(limit).offset(offset)
    counted = (
        select(func.count())
        .select_from(anomaly_flags.outerjoin(members, members.c.id == anomaly_flags.c.member_id))
        .where(*where)
    )
    with read(ctx) as conn:
        rows = list(conn.execute(q))
        total = int(conn.execute(counted).scalar_one())
    names = _names(ctx, rows)
    return FlagPage([_flag(r, names) for r in rows], total)


def _not_found(flag_id: int) -> NotFound:
    return NotFound("ANOMALY_FLAG_NOT_FOUND", "anomaly flag {flag_id} does not exist", {"flag_id": flag_id})


def get_flag(ctx: Context, flag_id: int, *, store_ids: frozenset[int] | None = None) -> Flag:
    """One flag; ANOMALY_FLAG_NOT_FOUND when there is none, or it is outside the caller's stores."""
    q = _query().where(anomaly_flags.c.id == flag_id)
    scope = _scope(store_ids)
    if scope is not None:
        q = q.where(scope)
    with read(ctx) as conn:
        row = conn.execute(q).first()
    if row is None:
        raise _not_found(flag_id)
    return _flag(row, _names(ctx, [row]))


def review(
    ctx: Context,
    flag_id: int,
    decision: str,
    *,
    actor: Actor,
    reviewer_name: str | None = None,
    note: str | None = None,
    suspend: bool = False,
) -> Flag:
    """Approve (confirm the fraud; with `suspend`, the member's redemptions are suspended too) or
    reject (a false alarm) an open flag, audited, in one transaction.

    ANOMALY_REVIEW_INVALID names a bad decision, a note too long, or `suspend` asked of a rejection or
    of a staff flag; ANOMALY_FLAG_REVIEWED (409) when the flag was reviewed already.
    """
    status = DECISIONS.get(decision)
    if status is None:
        raise InvalidInput.field("decision", "decision must be approve or reject", "ANOMALY_REVIEW_INVALID")
    note = (note or "").strip() or None
    if note is not None and len(note) > MAX_NOTE:
        raise InvalidInput.field(
            "note", "a note has at most {max} characters", "ANOMALY_REVIEW_INVALID", {"max": MAX_NOTE}
        )
    now = ctx.now()
    with ctx.engine.begin() as conn:
        row = conn.execute(
            select(anomaly_flags.c.status, anomaly_flags.c.subject_kind, anomaly_flags.c.member_id).where(
                anomaly_flags.c.id == flag_id
            )
        ).first()
        if row is None:
            raise _not_found(flag_id)
        if suspend and (status != "approved" or row.subject_kind != "member"):
            raise InvalidInput.field(
                "suspend",
                "only a confirmed flag about a member can suspend redemptions",
                "ANOMALY_REVIEW_INVALID",
            )
        done = conn.execute(
            update(anomaly_flags)
            .where(anomaly_flags.c.id == flag_id, anomaly_flags.c.status == "open")
            .values(
                status=status,
                reviewed_by=f"{actor.kind}:{actor.id}",
                reviewer_name=reviewer_name,
                reviewed_at=now,
                note=note,
                suspended=suspend,
            )
        )
        if done.rowcount != 1:
            raise Conflict(
                "ANOMALY_FLAG_REVIEWED",
                "anomaly flag {flag_id} was already reviewed ({status})",
                {"flag_id": flag_id, "status": row.status},
            )
        audit.record(
            conn,
            actor,
            "anomalies.review",
            "anomaly_flag",
            flag_id,
            {"status": "open"},
            {"status": status, "note": note, "suspend": suspend},
            at=now,
        )
        if suspend:
            suspend_in(conn, int(row.member_id), flag_id=flag_id, note=note, actor=actor, at=now)
    return get_flag(ctx, flag_id)


def open_counts(ctx: Context, *, store_ids: frozenset[int] | None = None) -> dict[str, int]:
    """Open flags per kind (for a dashboard's link)."""
    q = (
        select(anomaly_flags.c.kind, func.count())
        .select_from(anomaly_flags.outerjoin(members, members.c.id == anomaly_flags.c.member_id))
        .where(anomaly_flags.c.status == "open")
        .group_by(anomaly_flags.c.kind)
    )
    scope = _scope(store_ids)
    if scope is not None:
        q = q.where(scope)
    with read(ctx) as conn:
        return {str(k): int(n) for k, n in conn.execute(q)}


__all__ = [
    "DECISIONS",
    "SORTS",
    "Decision",
    "Flag",
    "FlagFilter",
    "FlagPage",
    "get_flag",
    "list_flags",
    "open_counts",
    "review",
]
