"""Member clusters as the product uses them: run a clustering of the members and store it (the
member-clusters job, `loyalty analytics clusters refresh`), read the last run back (the console's
clusters page, `GET /api/v1/analytics/clusters`) and a member's cluster (the member 360° page).

The clustering itself is :mod:`loyalty.analytics.clusters`; this package reads its input from the
product database (`load`) and keeps its output (`runs`, `member`).
"""

from __future__ import annotations

from loyalty.services.clusters.member import MemberCluster, member_cluster
from loyalty.services.clusters.runs import STAGES, StoredRun, last_run, run_clusters

__all__ = ["STAGES", "MemberCluster", "StoredRun", "last_run", "member_cluster", "run_clusters"]
