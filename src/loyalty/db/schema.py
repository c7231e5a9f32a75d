"""Imports every table module so `metadata` is complete (for Alembic and for the drift test).

Each product area keeps its tables in its own module under `loyalty.db` and is listed here once.
"""

from __future__ import annotations

from loyalty.db.base import metadata

# Table modules register themselves on import; add new areas below.
TABLE_MODULES: tuple[str, ...] = (
    "loyalty.db.core_tables",
    "loyalty.db.auth_tables",
    "loyalty.db.imports_tables",
    "loyalty.db.analytics_tables",
    "loyalty.db.jobs_tables",
    "loyalty.db.programme_tables",
    "loyalty.db.offer_tables",
    "loyalty.db.cluster_tables",
    "loyalty.db.anomaly_tables",
    "loyalty.db.recommendation_tables",
    "loyalty.db.churn_tables",
    "loyalty.db.basket_rule_tables",
    "loyalty.db.target_tables",
    "loyalty.db.reward_tables",
    "loyalty.db.feedback_tables",
    "loyalty.db.catalogue_revision",
)


def load_all() -> None:
    import importlib

    for name in TABLE_MODULES:
        importlib.import_module(name)


__all__ = ["TABLE_MODULES", "load_all", "metadata"]
