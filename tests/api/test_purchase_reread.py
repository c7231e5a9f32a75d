"""Re-reading a purchase answers what posting it answered: the tier the sale left the member in and
the tier it upgraded them to, whatever the member's tier is now (issue #22, item 16).

On SQLite the API posts through the group commit (the live routine); on PostgreSQL through the
set-based batches (`services.posting.set_based_batches`), so both writers are covered.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from loyalty.db.engine import make_engine
from loyalty.db.migrate import downgrade, upgrade
from loyalty.services import tiers
from tests.api.api_world import World, purchase_body, register

V1 = "/api/v1"
_n = itertools.count(1)


def _member(w: World) -> int:
    return int(register(w, "admin", f"+86135{next(_n):08d}", w.store_a)["id"])


def _post(w: World, member_id: int, price: str) -> dict[str, Any]:
    body = purchase_body(w.store_a, member_id, f"reread-{next(_n)}", price=price)
    resp = w.client.post(f"{V1}/purchases", json=body, headers=w.as_("pos"))
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def _receipt(w: World, member_id: int, purchase_id: int) -> dict[str, Any]:
    resp = w.client.get(f"{V1}/members/{member_id}/purchases", headers=w.as_("admin"))
    assert resp.status_code == 200, resp.text
    return next(r for r in resp.json()["items"] if r["id"] == purchase_id)


def test_reread_keeps_the_tier_and_upgrade_of_the_sale(world: World) -> None:
    mid = _member(world)
    upgrading = _post(world, mid, "1900.00")  # with the other lines past silver's ¥2,000 in one sale
    assert upgrading["upgraded_to"] == upgrading["tier_code"] == "silver"
    plain = _post(world, mid, "10.00")
    assert (plain["tier_code"], plain["upgraded_to"]) == ("silver", None)
    # The member's tier changes afterwards (a manual lock to the top tier).
    tiers.lock_tier(
        world.ctx, mid, "diamond", until=datetime.now(UTC) + timedelta(days=30), reason="VIP event"
    )
    for first in (upgrading, plain):
        again = world.client.get(f"{V1}/purchases/{first['id']}", headers=world.as_("admin"))
        assert again.status_code == 200, again.text
        assert again.json() == first  # the very answer the till got (replayed is False in both)
        receipt = _receipt(world, mid, first["id"])
        assert (receipt["tier_code"], receipt["upgraded_to"]) == (first["tier_code"], first["upgraded_to"])


def test_a_claim_keeps_the_tier_it_left(world: World) -> None:
    mid = _member(world)
    body = purchase_body(world.store_a, None, f"reread-anon-{next(_n)}", price="1900.00")
    body["occurred_at"] = datetime.now(UTC).isoformat()  # within the claim window
    sale = world.client.post(f"{V1}/purchases", json=body, headers=world.as_("pos"))
    assert sale.status_code == 201, sale.text
    assert sale.json()["tier_code"] is None
    claim = world.client.post(
        f"{V1}/purchases/claims",
        json={"store_id": world.store_a, "order_id": body["order_id"], "member_id": mid},
        headers=world.as_("pos"),
    )
    assert claim.status_code == 200, claim.text
    assert claim.json()["upgraded_to"] == claim.json()["tier_code"] == "silver"
    tiers.lock_tier(world.ctx, mid, "gold", until=datetime.now(UTC) + timedelta(days=30), reason="VIP")
    again = world.client.get(f"{V1}/purchases/{sale.json()['id']}", headers=world.as_("admin")).json()
    assert (again["tier_code"], again["upgraded_to"]) == ("silver", "silver")


def test_migration_fills_in_existing_sales_from_tier_history(world: World) -> None:
    """core_0013 on a database whose sales kept no tier: filled in from tier_history."""
    mid = _member(world)
    upgrading = _post(world, mid, "1900.00")
    plain = _post(world, mid, "10.00")
    tiers.lock_tier(world.ctx, mid, "gold", until=datetime.now(UTC) + timedelta(days=30), reason="VIP")
    engine = make_engine(world.url)
    try:
        downgrade(engine, "core_0012")
        with engine.connect() as conn:
            columns = conn.execute(text("SELECT * FROM purchases LIMIT 0")).keys()
        assert "tier_code" not in columns
        upgrade(engine)
    finally:
        engine.dispose()
    world.ctx.cache.clear()
    for first in (upgrading, plain):
        again = world.client.get(f"{V1}/purchases/{first['id']}", headers=world.as_("admin")).json()
        assert (again["tier_code"], again["upgraded_to"]) == (first["tier_code"], first["upgraded_to"])
