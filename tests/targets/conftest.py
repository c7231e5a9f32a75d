"""A small chain with a known story, for checking store targets by hand (see tests/targets/test_*.py).

Four stores: A (the seed's S001), C and D in Asia/Shanghai (UTC+8, region East), B in Europe/Berlin
(CET until 29 March 2026, region West). D opened on 2026-03-10. Every sale is anonymous unless said:

    March 2025     A ¥300; B ¥100; C ¥700 of which ¥100 refunded the next day (net ¥600)
    October 2025   m1 registers at A, m2 at C
    19 Jan – 16 Mar 2026 (the eight weeks before "now", and today)
                   A ¥500 every Monday at 10:00 (19 Jan … 9 Mar, and 16 Mar, today)
                   C ¥200 every Saturday at 12:00 (24 Jan … 14 Mar)
                   B ¥300 every Sunday at 12:00 CET (25 Jan … 15 Mar), and ¥80 on Saturday 28 Feb at
                   23:30 CET (already 1 March in Shanghai)
                   D ¥100 on 10 and 12 March at 12:00 and on the 16th at 09:00
                   m3 registers at A on Tuesday 3 March, m4 at B on Thursday 5 March

"Now" is 2026-03-16 04:00 UTC, a Monday: 12:00 in Shanghai (half of the 16th gone), 05:00 in Berlin.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine

from loyalty.bootstrap import Context, FrozenClock
from loyalty.config import Settings
from loyalty.domain.actors import Actor
from loyalty.services import members, merchants, purchases, seed
from loyalty.services.merchants import StoreChanges
from loyalty.services.schemas import MemberIn, PurchaseIn, PurchaseLineIn, ReturnIn, StoreIn

SHANGHAI = timezone(timedelta(hours=8))
CET = timezone(timedelta(hours=1))
NOW = datetime(2026, 3, 16, 4, 0, tzinfo=UTC)
ADMIN = Actor(kind="staff", id="7", role="admin")


@dataclass
class Chain:
    ctx: Context
    clock: FrozenClock
    a: int
    b: int
    c: int
    d: int


def _weekly(first: datetime, weeks: int) -> list[datetime]:
    return [first + timedelta(weeks=i) for i in range(weeks)]


def build(ctx: Context, clock: FrozenClock) -> Chain:
    def at(when: datetime) -> None:
        clock.now = when.astimezone(UTC)

    at(datetime(2025, 1, 2, 10, 0, tzinfo=SHANGHAI))
    ids = seed.ensure_programme(ctx)
    merchants.update_store(ctx, ids.store_id, StoreChanges(region="East"))

    def store(code: str, zone: str, region: str) -> int:
        data = StoreIn(merchant_id=ids.merchant_id, code=code, name=code, timezone=zone, region=region)
        return merchants.create_store(ctx, data).id

    shops = {
        "A": ids.store_id,
        "B": store("BER", "Europe/Berlin", "West"),
        "C": store("SH2", "Asia/Shanghai", "East"),
    }

    def sell(shop: str, yuan: int) -> None:
        line = PurchaseLineIn(sku="cake", category="food", quantity=1, unit_price_minor=yuan * 100)
        sale = PurchaseIn(
            store_id=shops[shop],
            order_id=f"O{clock.now:%Y%m%d%H%M}{shop}",
            occurred_at=clock.now,
            lines=[line],
        )
        purchases.post_purchase(ctx, sale)

    def register(name: str, shop: str) -> None:
        phone = f"+8613900000{int(name[1:]):03d}"
        members.register_member(ctx, MemberIn(phone=phone, name=name, registration_store_id=shops[shop]))

    def refund_c() -> None:
        back = ReturnIn(
            store_id=shops["C"],
            return_id="R1",
            order_id="O202503110200C",
            occurred_at=clock.now,
            refund_minor=10_000,
        )
        purchases.post_return(ctx, back)

    def open_d() -> None:
        shops["D"] = store("NEW", "Asia/Shanghai", "East")

    story: list[tuple[datetime, Callable[[], None]]] = [
        (datetime(2025, 3, 10, 12, 0, tzinfo=SHANGHAI), lambda: sell("A", 300)),
        (datetime(2025, 3, 10, 12, 0, tzinfo=CET), lambda: sell("B", 100)),
        (datetime(2025, 3, 11, 10, 0, tzinfo=SHANGHAI), lambda: sell("C", 700)),
        (datetime(2025, 3, 12, 10, 0, tzinfo=SHANGHAI), refund_c),
        (datetime(2025, 10, 1, 10, 0, tzinfo=SHANGHAI), lambda: register("m1", "A")),
        (datetime(2025, 10, 2, 10, 0, tzinfo=SHANGHAI), lambda: register("m2", "C")),
        (datetime(2026, 2, 28, 23, 30, tzinfo=CET), lambda: sell("B", 80)),
        (datetime(2026, 3, 3, 10, 0, tzinfo=SHANGHAI), lambda: register("m3", "A")),
        (datetime(2026, 3, 5, 10, 0, tzinfo=CET), lambda: register("m4", "B")),
        (datetime(2026, 3, 10, 9, 0, tzinfo=SHANGHAI), open_d),
        (datetime(2026, 3, 10, 12, 0, tzinfo=SHANGHAI), lambda: sell("D", 100)),
        (datetime(2026, 3, 12, 12, 0, tzinfo=SHANGHAI), lambda: sell("D", 100)),
        (datetime(2026, 3, 16, 9, 0, tzinfo=SHANGHAI), lambda: sell("D", 100)),
    ]
    story += [(t, lambda: sell("A", 500)) for t in _weekly(datetime(2026, 1, 19, 10, 0, tzinfo=SHANGHAI), 9)]
    story += [(t, lambda: sell("C", 200)) for t in _weekly(datetime(2026, 1, 24, 12, 0, tzinfo=SHANGHAI), 8)]
    story += [(t, lambda: sell("B", 300)) for t in _weekly(datetime(2026, 1, 25, 12, 0, tzinfo=CET), 8)]
    for when, happen in sorted(story, key=lambda e: e[0]):
        at(when)
        happen()
    at(NOW)
    return Chain(ctx, clock, shops["A"], shops["B"], shops["C"], shops["D"])


@pytest.fixture
def chain(engine: Engine) -> Chain:
    clock = FrozenClock(NOW)
    ctx = Context(engine=engine, settings=Settings(timezone="Asia/Shanghai"), clock=clock)
    return build(ctx, clock)
