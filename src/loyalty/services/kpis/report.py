"""A store's (or the chain's) KPI report: its figures per day, week or month, the range's summary and
the sleeping members to call back, read in one transaction so the figures agree with each other."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, select

from loyalty.bootstrap import Context
from loyalty.db.core_tables import stores
from loyalty.domain.errors import NotFound
from loyalty.services.common import default_programme, read
from loyalty.services.kpis import members as members_kpis
from loyalty.services.kpis import points as points_kpis
from loyalty.services.kpis import sales as sales_kpis
from loyalty.services.kpis import satisfaction as satisfaction_kpis
from loyalty.services.kpis.coupons import daily_coupons
from loyalty.services.kpis.periods import calendar, check_range, today_in
from loyalty.services.kpis.schemas import (
    Bucket,
    KpiReport,
    Summary,
    mean_minor,
    rate,
)
from loyalty.services.kpis.scope import make_scope, store_refs
from loyalty.services.kpis.sleeping import sleeping_members

#: "active": bought in the last 90 days (as the demo's headline and the analytics report count it)
DEFAULT_ACTIVE_DAYS = 90
MAX_ACTIVE_DAYS = 366
DEFAULT_SLEEPING = 20
MAX_SLEEPING = 200


def store_kpis(
    ctx: Context,
    store_id: int,
    *,
    period: str = "day",
    start: date | None = None,
    end: date | None = None,
    active_days: int = DEFAULT_ACTIVE_DAYS,
    sleeping: int = DEFAULT_SLEEPING,
) -> KpiReport:
    """One store's report over the business days [start, end] of its time zone (see `kpis.periods`
    for the defaults); STORE_NOT_FOUND for an unknown store, KPI_QUERY_INVALID naming the bad field."""
    return _report(ctx, store_id, period, start, end, active_days, sleeping)


def chain_kpis(
    ctx: Context,
    *,
    region: str | None = None,
    period: str = "day",
    start: date | None = None,
    end: date | None = None,
    active_days: int = DEFAULT_ACTIVE_DAYS,
    sleeping: int = DEFAULT_SLEEPING,
) -> KpiReport:
    """The whole chain's report: every store's figures on its own business days, added up by day, and
    every member (those registered at no store too); with `region`, that region's stores and their
    members only (REGION_NOT_FOUND when no store is in it)."""
    return _report(ctx, None, period, start, end, active_days, sleeping, region=region)


def _report(
    ctx: Context,
    store_id: int | None,
    period: str,
    start: date | None,
    end: date | None,
    active_days: int,
    sleeping: int,
    *,
    region: str | None = None,
) -> KpiReport:
    check_range("active_days", active_days, 1, MAX_ACTIVE_DAYS)
    check_range("sleeping", sleeping, 0, MAX_SLEEPING)
    with read(ctx) as conn:
        every = store_refs(conn)
        store = None
        if store_id is not None:
            store = next((s for s in every if s.id == store_id), None)
            if store is None:
                raise NotFound("STORE_NOT_FOUND", "store {store_id} does not exist", {"store_id": store_id})
        if region is not None:
            held = set(conn.execute(select(stores.c.id).where(stores.c.region == region)).scalars())
            every = [s for s in every if s.id in held]
            if not every:
                raise NotFound("REGION_NOT_FOUND", "no store is in region {region}", {"region": region})
        zone = store.timezone if store is not None else ctx.settings.timezone
        now = ctx.now()
        cal = calendar(period, start, end, today_in(zone, now))
        scope = make_scope(every, store, cal, zone, conn.dialect.name, chain=store is None and region is None)
        receipts = sales_kpis.bucket_receipts(conn, scope)
        refunds = sales_kpis.daily_refunds(conn, scope)
        before, joined = members_kpis.sign_ups(conn, scope)
        redeemed = points_kpis.daily_redeemed(conn, scope)
        expired = points_kpis.daily_expired(conn, scope)
        buyers, repeat = sales_kpis.repeat_buyers(conn, scope)
        at_end, active = members_kpis.active_members(conn, scope, active_days)
        asleep = sleeping_members(conn, scope, active_days, sleeping)
        used = daily_coupons(conn, scope)
        rated = satisfaction_kpis.daily_ratings(conn, scope)
        currency = report_currency(conn, ctx)
    daily = _Days(receipts, refunds, joined, redeemed, expired, used, rated)
    series = []
    members_then = before
    for bucket in cal.buckets:
        span = list(_span(bucket.start, bucket.end))
        figures = daily.figures([bucket.start], span, members_then)
        members_then = figures["members"]
        series.append(Bucket(start=bucket.start, end=bucket.end, **figures))
    whole = daily.figures([b.start for b in cal.buckets], list(_span(cal.first, cal.last)), before)
    summary = Summary(
        **whole,
        active_members=active,
        active_rate=rate(active, at_end),
        buyers=buyers,
        repeat_buyers=repeat,
        repurchase_rate=rate(repeat, buyers),
    )
    return KpiReport(
        store=store,
        region=region,
        period=cal.period,
        start=cal.first,
        end=cal.last,
        timezone=zone,
        currency=currency,
        active_days=active_days,
        as_of=now,
        summary=summary,
        series=series,
        sleeping=asleep,
    )


def report_currency(conn: Connection, ctx: Context) -> str:
    """The currency a report's money is in: the programme's (the settings' before there is one)."""
    try:
        return default_programme(conn).currency
    except NotFound:  # no programme yet: nothing was sold either
        return ctx.settings.currency


def _span(first: date, last: date) -> Iterable[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


class _Days:
    """The figures of each kind (receipts per bucket, the rest per business day), summed over any
    stretch of buckets and the days they cover."""

    def __init__(
        self,
        receipts: dict[date, sales_kpis.Receipts],
        refunds: dict[date, sales_kpis.Refunds],
        joined: dict[date, int],
        redeemed: dict[date, int],
        expired: dict[date, int],
        coupons: dict[date, tuple[int, int]],
        ratings: dict[date, satisfaction_kpis.Ratings] | None = None,
    ) -> None:
        self.receipts = receipts
        self.refunds = refunds
        self.joined = joined
        self.redeemed = redeemed
        self.expired = expired
        self.coupons = coupons
        self.ratings = ratings or {}

    def figures(self, buckets: list[date], span: list[date], members_before: int) -> dict[str, Any]:
        """The `Figures` of the `buckets` (by their first day) covering the days of `span`, the members
        before its first day being `members_before`."""
        r = sales_kpis.Receipts()
        for start in buckets:
            found = self.receipts.get(start)
            if found is not None:
                for f in fields(r):
                    setattr(r, f.name, getattr(r, f.name) + getattr(found, f.name))
        back = sales_kpis.Refunds()
        for day in span:
            paid = self.refunds.get(day)
            if paid is not None:
                for f in fields(back):
                    setattr(back, f.name, getattr(back, f.name) + getattr(paid, f.name))
        new = sum(self.joined.get(d, 0) for d in span)
        redeemed = sum(self.redeemed.get(d, 0) for d in span)
        net = r.sales_minor - back.refunds_minor
        member_net = r.member_sales_minor - back.member_refunds_minor
        return {
            "members": members_before + new,
            "new_members": new,
            "member_growth_rate": rate(new, members_before),
            "tickets": r.tickets,
            "member_tickets": r.member_tickets,
            "sales_minor": r.sales_minor,
            "member_sales_minor": r.member_sales_minor,
            "refunds_minor": back.refunds_minor,
            "member_refunds_minor": back.member_refunds_minor,
            "net_sales_minor": net,
            "member_net_sales_minor": member_net,
            "member_sales_share": rate(member_net, net),
            "average_ticket_minor": mean_minor(r.sales_minor, r.tickets),
            "member_average_ticket_minor": mean_minor(r.member_sales_minor, r.member_tickets),
            "other_average_ticket_minor": mean_minor(
                r.sales_minor - r.member_sales_minor, r.tickets - r.member_tickets
            ),
            "points_issued": r.points_issued,
            "points_reversed": back.points_reversed,
            "points_redeemed": redeemed,
            "points_expired": sum(self.expired.get(d, 0) for d in span),
            "redemption_rate": rate(redeemed, r.points_issued),
            "coupons_used": sum(self.coupons.get(d, (0, 0))[0] for d in span),
            "coupon_discount_minor": sum(self.coupons.get(d, (0, 0))[1] for d in span),
            "satisfaction": satisfaction_kpis.over(self.ratings, span).figures(r.member_tickets),
        }
