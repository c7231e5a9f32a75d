"""PostgreSQL going away under the pool: a sale retries once on a fresh connection, and a connection
that sat idle is pinged before use (the pool no longer pings on every check-out)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from loyalty.bootstrap import Context, FrozenClock
from loyalty.config import Settings
from loyalty.db import engine as engine_module
from loyalty.db.core_tables import purchases as purchases_t
from loyalty.db.engine import make_engine
from loyalty.services import members, points, purchases, seed
from loyalty.services.schemas import MemberIn
from tests.conftest import end_pg_backends
from tests.core.conftest import T0
from tests.core.sales import food_sale

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_ctx(pg_url: str) -> Iterator[Context]:
    engine = make_engine(pg_url)
    yield Context(engine=engine, settings=Settings(), clock=FrozenClock(T0))
    engine.dispose()


def test_a_sale_on_a_connection_the_server_closed_is_posted_once_on_a_fresh_one(
    pg_ctx: Context, pg_url: str
) -> None:
    ids = seed.ensure_programme(pg_ctx)
    member = members.register_member(pg_ctx, MemberIn(phone="+8613800000001", name="A")).id
    purchases.post_purchase(pg_ctx, food_sale(pg_ctx, ids.store_id, member, "o-1", 10_000))
    assert end_pg_backends(pg_url) >= 1  # the pooled connection, just used: no ping will catch it

    result = purchases.post_purchase(pg_ctx, food_sale(pg_ctx, ids.store_id, member, "o-2", 5_000))

    assert not result.replayed
    with pg_ctx.engine.connect() as conn:
        orders = conn.execute(select(purchases_t.c.order_id).order_by(purchases_t.c.order_id)).scalars()
        assert list(orders) == ["o-1", "o-2"]
    assert points.balance(pg_ctx, member).balance == 150  # 100 + 50: each order earned once
    assert points.verify_ledger(pg_ctx)["ok"]


def test_a_connection_idle_in_the_pool_is_pinged_and_replaced(
    pg_ctx: Context, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pg_ctx.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(purchases_t)).scalar_one() == 0
    assert end_pg_backends(pg_url) >= 1
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_S", 0.0)  # it has now been idle long enough

    with pg_ctx.engine.connect() as conn:  # a plain read, which nothing retries
        assert conn.execute(select(func.count()).select_from(purchases_t)).scalar_one() == 0


def test_without_the_idle_ping_that_read_would_fail(pg_ctx: Context, pg_url: str) -> None:
    """The control: a read on the dead connection fails when the pool hands it out unchecked."""
    with pg_ctx.engine.connect() as conn:
        conn.execute(select(1))
    assert end_pg_backends(pg_url) >= 1
    with (
        pytest.raises(OperationalError, match=r"terminat|closed|connection"),
        pg_ctx.engine.connect() as conn,
    ):
        conn.execute(select(1))
