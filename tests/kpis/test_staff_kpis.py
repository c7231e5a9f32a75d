"""The KPIs by staff of a small chain with a known story, each figure worked out by hand, on both backends.

Two stores: A (Asia/Shanghai) and B (Europe/Berlin, UTC+1 in early March). The range is 2026-03-02 …
2026-03-06 (a Monday to a Friday); sales sit near midnight so that one counted on the UTC day lands in
the wrong range. Staff are named by the till (`staff`), by the registration (`registered_by`), or not
at all, in which case a staff account posting it is named by its username (li.wei) and anyone else
not (the row of nobody named).

    store A (Shanghai)                                         store B (Berlin)
    02-20 10:00 m1 registers, by C01; +500 points (adjust)     03-03 23:30 CET B1 m2 ¥40 by C01
    03-01 23:30 m2 registers, by C02 (the day before)          03-04 10:00 CET m5 registers, by C03
    03-01 23:59 A0 m1 ¥10 by C01 (the day before)
    03-02 10:00 m3 registers, by C01                           no store:
    03-02 10:05 A1 m1 ¥100 by C01                              03-05 12:00 m6 registers, by C02
    03-02 23:50 A2 anonymous ¥50 by C02
    03-03 00:10 A3 m2 ¥200, coupon ¥20 off: ¥180; C02 named, posted by li.wei's account
    03-03 12:00 m4 registers through li.wei's account (nobody named: li.wei)
    03-04 09:00 A4 m1 ¥300 by C01; 09:05 m1 pays 100 points for order A4
    03-04 10:00 A5 m3 ¥80 through li.wei's account (nobody named: li.wei)
    03-04 11:00 A6 anonymous ¥60, nobody named
    03-05 09:00 m7 registers, by C01; 09:30 m7 is deactivated (counts nowhere)
    03-05 10:00 A1 returned whole (¥100)
    03-05 11:00 m1 pays 50 points, naming no order
    03-06 10:00 m4 claims A2 with its receipt (a member's sale since)
    03-07 00:05 A7 m1 ¥999 by C01 (the day after)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from loyalty.bootstrap import Context, FrozenClock
from loyalty.domain.actors import Actor
from loyalty.domain.errors import InvalidInput, NotFound
from loyalty.services import kpis, members, merchants, points, purchase_claims, purchases, seed
from loyalty.services.kpis.schemas import Satisfaction, StaffFigures, rate
from loyalty.services.offers.book import define_offer
from loyalty.services.offers.coupons import issue_coupons
from loyalty.services.schemas import MemberIn, PurchaseIn, PurchaseLineIn, ReturnIn, StoreIn
from tests.kpis.conftest import shanghai_chain

SHANGHAI = timezone(timedelta(hours=8))
CET = timezone(timedelta(hours=1))
END = datetime(2026, 3, 8, 12, 0, tzinfo=SHANGHAI)
FIRST, LAST = date(2026, 3, 2), date(2026, 3, 6)


@dataclass
class Story:
    ctx: Context
    store_a: int
    store_b: int
    m: dict[str, int]


def _build(ctx: Context, clock: FrozenClock) -> Story:
    def at(when: datetime) -> None:
        clock.now = when.astimezone(UTC)

    at(datetime(2026, 2, 20, 9, 0, tzinfo=SHANGHAI))
    ids = seed.ensure_programme(ctx, expiry_days=365)
    b = merchants.create_store(
        ctx, StoreIn(merchant_id=ids.merchant_id, code="BER", name="Berlin", timezone="Europe/Berlin")
    ).id
    a = ids.store_id
    story = Story(ctx, a, b, {})
    li_wei = Actor(kind="staff", id="7", role="cashier", store_ids=frozenset({a}), name="li.wei")

    def register(
        name: str, when: datetime, store: int | None, by: str | None, actor: Actor | None = None
    ) -> None:
        at(when)
        phone = f"+861390077{len(story.m) + 1:04d}"
        data = MemberIn(phone=phone, name=name, registration_store_id=store, registered_by=by)
        story.m[name] = members.register_member(ctx, data, actor=actor).id

    def sell(
        order: str,
        when: datetime,
        store: int,
        member: str | None,
        yuan: int,
        staff: str | None,
        actor: Actor | None = None,
        coupons: list[str] | None = None,
    ) -> None:
        at(when)
        sale = PurchaseIn(
            store_id=store,
            order_id=order,
            occurred_at=clock.now,
            member_id=story.m[member] if member else None,
            lines=[PurchaseLineIn(sku="cake", category="food", quantity=1, unit_price_minor=yuan * 100)],
            staff=staff,
            coupon_codes=coupons or [],
        )
        purchases.post_purchase(ctx, sale, actor=actor)

    register("m1", datetime(2026, 2, 20, 10, 0, tzinfo=SHANGHAI), a, "C01")
    at(datetime(2026, 2, 20, 11, 0, tzinfo=SHANGHAI))
    points.adjust(ctx, story.m["m1"], 500, reason="welcome", operator="test")
    at(datetime(2026, 3, 1, 12, 0, tzinfo=SHANGHAI))
    define_offer(
        ctx, {"code": "k-20", "name": "满100减20", "kind": "ladder", "steps": [{"over": 100, "off": 20}]}
    )
    register("m2", datetime(2026, 3, 1, 23, 30, tzinfo=SHANGHAI), a, "C02")
    at(datetime(2026, 3, 1, 23, 40, tzinfo=SHANGHAI))
    (coupon,) = issue_coupons(ctx, "k-20", member_ids=[story.m["m2"]]).codes
    sell("A0", datetime(2026, 3, 1, 23, 59, tzinfo=SHANGHAI), a, "m1", 10, "C01")
    register("m3", datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI), a, "C01")
    sell("A1", datetime(2026, 3, 2, 10, 5, tzinfo=SHANGHAI), a, "m1", 100, "C01")
    sell("A2", datetime(2026, 3, 2, 23, 50, tzinfo=SHANGHAI), a, None, 50, "C02")
    sell("A3", datetime(2026, 3, 3, 0, 10, tzinfo=SHANGHAI), a, "m2", 200, "C02", li_wei, [coupon])
    register("m4", datetime(2026, 3, 3, 12, 0, tzinfo=SHANGHAI), a, None, li_wei)
    sell("B1", datetime(2026, 3, 3, 23, 30, tzinfo=CET), b, "m2", 40, "C01")
    sell("A4", datetime(2026, 3, 4, 9, 0, tzinfo=SHANGHAI), a, "m1", 300, "C01")
    at(datetime(2026, 3, 4, 9, 5, tzinfo=SHANGHAI))
    points.redeem(ctx, story.m["m1"], 100, store_id=a, order_id="A4")
    register("m5", datetime(2026, 3, 4, 10, 0, tzinfo=CET), b, "C03")
    sell("A5", datetime(2026, 3, 4, 10, 0, tzinfo=SHANGHAI), a, "m3", 80, None, li_wei)
    sell("A6", datetime(2026, 3, 4, 11, 0, tzinfo=SHANGHAI), a, None, 60, None)
    register("m7", datetime(2026, 3, 5, 9, 0, tzinfo=SHANGHAI), a, "C01")
    at(datetime(2026, 3, 5, 9, 30, tzinfo=SHANGHAI))
    members.deactivate_member(ctx, story.m["m7"], reason="duplicate")
    at(datetime(2026, 3, 5, 10, 0, tzinfo=SHANGHAI))
    purchases.post_return(
        ctx, ReturnIn(store_id=a, return_id="R1", order_id="A1", occurred_at=clock.now, refund_minor=10_000)
    )
    at(datetime(2026, 3, 5, 11, 0, tzinfo=SHANGHAI))
    points.redeem(ctx, story.m["m1"], 50, store_id=a)
    register("m6", datetime(2026, 3, 5, 12, 0, tzinfo=SHANGHAI), None, "C02")
    at(datetime(2026, 3, 6, 10, 0, tzinfo=SHANGHAI))
    purchase_claims.claim_purchase(
        ctx,
        purchase_claims.ClaimIn(store_id=a, order_id="A2", member_id=story.m["m4"], total_minor=5_000),
        actor=li_wei,
    )
    sell("A7", datetime(2026, 3, 7, 0, 5, tzinfo=SHANGHAI), a, "m1", 999, "C01")
    at(END)
    return story


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def story(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    with shanghai_chain(request.param, tmp_path_factory, "staff-kpis", END) as (ctx, clock):
        yield _build(ctx, clock)


def _row(
    staff: str | None,
    *,
    tickets: int = 0,
    member_tickets: int = 0,
    sales: int = 0,
    member_sales: int = 0,
    refunds: int = 0,
    member_refunds: int = 0,
    share: str | None = None,
    average: int | None = None,
    new: int = 0,
    coupons: int = 0,
    discount: int = 0,
    redeemed: int = 0,
) -> StaffFigures:
    return StaffFigures(
        staff=staff,
        tickets=tickets,
        member_tickets=member_tickets,
        sales_minor=sales,
        member_sales_minor=member_sales,
        refunds_minor=refunds,
        member_refunds_minor=member_refunds,
        net_sales_minor=sales - refunds,
        member_net_sales_minor=member_sales - member_refunds,
        member_sales_share=None if share is None else Decimal(share),
        average_ticket_minor=average,
        new_members=new,
        coupons_used=coupons,
        coupon_discount_minor=discount,
        points_redeemed=redeemed,
        # nobody rated these sales: no average nor CSAT, a response rate of 0 where members bought
        satisfaction=Satisfaction(response_rate=rate(0, member_tickets)),
    )


# store A, 2 … 6 March: C01 rang A1 and A4 (A1 returned) and signed m3 up (m7 was deactivated); C02
# rang A2 (claimed by m4 since: a member's) and A3 (¥180 after the coupon); li.wei's account posted A5
# and registered m4, naming nobody; A6 and the 50 points paid without an order name nobody.
C01_AT_A = _row(
    "C01", tickets=2, member_tickets=2, sales=40_000, member_sales=40_000, refunds=10_000,
    member_refunds=10_000, share="1.0000", average=20_000, new=1, redeemed=100,
)  # fmt: skip
C02_AT_A = _row(
    "C02", tickets=2, member_tickets=2, sales=23_000, member_sales=23_000, share="1.0000", average=11_500,
    coupons=1, discount=2_000,
)  # fmt: skip
LI_WEI = _row("li.wei", tickets=1, member_tickets=1, sales=8_000, member_sales=8_000, share="1.0000",
              average=8_000, new=1)  # fmt: skip
NOBODY = _row(None, tickets=1, sales=6_000, share="0.0000", average=6_000, redeemed=50)


def test_a_stores_figures_by_staff(story: Story) -> None:
    report = kpis.staff_kpis(story.ctx, [story.store_a], start=FIRST, end=LAST)
    assert (report.start, report.end, report.timezone, report.currency) == (
        FIRST,
        LAST,
        "Asia/Shanghai",
        "CNY",
    )
    assert report.store is not None
    assert report.store.id == story.store_a
    assert report.store_ids == [story.store_a]
    # most net sales first (C01 ¥300, C02 ¥230, li.wei ¥80), nobody named last
    assert report.staff == [C01_AT_A, C02_AT_A, LI_WEI, NOBODY]


def test_the_staff_rows_add_up_to_the_stores_figures(story: Story) -> None:
    by_staff = kpis.staff_kpis(story.ctx, [story.store_a], start=FIRST, end=LAST).staff
    store = kpis.store_kpis(story.ctx, story.store_a, start=FIRST, end=LAST).summary
    names = (
        "tickets", "member_tickets", "sales_minor", "member_sales_minor", "refunds_minor",
        "member_refunds_minor", "net_sales_minor", "member_net_sales_minor", "new_members", "coupons_used",
        "coupon_discount_minor", "points_redeemed",
    )  # fmt: skip
    summed = {name: sum(getattr(row, name) for row in by_staff) for name in names}
    assert summed == {name: getattr(store, name) for name in names}
    assert (summed["tickets"], summed["points_redeemed"], summed["new_members"]) == (6, 150, 2)


@pytest.mark.parametrize("period", ["day", "week", "month"])
def test_the_dashboard_gets_both_reports_over_the_same_days(story: Story, period: str) -> None:
    """`report_and_staff` computes them side by side: each equals the report computed alone, the staff
    figures over the report's days (a week or month period widens `from` to its bucket's start)."""
    for store, stores in ((story.store_b, [story.store_b]), (None, None)):
        report, by_staff = kpis.report_and_staff(
            story.ctx, store_id=store, staff_stores=stores, period=period, start=FIRST, end=LAST
        )
        alone = (
            kpis.store_kpis(story.ctx, store, period=period, start=FIRST, end=LAST)
            if store is not None
            else kpis.chain_kpis(story.ctx, period=period, start=FIRST, end=LAST)
        )
        assert report.model_dump(exclude={"as_of"}) == alone.model_dump(exclude={"as_of"})
        staff = kpis.staff_kpis(story.ctx, stores, start=report.start, end=report.end)
        assert by_staff.model_dump(exclude={"as_of"}) == staff.model_dump(exclude={"as_of"})
    with pytest.raises(InvalidInput) as caught:
        kpis.report_and_staff(story.ctx, period="day", start=LAST, end=FIRST)
    assert [e["field"] for e in caught.value.details["errors"]] == ["from"]
    with pytest.raises(NotFound):
        kpis.report_and_staff(story.ctx, store_id=99_999)


def test_a_day_counts_its_own_business_day_only(story: Story) -> None:
    """3 March in Shanghai: A3 (at 00:10, still the 2nd in UTC) and m4's sign-up; A2 at 23:50 on the
    2nd is the 2nd's."""
    day = date(2026, 3, 3)
    report = kpis.staff_kpis(story.ctx, [story.store_a], start=day, end=day)
    assert report.staff == [
        _row("C02", tickets=1, member_tickets=1, sales=18_000, member_sales=18_000, share="1.0000",
             average=18_000, coupons=1, discount=2_000),
        _row("li.wei", new=1),
    ]  # fmt: skip


def test_the_chain_adds_every_store_on_its_own_days(story: Story) -> None:
    """B1 (23:30 on the 3rd in Berlin, the 4th in Shanghai) is C01's at B; m5 signed up at B by C03;
    m6, of no store, by C02 (the chain's only)."""
    report = kpis.staff_kpis(story.ctx, start=FIRST, end=LAST)
    assert (report.store, report.store_ids, report.timezone) == (None, None, "Asia/Shanghai")
    c01 = _row(
        "C01", tickets=3, member_tickets=3, sales=44_000, member_sales=44_000, refunds=10_000,
        member_refunds=10_000, share="1.0000", average=14_667, new=1, redeemed=100,
    )  # fmt: skip
    c02 = C02_AT_A.model_copy(update={"new_members": 1})
    assert report.staff == [c01, c02, LI_WEI, _row("C03", new=1), NOBODY]

    berlin = kpis.staff_kpis(story.ctx, [story.store_b], start=FIRST, end=LAST)
    assert berlin.timezone == "Europe/Berlin"
    assert berlin.staff == [
        _row("C01", tickets=1, member_tickets=1, sales=4_000, member_sales=4_000, share="1.0000",
             average=4_000),
        _row("C03", new=1),
    ]  # fmt: skip

    both = kpis.staff_kpis(story.ctx, [story.store_b, story.store_a], start=FIRST, end=LAST)
    assert (both.store, both.store_ids) == (None, sorted([story.store_a, story.store_b]))
    # both stores, but not the member of no store: C02 signed nobody up at A or B
    assert both.staff == [c01, C02_AT_A, LI_WEI, _row("C03", new=1), NOBODY]


def test_defaults_are_the_last_thirty_days_up_to_today(story: Story) -> None:
    report = kpis.staff_kpis(story.ctx, [story.store_a])
    assert (report.start, report.end) == (date(2026, 2, 7), date(2026, 3, 8))
    c01 = next(r for r in report.staff if r.staff == "C01")
    # A0 and A7 are in this range; so is m1's sign-up (20 February)
    assert (c01.tickets, c01.sales_minor, c01.new_members) == (4, 140_900, 2)


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        (None, date(2026, 3, 9), "to"),
        (date(2026, 3, 6), date(2026, 3, 5), "from"),
        (date(2021, 1, 1), date(2026, 3, 1), "from"),
    ],
)
def test_a_bad_range_names_its_field(story: Story, start: date | None, end: date, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        kpis.staff_kpis(story.ctx, [story.store_a], start=start, end=end)
    assert caught.value.code == "KPI_QUERY_INVALID"
    assert [e["field"] for e in caught.value.details["errors"]] == [field]


def test_an_unknown_store_is_not_found(story: Story) -> None:
    with pytest.raises(NotFound) as caught:
        kpis.staff_kpis(story.ctx, [story.store_a, 99_999])
    assert caught.value.code == "STORE_NOT_FOUND"


def test_who_made_each_sale_and_sign_up_is_kept(story: Story) -> None:
    """The till's code, the explicit one over the account posting it, the account's username when
    nobody is named, nothing for the system; a claim keeps who rang the sale."""
    staff = {
        order: purchases.get_purchase(story.ctx, store_id=story.store_a, order_id=order).staff
        for order in ("A1", "A2", "A3", "A5", "A6")
    }
    assert staff == {"A1": "C01", "A2": "C02", "A3": "C02", "A5": "li.wei", "A6": None}
    assert purchases.get_purchase(story.ctx, store_id=story.store_a, order_id="A2").member_id == story.m["m4"]
    registered = {
        name: members.get_member(story.ctx, story.m[name]).registered_by for name in ("m1", "m4", "m6")
    }
    assert registered == {"m1": "C01", "m4": "li.wei", "m6": "C02"}
