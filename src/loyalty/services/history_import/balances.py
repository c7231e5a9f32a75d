"""Opening balances an import grants: each a lot that keeps its original earn date and expiry."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select

from loyalty.db.core_tables import members, stores
from loyalty.db.imports_tables import imported_balances
from loyalty.services.accounts import Credit, credit_points, lock_member_account
from loyalty.services.catalogue import store_info


def grant_opening_balance(
    conn: Connection,
    ctx: Any,
    *,
    member_id: int,
    points: int,
    earned_at: datetime,
    expires_at: datetime | None,
    source_key: str,
    run_id: int | None,
    stores_cache: dict[int, Any] | None = None,
) -> bool:
    """Credit an opening balance as one lot that keeps its original earn date and expiry.

    `points.adjust` dates a lot today and expires it by the programme's rule; a migrated balance must
    keep the old system's dates, or members would lose (or keep) points on the wrong day. It is
    credited as every credit is (`accounts.credit_points`: the transfer from the liability, and a lot
    that pays existing debt first). Returns False when already granted.
    """
    if conn.execute(
        select(imported_balances.c.member_id).where(
            imported_balances.c.member_id == member_id, imported_balances.c.source_key == source_key
        )
    ).first():
        return False
    acc = lock_member_account(conn, member_id)
    reg_store = conn.execute(
        select(members.c.registration_store_id).where(members.c.id == member_id)
    ).scalar()
    store_id = reg_store or conn.execute(select(stores.c.id).order_by(stores.c.id).limit(1)).scalar_one()
    cache = stores_cache if stores_cache is not None else {}
    if int(store_id) not in cache:
        cache[int(store_id)] = store_info(conn, int(store_id))
    store = cache[int(store_id)]
    now = ctx.now()
    expires = expires_at or earned_at + timedelta(days=store.programme.expiry_days)
    credit = Credit(
        "adjust",
        "import:opening_balance",
        points,
        store.liability_account_id,
        store.merchant_id,
        earned_at,
        expires,
    )
    reason = f"opening balance earned {earned_at.date().isoformat()}"
    credit_points(conn, acc, credit, now, reason=reason, operator="import")
    conn.execute(
        insert(imported_balances).values(
            member_id=member_id, source_key=source_key, run_id=run_id, points=points, created_at=now
        )
    )
    return True
