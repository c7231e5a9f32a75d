"""What the feedback services hand back: a rating with its sale and its follow-up, and a page of them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from loyalty.domain.feedback import is_low


class Feedback(BaseModel):
    """A member's rating of one of their purchases, the sale it is about, and its follow-up."""

    model_config = ConfigDict(frozen=True)

    id: int
    purchase_id: int
    member_id: int
    store_id: int
    store_code: str
    store_name: str
    store_timezone: str
    #: the sale: its order id, when it was made, and who rang it (`purchases.staff`)
    order_id: str
    sold_at: datetime
    staff: str | None
    rating: int
    comment: str | None
    created_at: datetime
    handled_at: datetime | None
    #: who handled it ("staff:12") and their note
    handled_by: str | None
    handled_note: str | None

    @property
    def low(self) -> bool:
        """A rating the store follows up (`domain.feedback.LOW_RATING` or less)."""
        return is_low(self.rating)


class FeedbackPage(BaseModel):
    """Feedback newest first; `next_cursor` fetches the following page (None: no more)."""

    model_config = ConfigDict(frozen=True)

    items: list[Feedback]
    next_cursor: str | None
