"""A seeded "world" for API tests: two stores, members, and a credential for every kind of caller.

Most API tests share one world per backend and module (creating a migrated PostgreSQL database and
argon2-hashing eight passwords per test would blow the area's time budget); tests that need a pristine
database use the shared `db_url` fixture instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from loyalty.api.app import create_app
from loyalty.api.security import issue_access_token
from loyalty.db.engine import make_engine
from loyalty.db.migrate import upgrade
from tests.conftest import migrated_pg_url

PASSWORD = "s3cret-passw0rd"
ROLES = ("admin", "marketer", "store_manager", "cashier", "analyst", "auditor")


@dataclass
class World:
    """Everything a test needs to call the API as anyone."""

    url: str
    ctx: Any
    app: Any
    client: TestClient
    store_a: int
    store_b: int
    merchant_id: int
    member_a: Any  # registered at store A
    member_b: Any  # registered at store B
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    staff_ids: dict[str, int] = field(default_factory=dict)

    def as_(self, who: str) -> dict[str, str]:
        return self.headers[who]


def wait_for_jobs(timeout: float = 120) -> None:
    """Let the jobs the world's app started in background threads end before its database goes."""
    from loyalty.services import jobs

    assert jobs.wait_all(timeout), "a background job did not end"


@contextmanager
def pg_world() -> Iterator[World]:
    """A seeded world in an empty PostgreSQL database of its own (`tests.conftest.migrated_pg_url`)."""
    with migrated_pg_url() as url:
        w = build_world(url)
        yield w
        wait_for_jobs()
        w.client.close()
        w.ctx.engine.dispose()


@contextmanager
def world_on(backend: str, directory: Path) -> Iterator[World]:
    """A seeded world on `backend` ("sqlite": a file in `directory`; "postgresql": a fresh database)."""
    if backend == "sqlite":
        w = build_world(f"sqlite:///{directory / 'loyalty.db'}")
        try:
            yield w
        finally:
            wait_for_jobs()
            w.client.close()
            w.ctx.engine.dispose()
        return
    with pg_world() as w:
        yield w


def build_world(url: str, rate_limits: dict[str, tuple[int, float]] | None = None) -> World:
    """Migrate `url`, seed the programme, two stores, two members and a user (or key) per role."""
    from loyalty.bootstrap import Context
    from loyalty.services import auth, merchants, seed
    from loyalty.services.schemas import StoreIn

    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    ctx = Context.from_url(url)
    seed.ensure_programme(ctx)
    store_a_obj = merchants.list_stores(ctx)[0]
    merchant_id = store_a_obj.merchant_id
    store_b_obj = merchants.create_store(
        ctx, StoreIn(merchant_id=merchant_id, code="B01", name="Store B", city="Hangzhou")
    )
    app = create_app(ctx, rate_limits=rate_limits or {"login": (1000, 60.0), "lookup": (1000, 60.0)})
    client = TestClient(app, raise_server_exceptions=False)
    world = World(
        url=url,
        ctx=ctx,
        app=app,
        client=client,
        store_a=store_a_obj.id,
        store_b=store_b_obj.id,
        merchant_id=merchant_id,
        member_a=None,
        member_b=None,
    )
    now = ctx.now()
    for role in ROLES:
        stores = [world.store_a] if role in {"store_manager", "cashier"} else []
        user = auth.create_staff(ctx, username=f"{role}1", password=PASSWORD, role=role, store_ids=stores)
        world.staff_ids[role] = user.id
        token, _ = issue_access_token(
            ctx.settings.secret_key,
            user_id=user.id,
            username=user.username,
            role=role,
            store_ids=stores,
            now=now,
        )
        world.headers[role] = {"Authorization": f"Bearer {token}"}
    # a cashier of the *other* store, for cross-store attempts
    other = auth.create_staff(
        ctx, username="cashier_b", password=PASSWORD, role="cashier", store_ids=[world.store_b]
    )
    token, _ = issue_access_token(
        ctx.settings.secret_key,
        user_id=other.id,
        username="cashier_b",
        role="cashier",
        store_ids=[world.store_b],
        now=now,
    )
    world.headers["cashier_b"] = {"Authorization": f"Bearer {token}"}
    _, key_a = auth.create_api_key(ctx, store_id=world.store_a, name="till-a")
    _, key_b = auth.create_api_key(ctx, store_id=world.store_b, name="till-b")
    world.headers["pos"] = {"X-API-Key": key_a}
    world.headers["pos_b"] = {"X-API-Key": key_b}
    world.member_a = register(world, "admin", "+8613800000001", world.store_a, name="Alice")
    world.member_b = register(world, "admin", "+8613800000002", world.store_b, name="Bob")
    _, member_token_a = auth.issue_member_token(ctx, world.member_a["id"])
    _, member_token_b = auth.issue_member_token(ctx, world.member_b["id"])
    world.headers["member"] = {"Authorization": f"Bearer {member_token_a}"}
    world.headers["member_b"] = {"Authorization": f"Bearer {member_token_b}"}
    world.headers["anonymous"] = {}
    return world


def register(world: World, who: str, phone: str, store_id: int, **extra: Any) -> dict[str, Any]:
    extra.setdefault("name", f"Member {phone[-4:]}")
    resp = world.client.post(
        "/api/v1/members",
        json={"phone": phone, "registration_store_id": store_id, **extra},
        headers=world.as_(who),
    )
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def purchase_body(
    store_id: int, member_id: int | None, order_id: str, *, price: str = "199.00"
) -> dict[str, Any]:
    return {
        "store_id": store_id,
        "member_id": member_id,
        "order_id": order_id,
        "occurred_at": "2026-03-01T10:00:00+08:00",
        "currency": "CNY",
        "lines": [
            {"sku": "SKU-1", "category": "apparel", "quantity": 1, "unit_price": price},
            {"sku": "SKU-2", "category": "shoes", "quantity": 2, "unit_price": "89.50", "discount": "10.00"},
            {"sku": "SKU-3", "category": "accessories", "quantity": 3, "unit_price": "12.90"},
        ],
    }
