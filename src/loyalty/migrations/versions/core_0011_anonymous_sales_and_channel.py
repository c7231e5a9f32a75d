"""Anonymous sales are kept, and every sale records its channel.

Revision ID: core_0011
Revises: core_0010
Create Date: 2026-12-01

- `purchases.member_id` becomes nullable: a sale without a member card is kept (it earns nothing and
  moves no ledger account) so that member sales share, baskets and store figures see every ticket; a
  member can claim it later with the receipt (`claimed_at` records when).
- `purchases.channel`: store, online, mini_program or delivery (`domain.channels`); existing sales are
  store sales.
- Two CHECKs: the channel is one of those, and an anonymous sale has earned, reversed and redeemed
  nothing and was never claimed.
- `ix_purchases_member_occurred` (the tier window's spend) leaves anonymous sales out: nothing reads
  them by member. Both databases' planners use the partial index for `member_id = …`, `IN (…)`,
  `= ANY(…)` and ranges of ids, which is how every reader asks.

The foreign key to `members` stays a native one on both databases (core_0010's statement triggers cover
the tiers and the tier history only), and NULL passes it. `core_0001` builds tables from the current
definitions, so a fresh database already has all of this and the revision leaves it alone. SQLite
cannot drop NOT NULL or add a CHECK in place: the table is rebuilt (`migrations/sqlite_rebuild.py`).

Downgrading refuses while anonymous sales exist, rather than deleting them: claim them or delete them
first.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

from loyalty.migrations.sqlite_rebuild import rebuild, table_sql

revision = "core_0011"
down_revision = "core_0010"
branch_labels = None
depends_on = None

_TABLE = "purchases"
_INDEX = "ix_purchases_member_occurred"
_INDEX_COLUMNS = ["member_id", "occurred_at", "total_minor", "refunded_minor"]
# The constraints as this revision wrote them; a later change needs a revision of its own.
_CHECKS = {
    "ck_purchases_channel": "channel IN ('store', 'online', 'mini_program', 'delivery')",
    "ck_purchases_anonymous": (
        "member_id IS NOT NULL OR "
        "(points_earned = 0 AND points_reversed = 0 AND redeemed_points = 0 AND claimed_at IS NULL)"
    ),
}
_MEMBER_NOT_NULL = re.compile(r'(\bmember_id"?\s+[A-Za-z]+)\s+NOT\s+NULL', re.IGNORECASE)
_MEMBER_NULLABLE = re.compile(r'(\bmember_id"?\s+[A-Za-z]+)(\s*,)', re.IGNORECASE)


def _columns() -> dict[str, dict[str, object]]:
    return {str(c["name"]): dict(c) for c in sa.inspect(op.get_bind()).get_columns(_TABLE)}


def _checks() -> set[str]:
    return {str(c["name"]) for c in sa.inspect(op.get_bind()).get_check_constraints(_TABLE)}


def _index_sql() -> str | None:
    """The index's definition, or None when it is missing (a large import deferred it: the next
    `loyalty db upgrade` or import builds it from the table definitions, as partial)."""
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        sql = "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :name"
    else:
        sql = "SELECT indexdef FROM pg_indexes WHERE indexname = :name"
    found = bind.execute(sa.text(sql), {"name": _INDEX}).scalar()
    return None if found is None else str(found)


def _set_index(partial: bool) -> None:
    current = _index_sql()
    if current is None or (" WHERE " in current.upper()) == partial:
        return
    op.drop_index(_INDEX, table_name=_TABLE)
    where = sa.text("member_id IS NOT NULL") if partial else None
    op.create_index(_INDEX, _TABLE, _INDEX_COLUMNS, sqlite_where=where, postgresql_where=where)


def upgrade() -> None:
    bind = op.get_bind()
    columns = _columns()
    if "channel" not in columns:
        op.add_column(_TABLE, sa.Column("channel", sa.String(20), nullable=False, server_default="store"))
    if "claimed_at" not in columns:
        op.add_column(_TABLE, sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
    missing = {name: check for name, check in _CHECKS.items() if name not in _checks()}
    if bind.dialect.name == "sqlite":
        if not columns["member_id"]["nullable"] or missing:
            _set_index(partial=True)  # before the rebuild, which re-creates the indexes it finds
            sql = _MEMBER_NOT_NULL.sub(r"\1", table_sql(bind, _TABLE), count=1).rstrip()
            clauses = "".join(f", CONSTRAINT {name} CHECK ({check})" for name, check in missing.items())
            rebuild(bind, _TABLE, sql[:-1].rstrip() + clauses + ")")
    else:
        if not columns["member_id"]["nullable"]:
            op.alter_column(_TABLE, "member_id", existing_type=sa.BigInteger(), nullable=True)
        for name, check in missing.items():
            op.execute(f"ALTER TABLE {_TABLE} ADD CONSTRAINT {name} CHECK ({check})")
    _set_index(partial=True)


def downgrade() -> None:
    bind = op.get_bind()
    anonymous = bind.execute(sa.text(f"SELECT count(*) FROM {_TABLE} WHERE member_id IS NULL")).scalar_one()  # noqa: S608
    if anonymous:
        raise RuntimeError(
            f"{anonymous} anonymous sales cannot be kept below core_0011, where every sale has a member: "
            "claim them for members or delete them first"
        )
    _set_index(partial=False)
    present = _checks()
    if bind.dialect.name == "sqlite":
        sql = table_sql(bind, _TABLE)
        for name in _CHECKS:
            if name in present:
                sql = _without_constraint(sql, name)
        rebuild(bind, _TABLE, _MEMBER_NULLABLE.sub(r"\1 NOT NULL\2", sql, count=1))
    else:
        for name in _CHECKS:
            if name in present:
                op.execute(f"ALTER TABLE {_TABLE} DROP CONSTRAINT {name}")  # named as is, no convention
        op.alter_column(_TABLE, "member_id", existing_type=sa.BigInteger(), nullable=False)
    columns = _columns()
    for name in ("claimed_at", "channel"):
        if name not in columns:
            continue
        if bind.dialect.name == "sqlite":  # in place (SQLite 3.35+), now that no CHECK names it
            bind.exec_driver_sql(f"ALTER TABLE {_TABLE} DROP COLUMN {name}")
        else:
            op.drop_column(_TABLE, name)


def _without_constraint(sql: str, name: str) -> str:
    """`sql` (a CREATE TABLE text) without the table constraint `name` and the comma before it."""
    start = sql.index(f"CONSTRAINT {name} ")
    depth = 0
    for end in range(sql.index("(", start), len(sql)):
        depth += {"(": 1, ")": -1}.get(sql[end], 0)
        if depth == 0:
            return sql[: sql.rindex(",", 0, start)] + sql[end + 1 :]
    raise ValueError(f"unbalanced parentheses in constraint {name}")
