"""What a KPI report holds: money in minor units (fen), counts and points as integers, rates as Decimals.

A rate is None where its denominator is zero (no sales, no members): "no figure", not 0 %.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: rates are kept to four decimals (a tenth of a percent point shown as 12.3 %)
RATE_PLACES = Decimal("0.0001")


def rate(part: int, whole: int) -> Decimal | None:
    """`part / whole` to four decimals (half to even), None when `whole` is not positive."""
    if whole <= 0:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(RATE_PLACES, rounding=ROUND_HALF_EVEN)


def mean_minor(total: int, count: int) -> int | None:
    """The mean of `count` amounts summing to `total` minor units, to the minor unit (half to even)."""
    if count <= 0:
        return None
    return int((Decimal(total) / Decimal(count)).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


#: average ratings are kept to two decimals (4.35 of 5)
RATING_PLACES = Decimal("0.01")


def mean_rating(total: int, count: int) -> Decimal | None:
    """The mean of `count` ratings summing to `total`, to two decimals (half to even)."""
    if count <= 0:
        return None
    return (Decimal(total) / Decimal(count)).quantize(RATING_PLACES, rounding=ROUND_HALF_EVEN)


class Satisfaction(_Model):
    """Members' ratings (1 to 5) of the stretch's sales (`kpis.satisfaction`), counted on the business
    day of the sale rated, at the store that made it."""

    #: ratings given, and those of them of 4 or 5
    ratings: int = 0
    satisfied: int = 0
    #: the mean rating (4.35), None without ratings
    average_rating: Decimal | None = None
    #: CSAT: satisfied ratings against all ratings
    csat: Decimal | None = None
    #: response rate: rated sales against the members' sales (receipts naming a member)
    response_rate: Decimal | None = None


class StoreRef(_Model):
    id: int
    code: str
    name: str
    timezone: str


class Figures(_Model):
    """Sales, sign-ups and points over a stretch of business days (a bucket or the whole report).

    Sales count every receipt, anonymous ones included, on the day of the sale at the store that
    made it; refunds count on the day of the return at the store that took it back. A receipt (or
    a refund of one) is a member's when it names a member, a sale claimed later included.
    """

    #: members at the end (active ones registered by then) and new sign-ups in the stretch
    members: int
    new_members: int
    #: new sign-ups against the members at the start of the stretch
    member_growth_rate: Decimal | None
    tickets: int
    member_tickets: int
    sales_minor: int
    member_sales_minor: int
    refunds_minor: int
    member_refunds_minor: int
    #: sales less refunds
    net_sales_minor: int
    member_net_sales_minor: int
    #: members' net sales against all net sales
    member_sales_share: Decimal | None
    #: sales per ticket (before refunds), all, members' and the others'
    average_ticket_minor: int | None
    member_average_ticket_minor: int | None
    other_average_ticket_minor: int | None
    #: points earned by sales at the store, taken back by its returns, spent at it as payment
    points_issued: int
    points_reversed: int
    points_redeemed: int
    #: points of the store's members that expired (dated by the expiry run that took them)
    points_expired: int
    #: points redeemed against points issued
    redemption_rate: Decimal | None
    #: coupons the stretch's sales used (those given back by a full return left out) and what they
    #: took off, on the day of the sale
    coupons_used: int = 0
    coupon_discount_minor: int = 0
    #: members' ratings of the stretch's sales
    satisfaction: Satisfaction = Field(default_factory=Satisfaction)


class Bucket(Figures):
    """One day, week or month; `end` is its last business day (the report's last, for the last one)."""

    start: date
    end: date


class Summary(Figures):
    """The whole report's figures, with those that only make sense over a stretch of time."""

    #: active members registered at the end of the range that have bought (anywhere in the chain) in
    #: the `active_days` days up to it
    active_members: int
    active_rate: Decimal | None
    #: members who bought at the store in the range, and those of them who bought at least twice
    buyers: int
    repeat_buyers: int
    repurchase_rate: Decimal | None


class SleepingMember(_Model):
    """A member worth calling back: high past value, no purchase in the last `active_days` days.

    `phone` is the stored number: entry points mask it for callers who may not see it.
    """

    member_id: int
    name: str
    phone: str
    registration_store_id: int | None
    #: the member's tier now (its code, and its name in the programme's words)
    tier_code: str
    tier_name: str
    #: the last purchase up to the end of the range (None: never bought)
    last_purchase_at: datetime | None
    days_since_purchase: int | None
    purchases: int
    #: net spend (sales less refunds), all time up to the end of the range
    net_spend_minor: int
    #: the stored RFM group and scores (`loyalty analytics refresh`), when the list came from them
    segment: str | None
    rfm_code: str | None
    p_alive: float | None
    clv_minor: int | None


class Sleeping(_Model):
    """The members to call back, best first, and how they were picked.

    `rule` "scores": the stored RFM scores mark them high value (their spend above the mean when
    scored: RFM codes ending in 2), best lifetime value first. "tier": no scores are stored, so high
    value is a tier above the programme's first (earned by spend over the tier window), highest tier
    and spend first. Either way they have not bought in the last `active_days` days before the end
    of the range. `total` counts them all; `members` holds the first of them.
    """

    rule: Literal["scores", "tier"]
    total: int
    members: list[SleepingMember]


class KpiReport(_Model):
    """A store's, a region's or the chain's (`store` and `region` None) figures over a range of
    business days."""

    store: StoreRef | None
    #: a region's report: its stores' figures added up (None: a store's or the chain's)
    region: str | None = None
    period: str
    #: the first and last business day covered (`from` moved back to the start of its bucket)
    start: date
    end: date
    #: the zone of the report's dates: the store's, or for the chain the programme's (each store's
    #: sales still fall on that store's business days)
    timezone: str
    currency: str
    #: the window of "active" (and the silence of "sleeping"), in days up to the end of the range
    active_days: int
    #: when the report was made
    as_of: datetime
    summary: Summary
    series: list[Bucket]
    sleeping: Sleeping


class StaffFigures(_Model):
    """One staff code's figures over a range (`kpis.staff`); `staff` None: what names nobody."""

    #: the staff code (a cashier's code, or a staff account's username); None: nobody named
    staff: str | None
    #: receipts they rang, anonymous ones included, and those naming a member
    tickets: int
    member_tickets: int
    sales_minor: int
    member_sales_minor: int
    #: refunds the scope's stores paid in the range against receipts they rang
    refunds_minor: int
    member_refunds_minor: int
    #: sales less refunds
    net_sales_minor: int
    member_net_sales_minor: int
    #: members' net sales against all their net sales
    member_sales_share: Decimal | None
    #: sales per receipt (before refunds)
    average_ticket_minor: int | None
    #: active members they signed up in the range
    new_members: int
    #: coupons their sales used (not given back by a full return) and what they took off
    coupons_used: int
    coupon_discount_minor: int
    #: points spent as payment on their sales (redemptions naming an order they rang)
    points_redeemed: int
    #: members' ratings of the sales they rang
    satisfaction: Satisfaction = Field(default_factory=Satisfaction)


class StaffReport(_Model):
    """Each staff code's figures at a store (`store`), at several (`store_ids`) or at every store
    (both None) over a range of business days; most net sales first, nobody named last."""

    store: StoreRef | None
    #: the stores covered, when some were chosen (None: every store, and sign-ups at no store)
    store_ids: list[int] | None
    start: date
    end: date
    #: the zone of the dates: the store's, or the programme's for several stores
    timezone: str
    currency: str
    as_of: datetime
    staff: list[StaffFigures]
