"""The rules of a member's feedback on a purchase, without I/O: who may rate what, when, and how.

A member rates a purchase of their own, once, from 1 (very unhappy) to 5 (very happy), within
`RATING_WINDOW_DAYS` of the sale: late enough to have used what they bought, early enough that the
store can still put things right. A comment is optional and bounded. Ratings of `LOW_RATING` or less
are the ones a store manager follows up (and marks handled); ratings of `SATISFIED_FROM` or more
count as satisfied in the CSAT share (the usual "top two boxes" of a five-point scale).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from loyalty.domain.errors import InvalidInput
from loyalty.domain.text import control_error

MIN_RATING = 1
MAX_RATING = 5
#: a rating this low or lower is followed up by the store
LOW_RATING = 2
#: a rating this high or higher counts as satisfied (CSAT: the share of 4s and 5s)
SATISFIED_FROM = 4
#: how long after the sale it may be rated
RATING_WINDOW_DAYS = 30
#: the longest comment and the longest note staff write when handling it (the columns' lengths)
MAX_COMMENT = 500
MAX_NOTE = 500


def check_rating(rating: int) -> None:
    """FEEDBACK_INVALID naming `rating` unless it is a whole number from 1 to 5."""
    if isinstance(rating, bool) or not isinstance(rating, int) or not MIN_RATING <= rating <= MAX_RATING:
        raise InvalidInput.field(
            "rating",
            "rating must be a whole number from {min} to {max}",
            "FEEDBACK_INVALID",
            {"min": MIN_RATING, "max": MAX_RATING},
        )


def clean_text(field: str, text: str | None, longest: int) -> str | None:
    """`text` trimmed (None when empty), or FEEDBACK_INVALID naming `field` when it is longer than
    `longest` characters or holds a control character."""
    if text is None:
        return None
    text = text.strip()
    if not text:
        return None
    if len(text) > longest:
        raise InvalidInput.field(
            field, "{field} is at most {max} characters", "FEEDBACK_INVALID", {"field": field, "max": longest}
        )
    error = control_error(field, text)
    if error is not None:
        raise InvalidInput("FEEDBACK_INVALID", error["message"], {"errors": [error]})
    return text


def window_open(sold_at: datetime, now: datetime, days: int = RATING_WINDOW_DAYS) -> bool:
    """Whether a sale made at `sold_at` may still be rated at `now`."""
    return now - sold_at <= timedelta(days=days)


def is_low(rating: int) -> bool:
    return rating <= LOW_RATING


def is_satisfied(rating: int) -> bool:
    return rating >= SATISFIED_FROM
