"""The staff console (`/console`): log in with a staff account, find and register members, post sales,
points and returns at the till, and see a member's whole story (the 360° page).

Every route is kept out of the published API schema (`include_in_schema=False`); its authorisation
is tested by tests/web/test_console_matrix.py, which enumerates the console's routes.
"""

from __future__ import annotations

from fastapi import APIRouter

from loyalty.web.console import (
    admin,
    analytics,
    anomalies,
    auth,
    basket,
    churn,
    clusters,
    dashboard,
    feedback,
    jobs,
    members,
    merge,
    privacy,
    programme_offers,
    programme_rewards,
    programme_rules,
    recommendations,
    sales,
    targets,
)
from loyalty.web.pages import PREFIX, ConsoleRoute

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
for _part in (
    auth,
    members,
    sales,
    merge,
    privacy,
    admin,
    analytics,
    basket,
    clusters,
    churn,
    recommendations,
    anomalies,
    jobs,
    dashboard,
    targets,
    feedback,
    programme_rules,
    programme_rewards,
    programme_offers,
):
    router.include_router(_part.router, prefix=PREFIX)
