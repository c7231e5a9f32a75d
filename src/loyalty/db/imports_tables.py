"""Bookkeeping for bulk imports: runs, committed batches (row checkpoints) and loaded opening balances.

An import commits in batches; each batch's rows and the checkpoint that records them commit in the same
transaction, so after a crash (even `kill -9`) the database says exactly which source lines are in.
Re-running the same file finds its unfinished run by fingerprint and continues after the last committed
batch; everything already loaded is also recognised by natural keys (order id per store, card number,
return id), so even a different file containing the same rows adds nothing twice.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
)

from loyalty.db.base import metadata

import_runs = Table(
    "import_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("source_name", String(500), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # running | done
    Column("rows_read", Integer, nullable=False, server_default="0"),
    Column("rows_imported", Integer, nullable=False, server_default="0"),
    Column("rows_rejected", Integer, nullable=False, server_default="0"),
    Column("rows_duplicate", Integer, nullable=False, server_default="0"),
    Column("batches_done", Integer, nullable=False, server_default="0"),
    Column("last_line", BigInteger, nullable=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("summary", JSON, nullable=True),
)
Index("ix_import_runs_fingerprint_status", import_runs.c.fingerprint, import_runs.c.status)

import_batches = Table(
    "import_batches",
    metadata,
    Column("run_id", Integer, ForeignKey("import_runs.id"), nullable=False),
    Column("batch_no", Integer, nullable=False),
    Column("first_line", BigInteger, nullable=False),
    Column("last_line", BigInteger, nullable=False),
    Column("rows", Integer, nullable=False),
    Column("committed_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("run_id", "batch_no"),
)

# One row per opening balance granted by an import, keyed by what makes it unique in the source
# (points, earn date, expiry), so that re-importing a balance file never grants twice.
imported_balances = Table(
    "imported_balances",
    metadata,
    Column("member_id", Integer, nullable=False),
    Column("source_key", String(120), nullable=False),
    Column("run_id", Integer, ForeignKey("import_runs.id"), nullable=True),
    Column("points", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("member_id", "source_key"),
)
