"""The mining jobs join the jobs table: basket rules, member clusters, recommendations, churn, anomalies.

Revision ID: core_0018
Revises: core_0017
Create Date: 2026-12-05

`jobs.kind` is checked against the list of kinds the code runs (`loyalty.db.jobs_tables.JOB_KINDS`);
this revision rewrites that check with the mining jobs added. SQLite cannot alter a constraint in
place, so the (small) table is rebuilt in batch mode there.
"""

from __future__ import annotations

from alembic import op

revision = "core_0018"
down_revision = "core_0017"
branch_labels = None
depends_on = None

_BEFORE = ("points_expiry", "tier_evaluation", "analytics_refresh")
_AFTER = (*_BEFORE, "basket_rules", "member_clusters", "recommendations", "churn_model", "anomaly_scan")


def _check(kinds: tuple[str, ...]) -> str:
    return "kind IN ({})".format(", ".join(f"'{k}'" for k in kinds))


def _replace(kinds: tuple[str, ...]) -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_constraint(op.f("ck_jobs_kind"), type_="check")
        batch.create_check_constraint(op.f("ck_jobs_kind"), _check(kinds))


def upgrade() -> None:
    _replace(_AFTER)


def downgrade() -> None:
    kept = ", ".join(f"'{k}'" for k in _BEFORE)  # our own constants
    op.execute(f"DELETE FROM jobs WHERE kind NOT IN ({kept})")  # noqa: S608
    _replace(_BEFORE)
