"""A member rates one of their purchases (`rate_purchase`), and reads back their ratings.

One transaction: the sale is read as the member's (another member's sale, an anonymous one and a
missing one all answer the same 404 PURCHASE_NOT_FOUND, so ids cannot be probed), checked (not fully
returned, still within the rating window, not rated yet), the rating written with the sale's store and
staff code, and the write audited as the member's own. A second rating of the same purchase is a 409
FEEDBACK_EXISTS naming it, never a silent overwrite: the first answer is the one the store may already
have followed up. The unique `purchase_id` is the backstop when two ratings race.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError

from loyalty.bootstrap import Context
from loyalty.db.core_tables import purchase_lines, purchases
from loyalty.db.feedback_tables import feedback
from loyalty.domain import feedback as rules
from loyalty.domain.actors import Actor
from loyalty.domain.errors import Conflict, NotFound
from loyalty.services import audit
from loyalty.services.common import read
from loyalty.services.feedback.queries import feedback_rows, one
from loyalty.services.feedback.schemas import Feedback


def _not_found(member_id: int, purchase_id: int) -> NotFound:
    # the same answer as `purchase_history.member_purchase` for a receipt that is not the member's
    return NotFound(
        "PURCHASE_NOT_FOUND",
        "member {member_id} has no purchase {purchase_id}",
        {"member_id": member_id, "purchase_id": purchase_id},
    )


def _exists(purchase_id: int) -> Conflict:
    return Conflict(
        "FEEDBACK_EXISTS", "purchase {purchase_id} is already rated", {"purchase_id": purchase_id}
    )


def fully_returned(conn: Connection, purchase_id: int, total_minor: int, refunded_minor: int) -> bool:
    """Whether every unit of the sale is back, or all its money (as `posting.returns` decides)."""
    if 0 < total_minor <= refunded_minor:
        return True
    lines = conn.execute(
        select(purchase_lines.c.quantity, purchase_lines.c.returned_quantity).where(
            purchase_lines.c.purchase_id == purchase_id
        )
    ).all()
    return bool(lines) and all(back >= quantity for quantity, back in lines)


def rate_purchase(
    ctx: Context,
    member_id: int,
    purchase_id: int,
    rating: int,
    comment: str | None = None,
    *,
    actor: Actor | None = None,
) -> Feedback:
    """Member `member_id`'s rating of their purchase `purchase_id` (1–5, optional comment).

    FEEDBACK_INVALID names `rating` or `comment`; PURCHASE_NOT_FOUND when the purchase is not theirs;
    409 PURCHASE_RETURNED for a fully returned sale, FEEDBACK_WINDOW_CLOSED past the window,
    FEEDBACK_EXISTS when it is rated already. Audited as `feedback.rate` (by the member by default).
    """
    rules.check_rating(rating)
    text = rules.clean_text("comment", comment, rules.MAX_COMMENT)
    who = actor or Actor(kind="member", id=str(member_id), role="member")
    now = ctx.now()
    try:
        with ctx.engine.begin() as conn:
            sale = conn.execute(
                select(
                    purchases.c.id,
                    purchases.c.store_id,
                    purchases.c.staff,
                    purchases.c.occurred_at,
                    purchases.c.total_minor,
                    purchases.c.refunded_minor,
                ).where(purchases.c.id == purchase_id, purchases.c.member_id == member_id)
            ).first()
            if sale is None:
                raise _not_found(member_id, purchase_id)
            if conn.execute(select(feedback.c.id).where(feedback.c.purchase_id == purchase_id)).first():
                raise _exists(purchase_id)
            if fully_returned(conn, purchase_id, sale.total_minor, sale.refunded_minor):
                raise Conflict(
                    "PURCHASE_RETURNED",
                    "purchase {purchase_id} was returned; there is nothing left to rate",
                    {"purchase_id": purchase_id},
                )
            if not rules.window_open(sale.occurred_at, now):
                raise Conflict(
                    "FEEDBACK_WINDOW_CLOSED",
                    "purchase {purchase_id} may be rated within {days} days of the sale",
                    {"purchase_id": purchase_id, "days": rules.RATING_WINDOW_DAYS},
                )
            values = {
                "purchase_id": purchase_id,
                "member_id": member_id,
                "store_id": sale.store_id,
                "staff": sale.staff,
                "sold_at": sale.occurred_at,
                "rating": rating,
                "comment": text,
                "created_at": now,
            }
            new_id = int(
                conn.execute(insert(feedback).values(**values).returning(feedback.c.id)).scalar_one()
            )
            audit.record(conn, who, "feedback.rate", "feedback", new_id, None, values, at=now)
            made = one(conn, new_id)
            assert made is not None
            return made
    except IntegrityError as exc:  # a rating of the same purchase committed in between
        raise _exists(purchase_id) from exc


def member_ratings(ctx: Context, member_id: int, purchase_ids: Collection[int]) -> dict[int, Feedback]:
    """The member's ratings of the given purchases, by purchase id (those not rated are absent)."""
    if not purchase_ids:
        return {}
    with read(ctx) as conn:
        rows = conn.execute(
            feedback_rows().where(
                feedback.c.member_id == member_id, feedback.c.purchase_id.in_(list(purchase_ids))
            )
        )
        return {r.purchase_id: Feedback.model_validate(r._asdict()) for r in rows}
