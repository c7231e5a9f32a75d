"""A small chain with a known story of fraud, once per backend and test (the scans write into it).

Stores SH (Asia/Shanghai, 上海) and UR (Asia/Urumqi, UTC+6, 乌鲁木齐). In March 2026:

    card   (SH)  buys at SH 12:00 Shanghai time and at UR 10:30 Urumqi time (30 minutes later) on 3 and
                 on 7 March: one card in two cities           → shared_card
    night  (UR)  redeems 800 points at UR at 23:30 Urumqi time on 20 March  → after_hours
    day    (SH)  redeems 800 points at UR on 21 March at 00:30 Shanghai time, 22:30 in Urumqi: an
                 evening in the store's own zone, not flagged
    calm1…3 (SH) buy a coffee now and then
    staff:99     grants 10 manual adjustments of 50 points to calm1…3 on 15 March → staff_adjustments
    setup        funds night and day with 2,000 points each on 1 March (two adjustments: under every line)

Too few members for the statistical methods (they need 30 and 50): a scan says so. The clock ends at
2026-04-01 12:00 in Shanghai; the scan covers 2 to 31 March. Built once per backend and module; each
test starts without flags, suspensions or rule changes (`story`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import delete

from loyalty.bootstrap import Context, FrozenClock
from loyalty.db.anomaly_tables import anomaly_flags, anomaly_rules, redemption_suspensions
from loyalty.db.engine import make_engine
from loyalty.services import members, merchants, points, purchases, seed
from loyalty.services.schemas import MemberIn, PurchaseIn, PurchaseLineIn, StoreIn
from tests.conftest import migrated_url

SHANGHAI = timezone(timedelta(hours=8))
URUMQI = timezone(timedelta(hours=6))
START, END = date(2026, 3, 2), date(2026, 3, 31)


@dataclass
class Story:
    ctx: Context
    clock: FrozenClock
    sh: int
    ur: int
    m: dict[str, int] = field(default_factory=dict)

    def at(self, when: datetime) -> None:
        self.clock.now = when.astimezone(UTC)


def build(url: str) -> Story:
    clock = FrozenClock(datetime(2026, 2, 1, 9, 0, tzinfo=SHANGHAI))
    ctx = Context(engine=make_engine(url), clock=clock)
    ids = seed.ensure_programme(ctx)
    sh = merchants.create_store(
        ctx, StoreIn(merchant_id=ids.merchant_id, code="SH", name="Shanghai", city="上海")
    )
    ur = merchants.create_store(
        ctx,
        StoreIn(
            merchant_id=ids.merchant_id, code="UR", name="Urumqi", city="乌鲁木齐", timezone="Asia/Urumqi"
        ),
    )
    story = Story(ctx, clock, sh.id, ur.id)
    for n, (name, store) in enumerate(
        (
            ("card", sh.id),
            ("night", ur.id),
            ("day", sh.id),
            ("calm1", sh.id),
            ("calm2", sh.id),
            ("calm3", sh.id),
        )
    ):
        story.m[name] = members.register_member(
            ctx, MemberIn(phone=f"+86139000{n:05d}", name=name, registration_store_id=store)
        ).id
    orders = iter(range(1, 1000))

    def sell(name: str, store: int, when: datetime, yuan: int) -> None:
        story.at(when)
        purchases.post_purchase(
            ctx,
            PurchaseIn(
                store_id=store,
                order_id=f"O{next(orders)}",
                occurred_at=clock.now,
                member_id=story.m[name],
                lines=[
                    PurchaseLineIn(sku="latte", category="coffee", quantity=1, unit_price_minor=yuan * 100)
                ],
            ),
        )

    for day in (3, 7):
        sell("card", sh.id, datetime(2026, 3, day, 12, 0, tzinfo=SHANGHAI), 30)
        sell("card", ur.id, datetime(2026, 3, day, 10, 30, tzinfo=URUMQI), 30)
    for k, name in enumerate(("calm1", "calm2", "calm3")):
        sell(name, sh.id, datetime(2026, 3, 4 + k, 9, 0, tzinfo=SHANGHAI), 25)
    story.at(datetime(2026, 3, 1, 9, 0, tzinfo=SHANGHAI))
    for name in ("night", "day"):
        points.adjust(ctx, story.m[name], 2_000, reason="opening gift", operator="setup")
    for k in range(10):
        story.at(datetime(2026, 3, 15, 10, k, tzinfo=SHANGHAI))
        points.adjust(ctx, story.m[f"calm{1 + k % 3}"], 50, reason="goodwill", operator="staff:99")
    story.at(datetime(2026, 3, 20, 23, 30, tzinfo=URUMQI))
    points.redeem(ctx, story.m["night"], 800, store_id=ur.id)
    story.at(datetime(2026, 3, 21, 0, 30, tzinfo=SHANGHAI))
    points.redeem(ctx, story.m["day"], 800, store_id=ur.id)
    story.at(datetime(2026, 4, 1, 12, 0, tzinfo=SHANGHAI))
    return story


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    """The story, once per backend and module (building it per test would cost a second a test)."""
    with migrated_url(request.param, tmp_path_factory, "anomalies") as url:
        story = build(url)
        yield story
        story.ctx.engine.dispose()


@pytest.fixture
def story(built: Story) -> Story:
    """The story with no flag, suspension or changed rule yet: what a test's scans and reviews wrote
    is taken away before the next test (the activity itself is never changed inside the period)."""
    with built.ctx.engine.begin() as conn:
        for table in (redemption_suspensions, anomaly_flags, anomaly_rules):
            conn.execute(delete(table))
    built.at(datetime(2026, 4, 1, 12, 0, tzinfo=SHANGHAI))
    return built
