"""Recommendations: one row per refresh, each member's top items of the last refresh, and the
stores' popular lists (the answer for a member without history).

`recommendation_runs` keeps what a refresh did: when, about what (the last day of data, members,
items), how long the training took, its settings and the time-split holdout's figures (precision@10,
recall@10, MAP@10, coverage of the blend, ALS, item-kNN and popularity), so the console shows them
without recomputing. `member_recommendations` holds each member's ranked items, already blended and
filtered (the endpoint reads one member's rows by primary key: a few milliseconds);
`recommendation_popular` each store's list and the chain's (store_id NULL). Both are replaced by each
refresh, in the same transaction as its run row; the runs are kept.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from loyalty.db.base import metadata
from loyalty.db.core_tables import Id, UTCDateTime

REASON_CODES = ("cf", "content", "popular")

recommendation_runs = Table(
    "recommendation_runs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("computed_at", UTCDateTime(), nullable=False, index=True),
    #: the last business day of the sales the model learnt from
    Column("as_of", Date, nullable=False),
    #: members given recommendations; items in the catalogue
    Column("members", Integer, nullable=False),
    Column("items", Integer, nullable=False),
    #: seconds the training took (ALS, content, popularity)
    Column("seconds", Float, nullable=False),
    #: `loyalty.analytics.recommend.Settings.to_dict()`
    Column("settings", JSON, nullable=False),
    #: `loyalty.analytics.recommend.Evaluation.to_dict()`; NULL when there was too little to test
    Column("evaluation", JSON, nullable=True),
    #: why there is no evaluation
    Column("problem", Text, nullable=True),
)

member_recommendations = Table(
    "member_recommendations",
    metadata,
    Column("member_id", Id, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    Column("rank", Integer, primary_key=True),
    Column("run_id", Id, ForeignKey("recommendation_runs.id"), nullable=False),
    Column("sku", String(100), nullable=False),
    Column("category", String(100), nullable=True),
    Column("score", Float, nullable=False),
    Column("reason", String(8), nullable=False),
    CheckConstraint("reason IN ('cf', 'content', 'popular')", name="reason"),
)

recommendation_popular = Table(
    "recommendation_popular",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("run_id", Id, ForeignKey("recommendation_runs.id"), nullable=False),
    #: NULL: the chain's list
    Column("store_id", Id, ForeignKey("stores.id"), nullable=True),
    Column("rank", Integer, nullable=False),
    Column("sku", String(100), nullable=False),
    Column("category", String(100), nullable=True),
    Column("score", Float, nullable=False),
    Index("ix_recommendation_popular_store_id_rank", "store_id", "rank"),
)

RECOMMENDATION_TABLES = (recommendation_runs, member_recommendations, recommendation_popular)
