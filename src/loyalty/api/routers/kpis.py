"""KPIs: a store's figures (or the chain's) per day, week or month, its sleeping members to call back,
and the figures by staff (who rang the sales, who signed the members up), each with the members'
satisfaction with the sales (ratings, average, CSAT, response rate).

Store managers read their own stores only (the chain's figures are for chain-wide roles); the sleeping
members' phones are masked as everywhere else (`views.sees_pii`): a store manager sees their own
store's members' numbers, an analyst or marketer masked ones.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from loyalty.api.deps import CtxDep, in_query, requires
from loyalty.api.schemas import DbId, Money, PathId, aware, money
from loyalty.api.security import Principal, mask_phone
from loyalty.api.views import sees_pii
from loyalty.domain.errors import InvalidInput
from loyalty.services import kpis

router = APIRouter(tags=["kpis"])

Reader = Annotated[Principal, Depends(requires("kpis:read"))]

PeriodQuery = Annotated[
    Literal["day", "week", "month"],
    Query(description="The buckets of the series: business days, weeks (Monday first) or months."),
]
FromQuery = Annotated[
    date | None,
    Query(
        alias="from",
        description="First business day (moved back to the start of its week or month). "
        "Default: 30 days, 12 weeks or 12 months back.",
    ),
]
ToQuery = Annotated[date | None, Query(description="Last business day, at most today. Default: today.")]
ActiveDaysQuery = Annotated[
    int,
    Query(
        ge=1,
        le=kpis.MAX_ACTIVE_DAYS,
        description="A member is active who bought in this many days up to the end of the range.",
    ),
]
SleepingQuery = Annotated[
    int, Query(ge=0, le=kpis.MAX_SLEEPING, description="How many sleeping members to list, best first.")
]


class StoreOut(BaseModel):
    """The store a report is about."""

    id: int
    code: str
    name: str
    timezone: str


class SatisfactionOut(BaseModel):
    """Members' ratings (1 to 5) of these sales, counted on the day of the sale rated. Decimals are
    strings; null where there is nothing to divide by."""

    ratings: int = Field(description="Ratings given to these sales.")
    satisfied: int = Field(description="Of them, ratings of 4 or 5.")
    average_rating: Decimal | None = Field(description="The mean rating, to two decimals (4.35).")
    csat: Decimal | None = Field(description="Satisfied ratings against all ratings (0.8500 is 85 %).")
    response_rate: Decimal | None = Field(description="Rated sales against the members' sales.")


def satisfaction_view(s: kpis.Satisfaction) -> SatisfactionOut:
    return SatisfactionOut(**s.model_dump())


class FiguresOut(BaseModel):
    """Sales, sign-ups and points over a stretch of business days. Rates are decimal strings (0.8148 is
    81.48 %), null where there is nothing to divide by."""

    members: int = Field(description="Active members registered by the end.")
    new_members: int
    member_growth_rate: Decimal | None = Field(description="New members against those at the start.")
    tickets: int = Field(description="Receipts, anonymous ones included.")
    member_tickets: int
    sales: Money
    member_sales: Money
    refunds: Money = Field(description="Refunded on these days, at the store that took the return.")
    member_refunds: Money
    net_sales: Money
    member_net_sales: Money
    member_sales_share: Decimal | None = Field(description="Members' net sales against all net sales.")
    average_ticket: Money | None
    member_average_ticket: Money | None
    other_average_ticket: Money | None = Field(description="Of receipts without a member.")
    points_issued: int = Field(description="Earned by the sales.")
    points_reversed: int = Field(description="Taken back by returns.")
    points_redeemed: int = Field(description="Spent as payment.")
    points_expired: int = Field(description="Of the store's members, taken by expiry runs.")
    redemption_rate: Decimal | None = Field(description="Points redeemed against points issued.")
    coupons_used: int = Field(description="Coupons the sales used (not given back by a full return).")
    coupon_discount: Money = Field(description="What those coupons took off.")
    satisfaction: SatisfactionOut = Field(description="Members' ratings of these sales.")


class BucketOut(FiguresOut):
    """One day, week or month."""

    start: date
    end: date


class SummaryOut(FiguresOut):
    """The whole range."""

    active_members: int = Field(description="Members who bought in the `active_days` up to the end.")
    active_rate: Decimal | None
    buyers: int = Field(description="Members who bought at the store in the range.")
    repeat_buyers: int = Field(description="Of them, those who bought twice or more.")
    repurchase_rate: Decimal | None


class SleepingMemberOut(BaseModel):
    """A high-value member with no purchase in the last `active_days` days."""

    member_id: int
    name: str
    phone: str | None = Field(examples=["+86138****5678"])
    pii_masked: bool
    registration_store_id: int | None
    tier: str = Field(description="The member's tier (its code).")
    last_purchase_at: datetime | None
    days_since_purchase: int | None
    purchases: int
    net_spend: Money
    segment: str | None = Field(description="The stored RFM group, when the list came from the scores.")
    rfm_code: str | None
    p_alive: float | None
    clv: Money | None


class SleepingOut(BaseModel):
    """The members to call back and the rule that picked them: `scores` (the stored RFM groups of high
    value, best lifetime value first) or, when no scores are stored, `tier` (a tier above the first,
    earned by spend; highest tier and spend first). `total` counts them all."""

    rule: Literal["scores", "tier"]
    total: int
    members: list[SleepingMemberOut]


class KpiReportOut(BaseModel):
    """A store's, a region's (`region`) or, both null, the chain's figures over a range of business days."""

    store: StoreOut | None
    region: str | None = Field(default=None, description="The region whose stores are added up.")
    period: Literal["day", "week", "month"]
    start: date = Field(description="First business day covered (`from` moved back to its bucket).")
    end: date
    timezone: str = Field(description="The zone of the dates (the store's; the programme's for the chain).")
    currency: str
    active_days: int
    as_of: datetime
    summary: SummaryOut
    series: list[BucketOut]
    sleeping: SleepingOut


def _figures(f: kpis.Figures, currency: str) -> dict[str, Any]:
    def opt(minor: int | None) -> Money | None:
        return money(minor, currency) if minor is not None else None

    return dict(
        members=f.members,
        new_members=f.new_members,
        member_growth_rate=f.member_growth_rate,
        tickets=f.tickets,
        member_tickets=f.member_tickets,
        sales=money(f.sales_minor, currency),
        member_sales=money(f.member_sales_minor, currency),
        refunds=money(f.refunds_minor, currency),
        member_refunds=money(f.member_refunds_minor, currency),
        net_sales=money(f.net_sales_minor, currency),
        member_net_sales=money(f.member_net_sales_minor, currency),
        member_sales_share=f.member_sales_share,
        average_ticket=opt(f.average_ticket_minor),
        member_average_ticket=opt(f.member_average_ticket_minor),
        other_average_ticket=opt(f.other_average_ticket_minor),
        points_issued=f.points_issued,
        points_reversed=f.points_reversed,
        points_redeemed=f.points_redeemed,
        points_expired=f.points_expired,
        redemption_rate=f.redemption_rate,
        coupons_used=f.coupons_used,
        coupon_discount=money(f.coupon_discount_minor, currency),
        satisfaction=satisfaction_view(f.satisfaction),
    )


def report_view(report: kpis.KpiReport, caller: Principal) -> KpiReportOut:
    """The service's report on the wire: money with its currency, phones masked for this caller."""
    cur = report.currency
    s = report.summary
    sleepers = []
    for m in report.sleeping.members:
        shown = sees_pii(caller, m.registration_store_id)
        sleepers.append(
            SleepingMemberOut(
                member_id=m.member_id,
                name=m.name,
                phone=m.phone if shown else mask_phone(m.phone),
                pii_masked=not shown,
                registration_store_id=m.registration_store_id,
                tier=m.tier_code,
                last_purchase_at=aware(m.last_purchase_at) if m.last_purchase_at else None,
                days_since_purchase=m.days_since_purchase,
                purchases=m.purchases,
                net_spend=money(m.net_spend_minor, cur),
                segment=m.segment,
                rfm_code=m.rfm_code,
                p_alive=m.p_alive,
                clv=money(m.clv_minor, cur) if m.clv_minor is not None else None,
            )
        )
    return KpiReportOut(
        store=StoreOut(**report.store.model_dump()) if report.store is not None else None,
        region=report.region,
        period=report.period,
        start=report.start,
        end=report.end,
        timezone=report.timezone,
        currency=cur,
        active_days=report.active_days,
        as_of=aware(report.as_of),
        summary=SummaryOut(
            **_figures(s, cur),
            active_members=s.active_members,
            active_rate=s.active_rate,
            buyers=s.buyers,
            repeat_buyers=s.repeat_buyers,
            repurchase_rate=s.repurchase_rate,
        ),
        series=[BucketOut(**_figures(b, cur), start=b.start, end=b.end) for b in report.series],
        sleeping=SleepingOut(
            rule=report.sleeping.rule,
            total=report.sleeping.total,
            members=sleepers,
        ),
    )


@router.get("/kpis/stores/{store_id}", response_model=KpiReportOut)
def store_kpis(
    store_id: PathId,
    caller: Reader,
    ctx: CtxDep,
    period: PeriodQuery = "day",
    from_: FromQuery = None,
    to: ToQuery = None,
    active_days: ActiveDaysQuery = kpis.DEFAULT_ACTIVE_DAYS,
    sleeping: SleepingQuery = kpis.DEFAULT_SLEEPING,
) -> KpiReportOut:
    """A store's members, sales, member sales share, points and sleeping members per day, week or month
    (store managers: their own stores)."""
    caller.require_store(store_id)
    try:
        report = kpis.store_kpis(
            ctx, store_id, period=period, start=from_, end=to, active_days=active_days, sleeping=sleeping
        )
    except InvalidInput as exc:
        raise in_query(exc) from exc
    return report_view(report, caller)


@router.get("/kpis", response_model=KpiReportOut)
def chain_kpis(
    caller: Reader,
    ctx: CtxDep,
    period: PeriodQuery = "day",
    from_: FromQuery = None,
    to: ToQuery = None,
    active_days: ActiveDaysQuery = kpis.DEFAULT_ACTIVE_DAYS,
    sleeping: SleepingQuery = kpis.DEFAULT_SLEEPING,
    region: Annotated[
        str | None,
        Query(min_length=1, max_length=64, description="Only this region's stores and members (e.g. 华东)."),
    ] = None,
) -> KpiReportOut:
    """The whole chain's figures, every store on its own business days, or one region's (chain-wide
    roles only; 404 REGION_NOT_FOUND when no store is in `region`)."""
    caller.require_store(None)
    try:
        report = kpis.chain_kpis(
            ctx,
            region=region,
            period=period,
            start=from_,
            end=to,
            active_days=active_days,
            sleeping=sleeping,
        )
    except InvalidInput as exc:
        raise in_query(exc) from exc
    return report_view(report, caller)


class StaffFiguresOut(BaseModel):
    """One staff code's figures over the range. Rates are decimal strings, null where there is nothing
    to divide by."""

    staff: str | None = Field(
        description="The staff code (a cashier's code, or the username of the staff account that made the "
        "sale or sign-up); null: the sales, sign-ups and redemptions that name nobody."
    )
    tickets: int = Field(description="Receipts they rang, anonymous ones included.")
    member_tickets: int
    sales: Money
    member_sales: Money
    refunds: Money = Field(description="Refunded in the range, at the scope's stores, of receipts they rang.")
    member_refunds: Money
    net_sales: Money
    member_net_sales: Money
    member_sales_share: Decimal | None = Field(description="Members' net sales against all their net sales.")
    average_ticket: Money | None
    new_members: int = Field(description="Members they signed up in the range (active ones).")
    coupons_used: int = Field(description="Coupons their sales used (not given back by a full return).")
    coupon_discount: Money
    points_redeemed: int = Field(description="Points spent as payment on sales they rang.")
    satisfaction: SatisfactionOut = Field(description="Members' ratings of the sales they rang.")


class StaffReportOut(BaseModel):
    """Each staff code's figures at a store (`store`), at the caller's stores (`store_ids`) or at every
    store (both null), most net sales first, what names nobody last."""

    store: StoreOut | None
    store_ids: list[int] | None = Field(description="The stores covered; null: every store.")
    start: date
    end: date
    timezone: str = Field(description="The zone of the dates (the store's; the programme's otherwise).")
    currency: str
    as_of: datetime
    staff: list[StaffFiguresOut]


def _staff_view(report: kpis.StaffReport) -> StaffReportOut:
    cur = report.currency
    return StaffReportOut(
        store=StoreOut(**report.store.model_dump()) if report.store is not None else None,
        store_ids=report.store_ids,
        start=report.start,
        end=report.end,
        timezone=report.timezone,
        currency=cur,
        as_of=aware(report.as_of),
        staff=[
            StaffFiguresOut(
                staff=f.staff,
                tickets=f.tickets,
                member_tickets=f.member_tickets,
                sales=money(f.sales_minor, cur),
                member_sales=money(f.member_sales_minor, cur),
                refunds=money(f.refunds_minor, cur),
                member_refunds=money(f.member_refunds_minor, cur),
                net_sales=money(f.net_sales_minor, cur),
                member_net_sales=money(f.member_net_sales_minor, cur),
                member_sales_share=f.member_sales_share,
                average_ticket=money(f.average_ticket_minor, cur)
                if f.average_ticket_minor is not None
                else None,
                new_members=f.new_members,
                coupons_used=f.coupons_used,
                coupon_discount=money(f.coupon_discount_minor, cur),
                points_redeemed=f.points_redeemed,
                satisfaction=satisfaction_view(f.satisfaction),
            )
            for f in report.staff
        ],
    )


@router.get("/kpis/staff", response_model=StaffReportOut)
def staff_kpis(
    caller: Reader,
    ctx: CtxDep,
    store: Annotated[
        DbId | None,
        Query(
            description="Only this store (store managers: one of their own). Default: the caller's stores."
        ),
    ] = None,
    from_: Annotated[
        date | None,
        Query(alias="from", description="First business day. Default: 30 days back from `to`."),
    ] = None,
    to: ToQuery = None,
) -> StaffReportOut:
    """Sales, net sales, member sales share, average ticket, new members, coupons used and points redeemed
    per staff code (who rang the sale, who signed the member up) over a range of business days; store
    managers see their own stores only."""
    if store is not None:
        caller.require_store(store)
    stores = [store] if store is not None else None if caller.store_ids is None else sorted(caller.store_ids)
    try:
        report = kpis.staff_kpis(ctx, stores, start=from_, end=to)
    except InvalidInput as exc:
        raise in_query(exc) from exc
    return _staff_view(report)
