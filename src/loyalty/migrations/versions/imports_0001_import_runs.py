"""imports: import runs, batch checkpoints, imported opening balances

Revision ID: imports_0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "imports_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("imports",)
depends_on: str | Sequence[str] | None = "core_0001"


def upgrade() -> None:
    op.create_table(
        "import_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("source_name", sa.String(length=500), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rows_read", sa.Integer(), server_default="0", nullable=False),
        sa.Column("rows_imported", sa.Integer(), server_default="0", nullable=False),
        sa.Column("rows_rejected", sa.Integer(), server_default="0", nullable=False),
        sa.Column("rows_duplicate", sa.Integer(), server_default="0", nullable=False),
        sa.Column("batches_done", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_line", sa.BigInteger(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_runs")),
    )
    op.create_index(
        "ix_import_runs_fingerprint_status", "import_runs", ["fingerprint", "status"], unique=False
    )
    op.create_table(
        "import_batches",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("batch_no", sa.Integer(), nullable=False),
        sa.Column("first_line", sa.BigInteger(), nullable=False),
        sa.Column("last_line", sa.BigInteger(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("committed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["import_runs.id"], name=op.f("fk_import_batches_run_id_import_runs")
        ),
        sa.PrimaryKeyConstraint("run_id", "batch_no", name=op.f("pk_import_batches")),
    )
    op.create_table(
        "imported_balances",
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("source_key", sa.String(length=120), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["import_runs.id"], name=op.f("fk_imported_balances_run_id_import_runs")
        ),
        sa.PrimaryKeyConstraint("member_id", "source_key", name=op.f("pk_imported_balances")),
    )


def downgrade() -> None:
    op.drop_table("imported_balances")
    op.drop_table("import_batches")
    op.drop_index("ix_import_runs_fingerprint_status", table_name="import_runs")
    op.drop_table("import_runs")
