"""Erasing a member's personal data (PIPL art. 47, GDPR art. 17), keeping the books.

The person goes; the bookkeeping stays. In one transaction, for the member and every duplicate
record merged into them (the same person):

* the record is anonymised, not deleted: name, phone, email, birthday, gender, tags and marketing
  consent are cleared, the card number and member code are replaced by fresh ones (the old card and
  QR code no longer find anyone), `erased_at` is set and an active member becomes inactive. The
  phone column holds `erased:<id>`, which can never be a number, so the old phone is free for a new
  registration, and a search, a look-up or the portal's sign-in code for it answer as for anyone
  who was never a member;
* what would still name or reach the person is deleted: self-service tokens, sign-in codes (and
  the codes asked for with the old phone), the local outbox's messages to the old phone or email,
  the analytics scores, clusters, churn scores and recommendations (profiling), and the stored replies of
  idempotent requests that carried the member's record (a registration's answer holds the phone and
  name);
* the audit log keeps every action, who did it and when, but the personal values in its earlier
  snapshots of these records are blanked; the erasure's own entry lists the records and how much was
  removed, never the data itself;
* purchases, their lines and returns, the points ledger (transfers, postings, lots) and the tier
  history stay as they are, attached to the anonymised record: the books still balance and the
  chain's figures do not change.

Irreversible, so the caller must type the member's card number as confirmation (`confirm`): a
slip of the id, or a form left open on another member, erases nobody.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, Text, cast, delete, or_, select, update

from loyalty.bootstrap import Context
from loyalty.db.analytics_tables import member_score_history, member_scores
from loyalty.db.auth_tables import member_otps, member_tokens, outbox
from loyalty.db.churn_tables import member_churn
from loyalty.db.cluster_tables import member_clusters
from loyalty.db.core_tables import audit_log, idempotency_keys, members
from loyalty.db.recommendation_tables import member_recommendations
from loyalty.domain import cards
from loyalty.domain.actors import SYSTEM, Actor
from loyalty.domain.errors import InvalidInput, NotFound
from loyalty.services import audit
from loyalty.services.feedback.privacy import forget_comments
from loyalty.services.members import erased

#: the phone column of an erased record: `erased:` and its id (never a phone number, always unique)
ERASED_PHONE_PREFIX = "erased:"
#: the audit log's action for an erasure
ACTION = "member.erase"
#: the personal fields of a member snapshot in the audit log, blanked by an erasure
PERSONAL_FIELDS = ("phone", "name", "email", "birthday", "gender", "tags", "card_no", "member_code")
_SEPARATORS = re.compile(cards.CARD_SEPARATORS)


class ErasureResult(BaseModel):
    """What an erasure did: the records anonymised and how much else was removed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    member_id: int
    #: the member and the duplicate records merged into them
    erased_ids: list[int]
    erased_at: datetime
    tokens_deleted: int
    codes_deleted: int
    messages_deleted: int
    scores_deleted: int
    requests_forgotten: int
    audit_entries_blanked: int


def erase_member(ctx: Context, member_id: int, *, confirm: str, actor: Actor | None = None) -> ErasureResult:
    """Erase member `member_id`'s personal data (see the module); `confirm` must be their card number.

    MEMBER_NOT_FOUND for no such member, MEMBER_ERASED when erased already, ERASURE_NOT_CONFIRMED
    (field `confirm`) when `confirm` is not the member's card number; nothing is changed then.
    """
    now = ctx.now()
    with ctx.engine.begin() as conn:
        row = conn.execute(
            select(members.c.card_no, members.c.erased_at).where(members.c.id == member_id).with_for_update()
        ).first()
        if row is None:
            raise NotFound("MEMBER_NOT_FOUND", "member {member_id} does not exist", {"member_id": member_id})
        if row.erased_at is not None:
            raise erased(member_id)
        if _SEPARATORS.sub("", confirm or "") != row.card_no:
            raise InvalidInput.field(
                "confirm",
                "type the member's card number to confirm the erasure",
                "ERASURE_NOT_CONFIRMED",
            )
        ids = _with_merged(conn, member_id)
        records = conn.execute(
            select(
                members.c.id,
                members.c.phone,
                members.c.email,
                members.c.member_code,
                members.c.status,
                members.c.merged_into_id,
            )
            .where(members.c.id.in_(ids), members.c.erased_at.is_(None))
            .with_for_update()
        ).all()
        phones = [r.phone for r in records if not r.phone.startswith(ERASED_PHONE_PREFIX)]
        emails = [r.email for r in records if r.email]
        codes = [r.member_code for r in records]
        blanked = _blank_audit(conn, ids, [r.merged_into_id for r in records if r.merged_into_id])
        for r in records:
            conn.execute(update(members).where(members.c.id == r.id).values(**_anonymised(r, now)))
        forget_comments(conn, ids)  # their words about their purchases (`services.feedback.privacy`)
        result = ErasureResult(
            member_id=member_id,
            erased_ids=ids,
            erased_at=now,
            tokens_deleted=_deleted(conn, delete(member_tokens).where(member_tokens.c.member_id.in_(ids))),
            codes_deleted=_deleted(
                conn,
                delete(member_otps).where(
                    or_(member_otps.c.member_id.in_(ids), member_otps.c.phone.in_(phones))
                ),
            ),
            messages_deleted=_deleted(conn, delete(outbox).where(outbox.c.recipient.in_(phones + emails))),
            scores_deleted=_deleted(conn, delete(member_scores).where(member_scores.c.member_id.in_(ids)))
            + _deleted(conn, delete(member_score_history).where(member_score_history.c.member_id.in_(ids)))
            + _deleted(conn, delete(member_clusters).where(member_clusters.c.member_id.in_(ids)))
            + _deleted(conn, delete(member_churn).where(member_churn.c.member_id.in_(ids)))
            + _deleted(
                conn, delete(member_recommendations).where(member_recommendations.c.member_id.in_(ids))
            ),
            requests_forgotten=_forget_requests(conn, codes + phones),
            audit_entries_blanked=blanked,
        )
        audit.record(
            conn,
            actor or SYSTEM,
            ACTION,
            "member",
            member_id,
            None,
            result.model_dump(exclude={"member_id", "erased_at"}),
            at=now,
        )
    return result


def _with_merged(conn: Connection, member_id: int) -> list[int]:
    """The member and every record merged into them, directly or through one another."""
    found = [member_id]
    frontier = [member_id]
    while frontier:
        frontier = [
            int(i)
            for i in conn.execute(
                select(members.c.id).where(members.c.merged_into_id.in_(frontier))
            ).scalars()
        ]
        found += frontier
    return found


def _anonymised(record: Any, now: datetime) -> dict[str, Any]:
    return {
        "phone": f"{ERASED_PHONE_PREFIX}{record.id}",
        "name": "",
        "email": None,
        "birthday": None,
        "gender": None,
        "tags": [],
        "marketing_consent": False,
        "card_no": cards.new_card_number(),
        "member_code": cards.new_member_code(),
        "tier_lock_reason": None,
        "status": "merged" if record.status == "merged" else "inactive",
        "erased_at": now,
        "updated_at": now,
    }


def _deleted(conn: Connection, statement: Any) -> int:
    return int(conn.execute(statement).rowcount or 0)


def _forget_requests(conn: Connection, needles: Sequence[str]) -> int:
    """Delete the stored replies of idempotent requests that hold one of the member codes or phones
    (a registration's or a profile change's answer is the member's record). A retry of such a
    request is then treated as new; an erased member's request has nothing left to repeat."""
    if not needles:
        return 0
    text = cast(idempotency_keys.c.response, Text)
    return _deleted(conn, delete(idempotency_keys).where(or_(*(text.contains(n) for n in needles))))


def _blank_audit(conn: Connection, ids: list[int], survivors: list[int]) -> int:
    """Blank the personal values in the audit log's snapshots of these records: the rows about
    them, and the merges that took one of them into another member (kept under the survivor)."""
    entity_ids = sorted({str(i) for i in ids} | {str(i) for i in survivors})
    rows = conn.execute(
        select(audit_log.c.id, audit_log.c.before, audit_log.c.after).where(
            audit_log.c.entity == "member", audit_log.c.entity_id.in_(entity_ids)
        )
    ).all()
    wanted = set(ids)
    changed = 0
    for row in rows:
        before, after = _blanked(row.before, wanted), _blanked(row.after, wanted)
        if before != row.before or after != row.after:
            conn.execute(update(audit_log).where(audit_log.c.id == row.id).values(before=before, after=after))
            changed += 1
    return changed


def _blanked(value: Any, ids: set[int]) -> Any:
    """`value` (a snapshot's JSON) with the personal fields of any record of `ids` in it set to None."""
    if isinstance(value, list):
        return [_blanked(v, ids) for v in value]
    if not isinstance(value, dict):
        return value
    mine = value.get("id") in ids
    return {k: None if mine and k in PERSONAL_FIELDS else _blanked(v, ids) for k, v in value.items()}
