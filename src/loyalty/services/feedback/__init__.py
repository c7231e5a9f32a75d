"""Members' feedback on their purchases (issue #26's satisfaction): a member rates a purchase of
their own once, 1 to 5 with an optional comment (`rating`); staff list their stores' feedback, low
ratings first to follow up, and mark it handled (`review`). The satisfaction KPI is counted from the
same table by `services.kpis.satisfaction`. Read by the API (`/api/v1/me/purchases/{id}/feedback`,
`/api/v1/feedback`), the CLI (`loyalty feedback`), the console and the member portal.
"""

from __future__ import annotations

from loyalty.services.feedback.rating import member_ratings, rate_purchase
from loyalty.services.feedback.review import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    get_feedback,
    handle_feedback,
    list_feedback,
)
from loyalty.services.feedback.schemas import Feedback, FeedbackPage

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "Feedback",
    "FeedbackPage",
    "get_feedback",
    "handle_feedback",
    "list_feedback",
    "member_ratings",
    "rate_purchase",
]
