"""One router per resource; each is mounted under /api/v1 by `loyalty.api.app.create_app`."""

from __future__ import annotations

from fastapi import APIRouter

from loyalty.api.routers import (
    analytics,
    anomalies,
    audit,
    auth,
    basket,
    checkout,
    churn,
    clusters,
    earning_rules,
    feedback,
    jobs,
    kpis,
    me,
    members,
    offers,
    points,
    privacy,
    programme,
    purchase_history,
    purchases,
    recommendations,
    rewards,
    simulations,
    stores,
    targets,
    tiers,
)

# Routes are matched in order, each a regular expression tried in turn: the till's calls (sales, the
# quote on every scan, points) come first because they are by far the most frequent; paths of
# different routers never overlap, so order changes nothing else.
ROUTERS: list[APIRouter] = [
    purchases.router,
    checkout.router,
    points.router,
    auth.router,
    members.router,
    purchase_history.router,
    tiers.router,
    programme.router,
    earning_rules.router,
    rewards.router,
    offers.router,
    simulations.router,
    stores.router,
    me.router,
    audit.router,
    jobs.router,
    analytics.router,
    basket.router,
    anomalies.router,
    clusters.router,
    churn.router,
    recommendations.router,
    privacy.router,
    kpis.router,
    targets.router,
    feedback.router,
]
