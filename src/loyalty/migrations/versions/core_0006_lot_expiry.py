"""A lot records the expiry run that emptied it, instead of a `lot_allocations` row per expired lot.

Revision ID: core_0006
Revises: core_0005
Create Date: 2026-11-29

`point_lots.expired_transfer_id` (the run's transfer) and `point_lots.expired_points` (what it took),
both NULL or both set (`ck_point_lots_expiry`). A lot can now expire at most once by construction
(one column, not one more row), and the expiry job updates the lots it already had to update instead
of inserting one allocation row per lot: on 1,000,000 members that insert, with its two foreign keys
and three indexes, was about a quarter of the job on PostgreSQL. Allocations keep recording spends
and reversals, which can take a lot in several parts.

Existing expiry allocations move onto their lots and are deleted. `core_0001` builds tables from the
current definitions, so a fresh database already has the columns and this revision leaves it alone.
On SQLite the table is rebuilt (batch mode) so its definition matches a fresh one exactly.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_0006"
down_revision = "core_0005"
branch_labels = None
depends_on = None

CHECK = (
    "(expired_transfer_id IS NULL AND expired_points IS NULL) OR "
    "(expired_transfer_id IS NOT NULL AND expired_points IS NOT NULL AND expired_points > 0)"
)


def _has_columns() -> bool:
    return "expired_points" in {c["name"] for c in sa.inspect(op.get_bind()).get_columns("point_lots")}


def upgrade() -> None:
    if _has_columns():
        return
    with op.batch_alter_table("point_lots") as batch:
        batch.add_column(
            sa.Column("expired_transfer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"))
        )
        batch.add_column(sa.Column("expired_points", sa.BigInteger()))
        batch.create_foreign_key(
            op.f("fk_point_lots_expired_transfer_id_transfers"), "transfers", ["expired_transfer_id"], ["id"]
        )
        batch.create_check_constraint(op.f("ck_point_lots_expiry"), CHECK)
    op.execute(
        "UPDATE point_lots SET expired_transfer_id = x.transfer_id, expired_points = x.amount "
        "FROM (SELECT la.lot_id, la.transfer_id, la.amount FROM lot_allocations la "
        "JOIN transfers t ON t.id = la.transfer_id AND t.kind = 'expire') AS x "
        "WHERE point_lots.id = x.lot_id"
    )
    op.execute(
        "DELETE FROM lot_allocations WHERE transfer_id IN (SELECT id FROM transfers WHERE kind = 'expire')"
    )


def downgrade() -> None:
    if not _has_columns():
        return
    op.execute(
        "INSERT INTO lot_allocations (lot_id, transfer_id, amount) "
        "SELECT id, expired_transfer_id, expired_points FROM point_lots "
        "WHERE expired_transfer_id IS NOT NULL ORDER BY id"
    )
    with op.batch_alter_table("point_lots") as batch:
        batch.drop_constraint(op.f("ck_point_lots_expiry"), type_="check")
        batch.drop_constraint(op.f("fk_point_lots_expired_transfer_id_transfers"), type_="foreignkey")
        batch.drop_column("expired_points")
        batch.drop_column("expired_transfer_id")
