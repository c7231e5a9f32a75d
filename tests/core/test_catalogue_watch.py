"""Another process's change reaches this one's catalogue (`db.catalogue_revision`,
`services.catalogue_watch`), on both backends: the database counts every change to stores,
merchants, the programme, tiers and rules, whoever makes it, and a sale counts none; a process that
sees the count move reads its catalogue afresh, and a server does so by itself within its check
interval."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from loyalty.api.app import create_app
from loyalty.bootstrap import Context, FrozenClock
from loyalty.config import Settings
from loyalty.db.catalogue_revision import read_revision
from loyalty.db.engine import make_engine
from loyalty.db.migrate import upgrade
from loyalty.services import auth, merchants, purchases
from loyalty.services.catalogue import catalogue_of
from loyalty.services.catalogue_watch import CatalogueWatch
from loyalty.services.earning_rules.book import define_rules, retire_rule
from loyalty.services.members import register_member
from loyalty.services.programme_settings import ProgrammeChanges, update_programme
from loyalty.services.schemas import MemberIn, StoreIn
from loyalty.services.seed import ProgrammeIds
from tests.core.sales import food_sale

BONUS = {"code": "welcome-back", "name": "Welcome back", "kind": "fixed_bonus", "points": 77}


@pytest.fixture
def elsewhere(engine: Engine, clock: FrozenClock) -> Iterator[Context]:
    """A second process's context on the same database: its own engine, pool and catalogue."""
    other = make_engine(engine.url.render_as_string(hide_password=False))
    yield Context(engine=other, settings=Settings(), clock=clock)
    other.dispose()


def _revision(ctx: Context) -> int:
    with ctx.engine.connect() as conn:
        return read_revision(conn)


def test_every_catalogue_change_moves_the_revision_and_a_sale_does_not(
    ctx: Context, programme: ProgrammeIds
) -> None:
    seeded = _revision(ctx)
    assert seeded > 0  # the programme, its merchant, store and tiers were written
    member = register_member(ctx, MemberIn(phone="+8613900000301", name="Rev")).id
    purchases.post_purchase(ctx, food_sale(ctx, programme.store_id, member, "R-1", 10_000))
    assert _revision(ctx) == seeded  # members, sales and the ledger are not the catalogue
    steps = [
        lambda: update_programme(ctx, ProgrammeChanges(points_per_unit=2)),
        lambda: define_rules(ctx, [BONUS]),
        lambda: retire_rule(ctx, BONUS["code"]),
        lambda: merchants.create_store(
            ctx, StoreIn(merchant_id=programme.merchant_id, code="S9", name="Nine")
        ),
    ]
    seen = seeded
    for step in steps:
        step()
        now = _revision(ctx)
        assert now > seen
        seen = now


def test_a_rule_saved_by_another_process_is_earned_once_the_watch_has_looked(
    ctx: Context, elsewhere: Context, programme: ProgrammeIds
) -> None:
    member = register_member(ctx, MemberIn(phone="+8613900000302", name="Watch")).id
    store = programme.store_id
    watch = CatalogueWatch(ctx, every_s=0)
    watch.start()  # notes the revision; no thread
    before = purchases.post_purchase(ctx, food_sale(ctx, store, member, "W-1", 10_000))
    assert catalogue_of(ctx).known(store) is not None

    define_rules(elsewhere, [BONUS])  # the other process clears only its own catalogue
    stale = purchases.post_purchase(ctx, food_sale(ctx, store, member, "W-2", 10_000))
    assert stale.points_earned == before.points_earned  # this process has not looked yet

    held = catalogue_of(ctx)
    assert watch.check() is True
    swapped = catalogue_of(ctx)
    assert swapped is not held  # read afresh by the watch and swapped in whole
    assert swapped.known(store) is not None
    fresh = purchases.post_purchase(ctx, food_sale(ctx, store, member, "W-3", 10_000))
    assert fresh.points_earned == before.points_earned + BONUS["points"]
    assert watch.check() is False  # nothing changed since


def test_a_server_reads_another_process_s_change_by_itself(
    engine: Engine, clock: FrozenClock, elsewhere: Context, programme: ProgrammeIds
) -> None:
    ctx = Context(engine=engine, settings=Settings(catalogue_check_seconds=0.05), clock=clock)
    member = register_member(ctx, MemberIn(phone="+8613900000303", name="Server")).id
    _, key = auth.create_api_key(ctx, store_id=programme.store_id, name="till")
    cart = {
        "store_id": programme.store_id,
        "member_id": member,
        "currency": "CNY",
        "lines": [{"sku": "s", "category": "food", "quantity": 1, "unit_price": "100.00"}],
    }

    def quoted(client: TestClient) -> int:
        answer = client.post("/api/v1/checkout/quote", json=cart, headers={"X-API-Key": key})
        assert answer.status_code == 200, answer.text
        return int(answer.json()["points"])

    with TestClient(create_app(ctx)) as client:
        before = quoted(client)
        define_rules(elsewhere, [BONUS])
        deadline = time.monotonic() + 10
        after = quoted(client)
        while after == before and time.monotonic() < deadline:
            time.sleep(0.05)
            after = quoted(client)
        assert after == before + BONUS["points"]
    # the watch's thread ends with the server
    assert not any(t.name == "loyalty-catalogue-watch" for t in threading.enumerate())


def test_a_database_not_yet_migrated_is_looked_at_again(tmp_path: Path, clock: FrozenClock) -> None:
    """A server may start before `loyalty db upgrade`: the watch keeps looking, and its first answer
    counts as a change."""
    engine = make_engine(f"sqlite:///{tmp_path / 'later.db'}")
    try:
        ctx = Context(engine=engine, settings=Settings(), clock=clock)
        watch = CatalogueWatch(ctx, every_s=0)
        watch.start()  # no table yet: noted as unknown, no error
        stale = catalogue_of(ctx)
        upgrade(engine)
        assert watch.check() is True
        assert catalogue_of(ctx) is not stale
    finally:
        engine.dispose()
