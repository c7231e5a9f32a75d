"""The `jobs` table: the long jobs (points expiry, tier evaluation, analytics refresh) started by hand
from the console, the API or the CLI, and followed while they run.

One row per run. `active_kind` holds the job's kind while it is queued or running and is NULL once it
has finished; being UNIQUE, it lets the database itself refuse a second run of a kind that is already
under way, whichever process or server starts it. `heartbeat_at` is moved by the running process
every few seconds: a queued or running job whose heartbeat has stopped was left by a process that died
(see `services.jobs.store.STALE_AFTER`).
"""

from __future__ import annotations

from sqlalchemy import JSON, CheckConstraint, Column, Index, Integer, String, Table, Text

from loyalty.db.base import metadata
from loyalty.db.core_tables import Id, UTCDateTime

JOB_KINDS = (
    "points_expiry",
    "tier_evaluation",
    "analytics_refresh",
    "basket_rules",
    "member_clusters",
    "recommendations",
    "churn_model",
    "anomaly_scan",
)
JOB_STATUSES = ("queued", "running", "done", "failed")

jobs = Table(
    "jobs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    #: the kind while queued or running, NULL once finished: one unfinished run per kind
    Column("active_kind", String(32), nullable=True, unique=True),
    #: who started it: staff (their id and username), the CLI, the system
    Column("actor_kind", String(20), nullable=False),
    Column("actor_id", String(100), nullable=False),
    Column("actor_name", String(100), nullable=True),
    #: what it was asked to do (`as_of`, sizes, model), as given
    Column("params", JSON, nullable=True),
    Column("progress_done", Integer, nullable=False),
    Column("progress_total", Integer, nullable=True),
    #: what the job is doing now, a stable code shown translated ("ranges", "load", "score", …)
    Column("progress_step", String(40), nullable=True),
    #: the service's answer (counts), once done
    Column("result", JSON, nullable=True),
    #: why it failed: a stable code and the English message
    Column("error_code", String(60), nullable=True),
    Column("error", Text, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("started_at", UTCDateTime(), nullable=True),
    Column("finished_at", UTCDateTime(), nullable=True),
    Column("heartbeat_at", UTCDateTime(), nullable=True),
    CheckConstraint("kind IN ({})".format(", ".join(f"'{k}'" for k in JOB_KINDS)), name="kind"),
    CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name="status"),
    CheckConstraint(
        "(active_kind IS NULL) = (status IN ('done', 'failed'))",
        name="active_kind_while_unfinished",
    ),
)
Index("ix_jobs_kind_id", jobs.c.kind, jobs.c.id)

JOBS_TABLES = (jobs,)
