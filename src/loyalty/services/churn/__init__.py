"""Churn as the product uses it: run the churn model and store it (the churn-model job, `loyalty
analytics churn refresh`), read the last run back with the members at risk (the console's churn page,
`GET /api/v1/analytics/churn`) and a member's churn probability and next purchase date (the member
360° page, `GET /api/v1/members/{id}/churn`).

The model itself is :mod:`loyalty.analytics.churn`; this package reads its input from the product
database (`load`) and keeps its output (`runs`, `member`).
"""

from __future__ import annotations

from loyalty.services.churn.member import MemberChurnShown, member_churn_scores
from loyalty.services.churn.runs import (
    AT_RISK,
    STAGES,
    AtRisk,
    AtRiskMember,
    MemberChurn,
    StoredRun,
    at_risk,
    last_run,
    refresh_churn,
)

__all__ = [
    "AT_RISK",
    "STAGES",
    "AtRisk",
    "AtRiskMember",
    "MemberChurn",
    "MemberChurnShown",
    "StoredRun",
    "at_risk",
    "last_run",
    "member_churn_scores",
    "refresh_churn",
]
