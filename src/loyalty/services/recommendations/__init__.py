"""Recommendations as the product uses them: train the recommender on the sales and store each
member's top items (the recommendations job, `loyalty analytics recommendations refresh`), read the
last refresh back (the console's recommendations page) and one member's list
(`GET /members/{id}/recommendations`, the member 360° page, `loyalty analytics recommend`).

The recommender itself is :mod:`loyalty.analytics.recommend`; this package reads its input from the
product database (`load`) and keeps its output (`runs`, `member`).
"""

from __future__ import annotations

from loyalty.services.recommendations.errors import NoSales
from loyalty.services.recommendations.member import (
    MAX_LIMIT,
    MemberRecommendations,
    RecommendedItem,
    member_recommendations,
)
from loyalty.services.recommendations.runs import STAGES, StoredRun, last_run, run_recommendations

__all__ = [
    "MAX_LIMIT",
    "STAGES",
    "MemberRecommendations",
    "NoSales",
    "RecommendedItem",
    "StoredRun",
    "last_run",
    "member_recommendations",
    "run_recommendations",
]
