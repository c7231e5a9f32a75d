"""Coupon use in the KPIs, on both backends: the coupons a store's sales used and what they took off,
on the day of the sale; a coupon given back by a full return no longer counts."""

from __future__ import annotations

from datetime import timedelta

from loyalty.bootstrap import Context, FrozenClock
from loyalty.services import kpis, members, merchants, purchases, seed
from loyalty.services.offers.book import define_offer
from loyalty.services.offers.coupons import issue_coupons
from loyalty.services.schemas import MemberIn, PurchaseIn, PurchaseLineIn, ReturnIn
from tests.core.conftest import clock, ctx

__all__ = ["clock", "ctx"]


def test_coupons_used_and_their_discount_by_day(ctx: Context) -> None:
    seed.ensure_programme(ctx)
    store = merchants.list_stores(ctx)[0].id
    who = [
        members.register_member(ctx, MemberIn(phone=f"+861390088{i:04d}", name=f"K{i}")).id for i in range(3)
    ]
    define_offer(
        ctx, {"code": "k-20", "name": "满100减20", "kind": "ladder", "steps": [{"over": 100, "off": 20}]}
    )
    codes = issue_coupons(ctx, "k-20", member_ids=who).codes
    start = ctx.now()
    for i, (member, code) in enumerate(zip(who, codes, strict=True)):
        at = start + timedelta(days=i)
        ctx.clock = FrozenClock(at)
        sale = PurchaseIn(
            store_id=store,
            member_id=member,
            order_id=f"K-{i}",
            occurred_at=at,
            coupon_codes=[code],
            lines=[PurchaseLineIn(sku="A", quantity=1, unit_price_minor=15_000)],
        )
        purchases.post_purchase(ctx, sale)
    ctx.clock = FrozenClock(start + timedelta(days=2, hours=1))  # the third sale returned whole
    purchases.post_return(
        ctx,
        ReturnIn(
            store_id=store, order_id="K-2", return_id="KR-2", occurred_at=ctx.now(), refund_minor=13_000
        ),
    )
    days = [(start + timedelta(days=i)).astimezone(ctx.settings.tz).date() for i in range(3)]
    report = kpis.store_kpis(ctx, store, start=days[0], end=days[2])
    assert (report.summary.coupons_used, report.summary.coupon_discount_minor) == (2, 4_000)
    by_day = {b.start: (b.coupons_used, b.coupon_discount_minor) for b in report.series}
    assert by_day == {days[0]: (1, 2_000), days[1]: (1, 2_000), days[2]: (0, 0)}
