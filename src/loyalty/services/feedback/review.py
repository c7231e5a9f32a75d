"""The staff's side of feedback: a store's ratings newest first (low ones to follow up), and marking
one handled once its follow-up is done.

Scoped as every store read is: a caller limited to some stores (a store manager) lists and handles
their stores' feedback only; another store's rating answers 404 FEEDBACK_NOT_FOUND, as a missing one.
Handling is done once (409 FEEDBACK_ALREADY_HANDLED after), audited in its transaction with the note.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import update

from loyalty.bootstrap import Context
from loyalty.db.feedback_tables import feedback
from loyalty.domain import feedback as rules
from loyalty.domain.actors import Actor
from loyalty.domain.errors import Conflict, InvalidInput, NotFound
from loyalty.services import audit
from loyalty.services.common import read
from loyalty.services.feedback.queries import feedback_rows, one
from loyalty.services.feedback.schemas import Feedback, FeedbackPage

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def _cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    if not cursor.isascii() or not cursor.isdigit() or not 0 < len(cursor) <= 18:
        raise InvalidInput.field("cursor", "cursor is not one this listing handed out", "FILTER_INVALID")
    return int(cursor)


def list_feedback(
    ctx: Context,
    *,
    store_ids: Collection[int] | None = None,
    store_id: int | None = None,
    low: bool = False,
    handled: bool | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> FeedbackPage:
    """Feedback newest first at `store_ids` (None: every store), at `store_id` only when given; `low`:
    ratings of `LOW_RATING` or less; `handled` True/False: handled or still open. FILTER_INVALID names a
    bad `cursor` or `limit`."""
    before = _cursor(cursor)
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput.field(
            "limit", "limit must be between 1 and {max}", "FILTER_INVALID", {"max": MAX_LIMIT}
        )
    stmt = feedback_rows()
    if store_ids is not None:
        stmt = stmt.where(feedback.c.store_id.in_(sorted(store_ids)))
    if store_id is not None:
        stmt = stmt.where(feedback.c.store_id == store_id)
    if low:
        stmt = stmt.where(feedback.c.rating <= rules.LOW_RATING)
    if handled is not None:
        stmt = stmt.where(feedback.c.handled_at.is_not(None) if handled else feedback.c.handled_at.is_(None))
    if before is not None:
        stmt = stmt.where(feedback.c.id < before)
    with read(ctx) as conn:
        rows = conn.execute(stmt.order_by(feedback.c.id.desc()).limit(limit + 1)).all()
    items = [Feedback.model_validate(r._asdict()) for r in rows[:limit]]
    more = len(rows) > limit
    return FeedbackPage(items=items, next_cursor=str(items[-1].id) if more and items else None)


def _not_found(feedback_id: int) -> NotFound:
    return NotFound(
        "FEEDBACK_NOT_FOUND", "feedback {feedback_id} does not exist", {"feedback_id": feedback_id}
    )


def get_feedback(ctx: Context, feedback_id: int, *, store_ids: Collection[int] | None = None) -> Feedback:
    """One rating (FEEDBACK_NOT_FOUND when missing or at a store outside `store_ids`)."""
    with read(ctx) as conn:
        found = one(conn, feedback_id)
    if found is None or (store_ids is not None and found.store_id not in store_ids):
        raise _not_found(feedback_id)
    return found


def handle_feedback(
    ctx: Context,
    feedback_id: int,
    actor: Actor,
    *,
    note: str | None = None,
    store_ids: Collection[int] | None = None,
) -> Feedback:
    """Mark a rating handled (its follow-up done) with an optional note; FEEDBACK_INVALID names a bad
    `note`, FEEDBACK_NOT_FOUND a rating missing or outside `store_ids`, 409 FEEDBACK_ALREADY_HANDLED
    when it is. Audited as `feedback.handle`."""
    text = rules.clean_text("note", note, rules.MAX_NOTE)
    now = ctx.now()
    with ctx.engine.begin() as conn:
        found = one(conn, feedback_id)
        if found is None or (store_ids is not None and found.store_id not in store_ids):
            raise _not_found(feedback_id)
        by = f"{actor.kind}:{actor.id}"
        changed = conn.execute(
            update(feedback)
            .where(feedback.c.id == feedback_id, feedback.c.handled_at.is_(None))
            .values(handled_at=now, handled_by=by, handled_note=text)
        ).rowcount
        if changed != 1:
            raise Conflict(
                "FEEDBACK_ALREADY_HANDLED",
                "feedback {feedback_id} is already handled",
                {"feedback_id": feedback_id},
            )
        after = {"handled_at": now, "handled_by": by, "handled_note": text}
        audit.record(
            conn, actor, "feedback.handle", "feedback", feedback_id, {"handled_at": None}, after, at=now
        )
        done = one(conn, feedback_id)
        assert done is not None
        return done
