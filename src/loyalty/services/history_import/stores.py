"""The store an import's mapping file describes, created when it is missing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert, select

from loyalty.db.core_tables import merchants, stores


def ensure_store(ctx: Any, conn: Connection, config: dict[str, Any]) -> None:
    """Create the store a mapping file describes (`store: {code, name, city, timezone}`) if missing."""
    spec = config.get("store")
    if not isinstance(spec, dict) or not spec.get("code"):
        return
    if conn.execute(select(stores.c.id).where(stores.c.code == spec["code"])).first():
        return
    merchant_id = conn.execute(select(merchants.c.id).order_by(merchants.c.id).limit(1)).scalar()
    if merchant_id is None:
        raise ValueError("no programme yet: run `loyalty programme init` first")
    conn.execute(
        insert(stores).values(
            merchant_id=merchant_id,
            code=spec["code"],
            name=spec.get("name", spec["code"]),
            city=spec.get("city"),
            timezone=spec.get("timezone", ctx.settings.timezone),
            created_at=ctx.now(),
        )
    )
