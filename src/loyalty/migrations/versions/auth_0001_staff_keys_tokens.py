"""auth: staff users and their stores, POS API keys, member tokens

Revision ID: auth_0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "auth_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("auth",)
depends_on: str | Sequence[str] | None = "core_0001"

# the core's id type: 64-bit on PostgreSQL, SQLite's native INTEGER there
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "staff_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "role IN ('admin', 'marketer', 'store_manager', 'cashier', 'analyst', 'auditor')",
            name=op.f("ck_staff_users_role"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_users")),
        sa.UniqueConstraint("username", name=op.f("uq_staff_users_username")),
    )
    op.create_table(
        "staff_user_stores",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("store_id", ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name=op.f("fk_staff_user_stores_store_id_stores"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["staff_users.id"],
            name=op.f("fk_staff_user_stores_user_id_staff_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "store_id", name=op.f("pk_staff_user_stores")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(length=24), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("store_id", ID, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name=op.f("fk_api_keys_store_id_stores"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_id", name=op.f("uq_api_keys_key_id")),
    )
    op.create_index(op.f("ix_api_keys_store_id"), "api_keys", ["store_id"], unique=False)
    op.create_table(
        "member_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_id", sa.String(length=24), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("member_id", ID, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_member_tokens_member_id_members"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_tokens")),
        sa.UniqueConstraint("token_id", name=op.f("uq_member_tokens_token_id")),
    )
    op.create_index(op.f("ix_member_tokens_member_id"), "member_tokens", ["member_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_member_tokens_member_id"), table_name="member_tokens")
    op.drop_table("member_tokens")
    op.drop_index(op.f("ix_api_keys_store_id"), table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_table("staff_user_stores")
    op.drop_table("staff_users")
