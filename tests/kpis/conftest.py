"""A small chain with a known story, once per backend and module, for checking the KPIs by hand.

Two stores in two time zones: A (Asia/Shanghai, UTC+8 all year) and B (Europe/Berlin, which moves to
summer time on 2026-03-29, a day of 23 hours). Sales are placed near midnight so that a figure
counted on the UTC day, or in Berlin with the wrong offset, lands on the wrong day. Every event
happens at its own time (a frozen clock moved before each); the expected figures are worked out in
tests/kpis/test_kpis.py from the story told here, not from the code.

    store A (Shanghai)                          store B (Berlin)
    2025-04-01 m6 and m7 register               2025-04-30 20:00 CEST m6 buys ¥10.00
    2025-05-01 00:30 m7 buys ¥10.00
    2025-07-01 m6 buys ¥2,500.00 (银卡 silver)  2026-03-28 23:00 CET  m3 registers
    2026-02-01 m4 registers, +300 pts (adjust)  2026-03-28 23:30 CET  anonymous ¥20.00
    2026-03-01 m1 registers                     2026-03-29 01:30 CET  m3 buys ¥60.00
    2026-03-03 m7 is deactivated                2026-03-29 23:30 CEST anonymous ¥30.00
    2026-03-27 23:50 m1 buys ¥100.00            2026-03-30 00:30 CEST anonymous ¥40.00
    2026-03-28 00:10 anonymous ¥50.00
    2026-03-28 00:30 m2 registers               no store:
    2026-03-28 12:00 m2 buys ¥80.00             2026-03-30 10:00 (Shanghai) m5 registers
    2026-03-29 10:00 m1 +500 pts (adjust)
    2026-03-30 09:00 m1 buys ¥120.00
    2026-03-30 09:05 m1 pays 200 points at A
    2026-03-31 10:00 m2 returns the ¥80.00 sale
    2026-03-31 12:00 expiry run: m6's 2,510, m4's 300 and m7's 10 points (kept 30 days)

m6's ¥10 in Berlin (18:00 UTC on 30 April) and m7's ¥10 in Shanghai (16:30 UTC on 30 April) fall in the
hours when it is already May in Shanghai but still April in Berlin: a range starting on 1 May holds
m7's sale and not m6's.

The programme earns a point per whole yuan (m6's sale, which lifted them to silver at ¥2,000, earned at
the first tier's rate, as every other sale) and keeps points 30 days; the clock ends at 2026-04-02 12:00
in Shanghai.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import pytest

from loyalty.bootstrap import Context, FrozenClock
from loyalty.config import Settings
from loyalty.db.engine import make_engine
from loyalty.services import members, merchants, points, purchases, seed
from loyalty.services.schemas import MemberIn, PurchaseIn, PurchaseLineIn, ReturnIn, StoreIn
from tests.conftest import migrated_url

SHANGHAI = timezone(timedelta(hours=8))
CET = timezone(timedelta(hours=1))
CEST = timezone(timedelta(hours=2))
END = datetime(2026, 4, 2, 12, 0, tzinfo=SHANGHAI)


@dataclass
class Chain:
    ctx: Context
    clock: FrozenClock
    store_a: int
    store_b: int
    m: dict[str, int]


def _at(clock: FrozenClock, when: datetime) -> None:
    clock.now = when.astimezone(UTC)


def build(ctx: Context, clock: FrozenClock) -> Chain:
    _at(clock, datetime(2025, 5, 1, 9, 0, tzinfo=SHANGHAI))
    ids = seed.ensure_programme(ctx, expiry_days=30)
    store_b = merchants.create_store(
        ctx,
        StoreIn(
            merchant_id=ids.merchant_id, code="BER", name="Berlin", city="Berlin", timezone="Europe/Berlin"
        ),
    ).id
    chain = Chain(ctx, clock, ids.store_id, store_b, {})
    a, b = chain.store_a, chain.store_b

    def register(name: str, when: datetime, store: int | None) -> None:
        _at(clock, when)
        phone = f"+861390000{len(chain.m) + 1:04d}"
        chain.m[name] = members.register_member(
            ctx, MemberIn(phone=phone, name=name, registration_store_id=store)
        ).id

    def sell(order: str, when: datetime, store: int, member: str | None, yuan: int) -> None:
        _at(clock, when)
        purchases.post_purchase(
            ctx,
            PurchaseIn(
                store_id=store,
                order_id=order,
                occurred_at=clock.now,
                member_id=chain.m[member] if member else None,
                lines=[PurchaseLineIn(sku="cake", category="food", quantity=1, unit_price_minor=yuan * 100)],
            ),
        )

    register("m6", datetime(2025, 4, 1, 10, 0, tzinfo=SHANGHAI), a)
    register("m7", datetime(2025, 4, 1, 11, 0, tzinfo=SHANGHAI), a)
    sell("A-M7", datetime(2025, 5, 1, 0, 30, tzinfo=SHANGHAI), a, "m7", 10)
    sell("B-M6", datetime(2025, 4, 30, 20, 0, tzinfo=CEST), b, "m6", 10)
    sell("A-OLD", datetime(2025, 7, 1, 10, 0, tzinfo=SHANGHAI), a, "m6", 2500)
    register("m4", datetime(2026, 2, 1, 10, 0, tzinfo=SHANGHAI), a)
    points.adjust(ctx, chain.m["m4"], 300, reason="welcome", operator="test")
    register("m1", datetime(2026, 3, 1, 10, 0, tzinfo=SHANGHAI), a)
    _at(clock, datetime(2026, 3, 3, 10, 0, tzinfo=SHANGHAI))
    members.deactivate_member(ctx, chain.m["m7"], reason="left")
    sell("A1", datetime(2026, 3, 27, 23, 50, tzinfo=SHANGHAI), a, "m1", 100)
    sell("A2", datetime(2026, 3, 28, 0, 10, tzinfo=SHANGHAI), a, None, 50)
    register("m2", datetime(2026, 3, 28, 0, 30, tzinfo=SHANGHAI), a)
    sell("A3", datetime(2026, 3, 28, 12, 0, tzinfo=SHANGHAI), a, "m2", 80)
    register("m3", datetime(2026, 3, 28, 23, 0, tzinfo=CET), b)
    sell("B1", datetime(2026, 3, 28, 23, 30, tzinfo=CET), b, None, 20)
    sell("B2", datetime(2026, 3, 29, 1, 30, tzinfo=CET), b, "m3", 60)
    _at(clock, datetime(2026, 3, 29, 10, 0, tzinfo=SHANGHAI))
    points.adjust(ctx, chain.m["m1"], 500, reason="apology", operator="test")
    sell("B3", datetime(2026, 3, 29, 23, 30, tzinfo=CEST), b, None, 30)
    sell("B4", datetime(2026, 3, 30, 0, 30, tzinfo=CEST), b, None, 40)
    sell("A4", datetime(2026, 3, 30, 9, 0, tzinfo=SHANGHAI), a, "m1", 120)
    _at(clock, datetime(2026, 3, 30, 9, 5, tzinfo=SHANGHAI))
    points.redeem(ctx, chain.m["m1"], 200, store_id=a)
    register("m5", datetime(2026, 3, 30, 10, 0, tzinfo=SHANGHAI), None)
    _at(clock, datetime(2026, 3, 31, 10, 0, tzinfo=SHANGHAI))
    purchases.post_return(
        ctx, ReturnIn(store_id=a, return_id="R1", order_id="A3", occurred_at=clock.now, refund_minor=8_000)
    )
    _at(clock, datetime(2026, 3, 31, 12, 0, tzinfo=SHANGHAI))
    assert points.expire_points(ctx, clock.now).points_expired == 2_820
    _at(clock, END)
    return chain


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def chain(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    with shanghai_chain(request.param, tmp_path_factory, "kpis", END) as (ctx, clock):
        yield build(ctx, clock)


@contextmanager
def shanghai_chain(
    backend: str, factory: pytest.TempPathFactory, name: str, end: datetime
) -> Iterator[tuple[Context, FrozenClock]]:
    """An empty chain's context on `backend` in Shanghai's time, its clock at `end`."""
    with migrated_url(backend, factory, name) as url:
        engine = make_engine(url)
        try:
            clock = FrozenClock(end)
            yield Context(engine=engine, settings=Settings(timezone="Asia/Shanghai"), clock=clock), clock
        finally:
            engine.dispose()
