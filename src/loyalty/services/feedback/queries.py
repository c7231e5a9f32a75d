"""The one statement every feedback read starts from: a rating with its sale's order and time and its
store, so a member's page, the staff's list and the follow-up show the same row."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from loyalty.db.core_tables import purchases, stores
from loyalty.db.feedback_tables import feedback
from loyalty.services.feedback.schemas import Feedback


def feedback_rows() -> Any:
    return select(
        feedback.c.id,
        feedback.c.purchase_id,
        feedback.c.member_id,
        feedback.c.store_id,
        stores.c.code.label("store_code"),
        stores.c.name.label("store_name"),
        stores.c.timezone.label("store_timezone"),
        purchases.c.order_id,
        purchases.c.occurred_at.label("sold_at"),
        feedback.c.staff,
        feedback.c.rating,
        feedback.c.comment,
        feedback.c.created_at,
        feedback.c.handled_at,
        feedback.c.handled_by,
        feedback.c.handled_note,
    ).select_from(
        feedback.join(purchases, purchases.c.id == feedback.c.purchase_id).join(
            stores, stores.c.id == feedback.c.store_id
        )
    )


def one(conn: Connection, feedback_id: int) -> Feedback | None:
    row = conn.execute(feedback_rows().where(feedback.c.id == feedback_id)).first()
    return None if row is None else Feedback.model_validate(row._asdict())
