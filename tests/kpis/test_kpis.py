"""The KPIs of the small chain in conftest.py, each worked out by hand from its story, on both backends.

The range is 2026-03-27 … 2026-03-31 (a Friday to a Tuesday). Before it, store A had m6, m4 and m1 as
members (m7 was deactivated, so never counts); m2 joined A on the 28th, m3 joined B on the 28th (Berlin
time) and m5, of no store, on the 30th.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import delete, insert

from loyalty.db.analytics_tables import member_scores
from loyalty.domain.errors import InvalidInput, NotFound
from loyalty.services import kpis
from loyalty.services.kpis.periods import Piece, calendar, day_start, pieces
from tests.kpis.conftest import Chain

FIRST, LAST = date(2026, 3, 27), date(2026, 3, 31)


def _by_day(*values: int) -> dict[date, int]:
    """The figures of 27 … 31 March, in order."""
    return {date(2026, 3, 27 + i): v for i, v in enumerate(values)}


def _days(report: kpis.KpiReport, name: str) -> dict[date, Any]:
    return {b.start: getattr(b, name) for b in report.series}


def test_a_stores_figures_on_its_business_days(chain: Chain) -> None:
    report = kpis.store_kpis(chain.ctx, chain.store_a, start=FIRST, end=LAST)
    assert (report.start, report.end, report.timezone, report.currency) == (
        FIRST,
        LAST,
        "Asia/Shanghai",
        "CNY",
    )
    s = report.summary
    # members: 3 before the range, m2 joined on the 28th
    assert (s.members, s.new_members, s.member_growth_rate) == (4, 1, Decimal("0.3333"))
    # A1 ¥100 (m1), A2 ¥50 (anonymous), A3 ¥80 (m2), A4 ¥120 (m1); A3 refunded on the 31st
    assert (s.tickets, s.member_tickets) == (4, 3)
    assert (s.sales_minor, s.member_sales_minor) == (35_000, 30_000)
    assert (s.refunds_minor, s.member_refunds_minor) == (8_000, 8_000)
    assert (s.net_sales_minor, s.member_net_sales_minor) == (27_000, 22_000)
    assert s.member_sales_share == Decimal("0.8148")  # 22,000 / 27,000
    assert (s.average_ticket_minor, s.member_average_ticket_minor, s.other_average_ticket_minor) == (
        8_750,
        10_000,
        5_000,
    )
    # a point per yuan: 100 + 80 + 120; the return took back A3's 80; m1 paid 200 at A; the points of
    # A's members expired: m6's 2,510 (of 2025, at A and B), m4's 300 and m7's 10
    assert (s.points_issued, s.points_reversed, s.points_redeemed, s.points_expired) == (300, 80, 200, 2_820)
    assert s.redemption_rate == Decimal("0.6667")
    # m1 and m2 bought in the last 90 days, m4 and m6 did not
    assert (s.active_members, s.active_rate) == (2, Decimal("0.5000"))
    assert (s.buyers, s.repeat_buyers, s.repurchase_rate) == (2, 1, Decimal("0.5000"))

    assert [b.start for b in report.series] == [date(2026, 3, d) for d in range(27, 32)]
    # A2 at 00:10 on the 28th in Shanghai is the 28th's, though it was still the 27th in UTC
    assert _days(report, "tickets") == _by_day(1, 2, 0, 1, 0)
    assert _days(report, "sales_minor")[date(2026, 3, 28)] == 13_000
    assert _days(report, "members") == _by_day(3, 4, 4, 4, 4)
    assert _days(report, "points_redeemed")[date(2026, 3, 30)] == 200
    assert _days(report, "points_expired")[date(2026, 3, 31)] == 2_820
    assert _days(report, "refunds_minor")[date(2026, 3, 31)] == 8_000
    assert _days(report, "member_sales_share")[date(2026, 3, 29)] is None  # nothing sold: no figure
    assert _days(report, "member_sales_share")[date(2026, 3, 28)] == Decimal("0.6154")  # 8,000 / 13,000


def test_a_store_in_a_zone_with_summer_time(chain: Chain) -> None:
    """Berlin's clocks went forward on the 29th: B4 at 00:30 CEST on the 30th (22:30 UTC on the 29th)
    is the 30th's; B1 at 23:30 CET on the 28th stays the 28th's."""
    report = kpis.store_kpis(chain.ctx, chain.store_b, start=FIRST, end=LAST)
    assert report.timezone == "Europe/Berlin"
    assert _days(report, "tickets") == _by_day(0, 1, 2, 1, 0)
    assert _days(report, "sales_minor") == _by_day(0, 2_000, 9_000, 4_000, 0)
    assert _days(report, "new_members")[date(2026, 3, 28)] == 1
    s = report.summary
    assert (s.members, s.new_members, s.member_growth_rate) == (1, 1, None)  # nobody before: no rate
    assert (s.tickets, s.sales_minor, s.member_sales_minor, s.member_sales_share) == (
        4,
        15_000,
        6_000,
        Decimal("0.4000"),
    )
    assert (s.average_ticket_minor, s.member_average_ticket_minor, s.other_average_ticket_minor) == (
        3_750,
        6_000,
        3_000,
    )
    assert (s.points_issued, s.points_redeemed, s.redemption_rate) == (60, 0, Decimal("0.0000"))
    assert (s.active_members, s.active_rate, s.buyers, s.repeat_buyers) == (1, Decimal("1.0000"), 1, 0)


def test_the_chain_adds_up_its_stores_on_their_own_days(chain: Chain) -> None:
    report = kpis.chain_kpis(chain.ctx, start=FIRST, end=LAST)
    assert report.store is None
    s = report.summary
    # m2 (A) and m3 (B) on the 28th, m5 (no store) on the 30th
    assert (s.members, s.new_members, s.member_growth_rate) == (6, 3, Decimal("1.0000"))
    assert _days(report, "members") == _by_day(3, 5, 5, 6, 6)
    assert _days(report, "tickets") == _by_day(1, 3, 2, 2, 0)
    assert _days(report, "sales_minor") == _by_day(10_000, 15_000, 9_000, 16_000, 0)
    assert (s.tickets, s.member_tickets, s.sales_minor, s.member_sales_minor) == (8, 4, 50_000, 36_000)
    assert (s.net_sales_minor, s.member_net_sales_minor, s.member_sales_share) == (
        42_000,
        28_000,
        Decimal("0.6667"),
    )
    assert (s.average_ticket_minor, s.member_average_ticket_minor, s.other_average_ticket_minor) == (
        6_250,
        9_000,
        3_500,
    )
    assert (s.points_issued, s.points_reversed, s.points_redeemed, s.points_expired) == (360, 80, 200, 2_820)
    assert s.redemption_rate == Decimal("0.5556")
    assert (s.active_members, s.active_rate) == (3, Decimal("0.5000"))  # m1, m2, m3 of six
    assert (s.buyers, s.repeat_buyers, s.repurchase_rate) == (3, 1, Decimal("0.3333"))


def test_weeks_start_on_monday_and_the_last_ends_with_the_range(chain: Chain) -> None:
    report = kpis.store_kpis(chain.ctx, chain.store_a, period="week", start=FIRST, end=LAST)
    assert report.start == date(2026, 3, 23)  # `from` moved back to its week's Monday
    assert [(b.start, b.end) for b in report.series] == [
        (date(2026, 3, 23), date(2026, 3, 29)),
        (date(2026, 3, 30), date(2026, 3, 31)),
    ]
    first, second = report.series
    assert (first.tickets, first.sales_minor, first.member_sales_minor, first.points_issued) == (
        3,
        23_000,
        18_000,
        180,
    )
    assert (first.members, first.new_members) == (4, 1)
    assert (second.tickets, second.sales_minor, second.refunds_minor, second.net_sales_minor) == (
        1,
        12_000,
        8_000,
        4_000,
    )
    assert (second.points_redeemed, second.points_expired, second.members) == (200, 2_820, 4)


def test_a_month_counts_its_sign_ups_from_its_first_day(chain: Chain) -> None:
    report = kpis.chain_kpis(chain.ctx, period="month", start=FIRST, end=LAST)
    assert report.start == date(2026, 3, 1)
    (march,) = report.series
    # m6 and m4 before March; m1, m2, m3 and m5 in it (m7 deactivated)
    assert (march.members, march.new_members, march.member_growth_rate) == (6, 4, Decimal("2.0000"))
    assert (march.tickets, march.sales_minor) == (8, 50_000)


def test_a_long_range_of_the_chain_counts_each_zones_own_days(chain: Chain) -> None:
    """1 May 2025 … 31 March 2026, by month: m7's ¥10 at A (00:30 on 1 May in Shanghai) is in, m6's ¥10
    at B (20:00 on 30 April in Berlin, two hours later in UTC) is out, for the receipts and for the
    repeat buyers alike, read by store (short ranges) or by member (long ones)."""
    from loyalty.services.kpis import sales

    report = kpis.chain_kpis(chain.ctx, period="month", start=date(2025, 5, 1), end=LAST)
    assert len(report.series) == 11
    tickets = {b.start: b.tickets for b in report.series if b.tickets}
    assert tickets == {date(2025, 5, 1): 1, date(2025, 7, 1): 1, date(2026, 3, 1): 8}
    # m7, m6 (July only), m1 (twice), m2, m3
    assert (report.summary.buyers, report.summary.repeat_buyers) == (5, 1)
    days = (LAST - date(2025, 5, 1)).days
    assert days >= sales.LONG_RANGE_DAYS  # read in member order
    try:
        sales.LONG_RANGE_DAYS = days + 1  # the same range read store by store
        again = kpis.chain_kpis(chain.ctx, period="month", start=date(2025, 5, 1), end=LAST).summary
    finally:
        sales.LONG_RANGE_DAYS = 92
    assert (again.buyers, again.repeat_buyers) == (5, 1)


def test_a_year_of_days_is_read_in_several_statements(chain: Chain) -> None:
    """366 days in two zones are 732 ranges of the index: more than one UNION ALL may hold on SQLite."""
    from loyalty.services.kpis import sales

    report = kpis.chain_kpis(chain.ctx, start=date(2025, 3, 31), end=LAST)
    assert len(report.series) == 366 > sales.ARMS_PER_STATEMENT / 2
    # m6 in Berlin, m7 and m6 at A in 2025; the eight of March 2026
    assert report.summary.tickets == 11
    assert {b.start: b.tickets for b in report.series if b.tickets}[date(2025, 4, 30)] == 1


def test_sleeping_members_by_tier_without_scores(chain: Chain) -> None:
    """No scores stored: high value is a tier above the first. Only m6 reached one (silver, with
    ¥2,500 in July 2025, after ¥10 in Berlin), and has not bought since."""
    sleeping = kpis.store_kpis(chain.ctx, chain.store_a, start=FIRST, end=LAST).sleeping
    assert (sleeping.rule, sleeping.total) == ("tier", 1)
    (m6,) = sleeping.members
    assert (m6.member_id, m6.name, m6.registration_store_id) == (chain.m["m6"], "m6", chain.store_a)
    assert (m6.tier_code, m6.purchases, m6.net_spend_minor, m6.days_since_purchase) == (
        "silver",
        2,
        251_000,
        273,
    )
    assert m6.last_purchase_at == datetime(2025, 7, 1, 2, 0, tzinfo=UTC)
    assert m6.phone.startswith("+86139")  # the stored number: entry points mask it
    assert (m6.segment, m6.rfm_code, m6.clv_minor) == (None, None, None)
    chain_wide = kpis.chain_kpis(chain.ctx, start=FIRST, end=LAST).sleeping
    assert [m.member_id for m in chain_wide.members] == [chain.m["m6"]]
    assert kpis.store_kpis(chain.ctx, chain.store_b, start=FIRST, end=LAST).sleeping.total == 0
    # a longer silence asked for: m6's last purchase, 273 days back, is within 300 days
    assert (
        kpis.store_kpis(chain.ctx, chain.store_a, start=FIRST, end=LAST, active_days=300).sleeping.total == 0
    )
    counted_only = kpis.store_kpis(chain.ctx, chain.store_a, start=FIRST, end=LAST, sleeping=0).sleeping
    assert (counted_only.total, counted_only.members) == (1, [])


def test_sleeping_members_from_the_stored_scores(chain: Chain) -> None:
    """Stored scores decide who is high value; the silence is still read live."""
    scored = {"m1": ("retain", "122"), "m4": ("win_back", "112"), "m6": ("general_develop", "211")}
    rows = [
        {
            "member_id": chain.m[name],
            "rfm_code": code,
            "segment": segment,
            "recency_days": 100,
            "frequency": 1,
            "monetary_minor": 1000,
            "p_alive": 0.25,
            "clv_minor": 4200,
            "model": "bgnbd",
            "computed_at": chain.clock.now,
        }
        for name, (segment, code) in scored.items()
    ]
    with chain.ctx.engine.begin() as conn:
        conn.execute(insert(member_scores), rows)
    try:
        sleeping = kpis.store_kpis(chain.ctx, chain.store_a, start=FIRST, end=LAST).sleeping
    finally:
        with chain.ctx.engine.begin() as conn:
            conn.execute(delete(member_scores))
    # m1 is high value but bought on the 30th; m6 is not high value by its scores; m4 never bought
    assert (sleeping.rule, sleeping.total) == ("scores", 1)
    (m4,) = sleeping.members
    assert (m4.member_id, m4.segment, m4.rfm_code, m4.clv_minor, m4.p_alive) == (
        chain.m["m4"],
        "win_back",
        "112",
        4200,
        0.25,
    )
    assert (m4.purchases, m4.net_spend_minor, m4.last_purchase_at, m4.days_since_purchase) == (
        0,
        0,
        None,
        None,
    )
    assert m4.tier_code == "normal"  # the scores, not the tier, made them high value


def test_defaults_show_the_last_thirty_days_up_to_today(chain: Chain) -> None:
    report = kpis.store_kpis(chain.ctx, chain.store_a)
    today = date(2026, 4, 2)  # the clock: 2026-04-02 12:00 in Shanghai
    assert (report.end, report.start, len(report.series)) == (today, date(2026, 3, 4), 30)
    assert report.summary.tickets == 4
    assert report.active_days == kpis.DEFAULT_ACTIVE_DAYS


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"period": "year"}, "period"),
        ({"start": date(2026, 3, 31), "end": date(2026, 3, 1)}, "from"),
        ({"end": date(2026, 4, 3)}, "to"),
        ({"start": date(2024, 1, 1), "end": date(2026, 3, 1)}, "from"),
        ({"period": "month", "start": date(2020, 1, 1), "end": date(2026, 3, 1)}, "from"),
        ({"active_days": 0}, "active_days"),
        ({"sleeping": 201}, "sleeping"),
    ],
)
def test_a_bad_period_range_or_option_names_its_field(
    chain: Chain, kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        kpis.store_kpis(chain.ctx, chain.store_a, **kwargs)
    assert caught.value.code == "KPI_QUERY_INVALID"
    assert [e["field"] for e in caught.value.details["errors"]] == [field]


def test_an_unknown_store_is_not_found(chain: Chain) -> None:
    with pytest.raises(NotFound) as caught:
        kpis.store_kpis(chain.ctx, 999_999)
    assert caught.value.code == "STORE_NOT_FOUND"


@pytest.mark.parametrize("chain", ["sqlite"], indirect=True)  # PostgreSQL plans by its statistics
def test_a_stores_receipts_are_read_from_the_index_alone(chain: Chain) -> None:
    """Each bucket's receipts are one range of `ix_purchases_store_occurred`, without the table."""
    from sqlalchemy import event

    from loyalty.services.common import read
    from loyalty.services.kpis.sales import bucket_receipts
    from loyalty.services.kpis.scope import make_scope, store_refs

    plans: list[str] = []

    def plan(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if "FROM purchases" in statement:
            rows = cursor.connection.execute("EXPLAIN QUERY PLAN " + statement, parameters).fetchall()
            plans.extend(str(r[-1]) for r in rows)

    with read(chain.ctx) as conn:
        stores = store_refs(conn)
        store = next(s for s in stores if s.id == chain.store_a)
        scope = make_scope(stores, store, calendar("week", FIRST, LAST, LAST), store.timezone, "sqlite")
        event.listen(chain.ctx.engine, "before_cursor_execute", plan)
        try:
            assert sum(r.tickets for r in bucket_receipts(conn, scope).values()) == 4
        finally:
            event.remove(chain.ctx.engine, "before_cursor_execute", plan)
    searches = [p for p in plans if "purchases" in p]
    assert len(searches) == 2, plans  # one range per week
    assert all("COVERING INDEX ix_purchases_store_occurred" in p for p in searches), plans
    assert not any("TEMP B-TREE" in p for p in plans), plans  # nothing sorted


def test_business_days_in_a_zone_with_summer_time_are_cut_where_the_offset_changes() -> None:
    """Berlin, 2026-03-28 … 03-30: one shift (+1 h) up to the 29th, the 29th (23 hours) named outright,
    then +2 h."""
    assert pieces("Europe/Berlin", date(2026, 3, 28), date(2026, 3, 30)) == (
        Piece(day_start(date(2026, 3, 29), "Europe/Berlin"), 3600, None),
        Piece(day_start(date(2026, 3, 30), "Europe/Berlin"), None, date(2026, 3, 29)),
        Piece(day_start(date(2026, 3, 31), "Europe/Berlin"), 7200, None),
    )
    assert day_start(date(2026, 3, 30), "Europe/Berlin") == datetime(2026, 3, 29, 22, 0, tzinfo=UTC)
    assert len(pieces("Asia/Shanghai", date(2026, 1, 1), date(2026, 12, 31))) == 1


def test_a_region_adds_up_its_stores_and_their_members(chain: Chain) -> None:
    from loyalty.services import merchants
    from loyalty.services.merchants import StoreChanges

    merchants.update_store(chain.ctx, chain.store_a, StoreChanges(region="华东"))
    merchants.update_store(chain.ctx, chain.store_b, StoreChanges(region="Europe"))
    for region, store in (("华东", chain.store_a), ("Europe", chain.store_b)):
        alone = kpis.store_kpis(chain.ctx, store, start=FIRST, end=LAST)
        grouped = kpis.chain_kpis(chain.ctx, region=region, start=FIRST, end=LAST)
        assert (grouped.region, grouped.store) == (region, None)
        # one store in the region: its figures, on the chain's days (A keeps Shanghai's, as the chain)
        if store == chain.store_a:
            assert grouped.summary == alone.summary
        else:
            s, b = grouped.summary, alone.summary
            assert (s.members, s.tickets, s.sales_minor, s.member_sales_minor) == (
                b.members,
                b.tickets,
                b.sales_minor,
                b.member_sales_minor,
            )
    whole = kpis.chain_kpis(chain.ctx, start=FIRST, end=LAST).summary
    east = kpis.chain_kpis(chain.ctx, region="华东", start=FIRST, end=LAST).summary
    assert east.members < whole.members  # m5, registered at no store, is the chain's only
    with pytest.raises(NotFound) as unknown:
        kpis.chain_kpis(chain.ctx, region="Atlantis", start=FIRST, end=LAST)
    assert unknown.value.code == "REGION_NOT_FOUND"
