"""The satisfaction KPI against a small case worked out by hand, on both backends: ratings count on
the day of the sale rated, the average to two decimals, CSAT (4s and 5s) and the response rate
(rated sales against the members' sales), for the store, each day and each staff code.

    day 1 (2026-01-05, Shanghai)            day 2 (2026-01-06)
    S1 Alice, cashier C1 → rated 5          S4 Alice, C2 → rated 2
    S2 Bob,   cashier C1 → rated 4          S5 Bob,   C2 → not rated
    S3 anonymous, C2 (no member: not in the response rate)

All ratings are given on day 3. Store: 3 ratings, mean 11 / 3 = 3.67, CSAT 2 / 3 = 0.6667, response
3 of 4 members' sales = 0.7500. Day 1: 4.50, 1.0000, 1.0000; day 2: 2.00, 0.0000, 0.5000.
C1: 4.50, 1.0000, 2 of 2 = 1.0000; C2: 2.00, 0.0000, 1 of 2 = 0.5000.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from loyalty.bootstrap import Context, FrozenClock
from loyalty.services import feedback, kpis
from loyalty.services.kpis.schemas import mean_rating
from tests.core.conftest import clock, ctx
from tests.feedback.helpers import sell, shop

__all__ = ["clock", "ctx"]

DAY1, DAY2 = date(2026, 1, 5), date(2026, 1, 6)


def _sat(s: kpis.Satisfaction) -> tuple[int, int, Decimal | None, Decimal | None, Decimal | None]:
    return (s.ratings, s.satisfied, s.average_rating, s.csat, s.response_rate)


def test_satisfaction_by_store_day_and_staff_as_worked_out_by_hand(ctx: Context, clock: FrozenClock) -> None:
    s = shop(ctx)
    t0 = clock.now
    s1 = sell(ctx, s.store_a, s.alice, staff="C1")
    s2 = sell(ctx, s.store_a, s.bob, staff="C1")
    sell(ctx, s.store_a, None, staff="C2")
    clock.now = t0 + timedelta(days=1)
    s4 = sell(ctx, s.store_a, s.alice, staff="C2")
    sell(ctx, s.store_a, s.bob, staff="C2")
    sell(ctx, s.store_b, s.bob, staff="C9")  # another store's sale: not in store A's figures
    clock.now = t0 + timedelta(days=2)
    for member, sale, rating in ((s.alice, s1, 5), (s.bob, s2, 4), (s.alice, s4, 2)):
        feedback.rate_purchase(ctx, member, sale, rating)

    report = kpis.store_kpis(ctx, s.store_a, start=DAY1)
    assert _sat(report.summary.satisfaction) == (3, 2, Decimal("3.67"), Decimal("0.6667"), Decimal("0.7500"))
    by_day = {b.start: _sat(b.satisfaction) for b in report.series}
    assert by_day == {
        DAY1: (2, 2, Decimal("4.50"), Decimal("1.0000"), Decimal("1.0000")),
        DAY2: (1, 0, Decimal("2.00"), Decimal("0.0000"), Decimal("0.5000")),
        DAY2 + timedelta(days=1): (0, 0, None, None, None),  # rated on day 3, counted on the sales' days
    }
    weekly = kpis.store_kpis(ctx, s.store_a, period="week", start=DAY1)
    assert _sat(weekly.series[0].satisfaction) == _sat(report.summary.satisfaction)

    staff = kpis.staff_kpis(ctx, [s.store_a], start=DAY1)
    by_staff = {f.staff: _sat(f.satisfaction) for f in staff.staff}
    assert by_staff == {
        "C1": (2, 2, Decimal("4.50"), Decimal("1.0000"), Decimal("1.0000")),
        "C2": (1, 0, Decimal("2.00"), Decimal("0.0000"), Decimal("0.5000")),
    }
    chain = kpis.chain_kpis(ctx, start=DAY1)
    # the chain adds store B's sale to Bob (not rated): 3 of 5 members' sales
    assert _sat(chain.summary.satisfaction) == (3, 2, Decimal("3.67"), Decimal("0.6667"), Decimal("0.6000"))
    before = kpis.store_kpis(ctx, s.store_a, start=DAY1 - timedelta(days=3), end=DAY1 - timedelta(days=1))
    assert _sat(before.summary.satisfaction) == (0, 0, None, None, None)


def test_the_average_rating_is_a_decimal_to_two_places() -> None:
    assert mean_rating(87, 20) == Decimal("4.35")
    assert mean_rating(2, 3) == Decimal("0.67")
    assert mean_rating(9, 2) == Decimal("4.50")
    assert mean_rating(0, 0) is None
