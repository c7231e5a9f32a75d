"""Member clusters: one row per clustering run, and every clustered member's cluster of the last run.

`member_cluster_runs` keeps what a run found and why: the k used, the criterion's score per candidate k,
the clusters' profiles (size, share, mean features, traits, centroids) and the scaling, so that the
console and the API show a run without recomputing it and the next run can keep the clusters'
numbers. `member_clusters` holds each member's cluster in the latest run (replaced by each run, in the
same transaction as its run row), for segments and campaigns to filter on.
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Date, ForeignKey, Index, Integer, String, Table

from loyalty.db.base import metadata
from loyalty.db.core_tables import Id, UTCDateTime

member_cluster_runs = Table(
    "member_cluster_runs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("computed_at", UTCDateTime(), nullable=False, index=True),
    #: the business day the features were computed as of
    Column("as_of", Date, nullable=False),
    Column("members", Integer, nullable=False),
    Column("k", Integer, nullable=False),
    #: the k the criterion chose (equal to `k` unless k was forced)
    Column("best_k", Integer, nullable=False),
    Column("forced", Boolean, nullable=False),
    Column("criterion", String(20), nullable=False),
    Column("seed", Integer, nullable=False),
    Column("currency", String(3), nullable=False),
    #: [{"k", "silhouette", "inertia"}] for every candidate k
    Column("scores", JSON, nullable=False),
    #: [Profile.to_dict()] for cluster 1…k
    Column("profiles", JSON, nullable=False),
    #: every member's mean raw features, the top categories and the scaler (Scaler.to_dict())
    Column("overall", JSON, nullable=False),
    Column("categories", JSON, nullable=False),
    Column("scaling", JSON, nullable=False),
)

member_clusters = Table(
    "member_clusters",
    metadata,
    Column("member_id", Id, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    Column("run_id", Id, ForeignKey("member_cluster_runs.id"), nullable=False),
    Column("cluster", Integer, nullable=False),
    Index("ix_member_clusters_cluster", "cluster"),
)

CLUSTER_TABLES = (member_cluster_runs, member_clusters)
