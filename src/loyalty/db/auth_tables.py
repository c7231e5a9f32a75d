"""Tables for who may call the API: staff users and their stores, POS API keys, member tokens.

Secrets are never stored: passwords as argon2 hashes, API keys and member tokens as SHA-256 of a
256-bit random secret (a fast hash is enough for high-entropy secrets and keeps POS calls fast).
Each key/token carries a short public id so lookup is one indexed read, not a scan of hashes.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Table,
)

from loyalty.db.base import metadata
from loyalty.db.core_tables import Id

STAFF_ROLES: tuple[str, ...] = ("admin", "marketer", "store_manager", "cashier", "analyst", "auditor")

staff_users = Table(
    "staff_users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("role", String(20), nullable=False),
    Column("display_name", String(100), nullable=True),
    Column("active", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("role IN ('" + "', '".join(STAFF_ROLES) + "')", name="role"),
)

staff_user_stores = Table(
    "staff_user_stores",
    metadata,
    Column("user_id", Integer, ForeignKey("staff_users.id", ondelete="CASCADE"), primary_key=True),
    Column("store_id", Id, ForeignKey("stores.id", ondelete="CASCADE"), primary_key=True),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key_id", String(24), nullable=False, unique=True),
    Column("secret_hash", String(64), nullable=False),
    Column("store_id", Id, ForeignKey("stores.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("name", String(100), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)

member_tokens = Table(
    "member_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("token_id", String(24), nullable=False, unique=True),
    Column("secret_hash", String(64), nullable=False),
    Column("member_id", Id, ForeignKey("members.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)

#: one-time sign-in codes of the member portal: only an HMAC of the code is kept (a 6-digit code
#: hashed plainly would fall to a million guesses); a row is written for every request, member or
#: not, so that neither the answer nor the per-phone limit tells whether a phone is a member's
member_otps = Table(
    "member_otps",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("phone", String(32), nullable=False, index=True),
    Column("member_id", Id, ForeignKey("members.id", ondelete="CASCADE"), nullable=True),
    Column("code_hash", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("used_at", DateTime(timezone=True), nullable=True),
)

#: messages the default sender "delivered": the local outbox read by the demo, the tests and
#: `loyalty members outbox` where no SMS gateway is configured
outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("channel", String(10), nullable=False),
    Column("recipient", String(254), nullable=False, index=True),
    Column("body", String(500), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
