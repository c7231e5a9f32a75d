"""The rewards API's wire models: a reward as a marketer defines and changes it, an order, and the
catalogue as a member sees it (their tier's price, how many more they may order).

Bounds are the domain's (`domain.programme.rewards`), so a value the service would refuse is refused
here already, naming its field; what needs the database (tiers, offers, the period against now) the
service checks.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from loyalty.api.schemas import DbId, aware
from loyalty.domain.programme.rewards import (
    CODE_PATTERN,
    MAX_PER_MEMBER,
    MAX_POINTS,
    MAX_STOCK,
    MAX_TIER_PRICES,
)
from loyalty.services.rewards.model import CatalogueItem, Reward, RewardOrder

Code = Annotated[str, Field(pattern=CODE_PATTERN, examples=["thermos-mug"])]
Points = Annotated[int, Field(ge=1, le=MAX_POINTS)]
TierCode = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,40}$")]
TierPrices = Annotated[
    dict[TierCode, Points],
    Field(
        max_length=MAX_TIER_PRICES,
        description="Tier code → points, for tiers that pay another price than `points` (金卡 pays less).",
    ),
]
ForTiers = Annotated[
    Annotated[list[TierCode], Field(min_length=1, max_length=MAX_TIER_PRICES)] | None,
    Field(
        description="Tier codes whose members alone may order it (exactly these tiers: a reward for 金卡 "
        "and above lists 金卡 and each tier above); null: every member.",
        examples=[["gold", "diamond"]],
    ),
]
Stock = Annotated[int | None, Field(ge=0, le=MAX_STOCK, description="Units left to order; null: unlimited.")]
PerMember = Annotated[
    int | None, Field(ge=1, le=MAX_PER_MEMBER, description="Orders per member (cancelled ones aside).")
]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Description = Annotated[str | None, Field(max_length=1000)]
Period = Annotated[
    AwareDatetime | None,
    Field(description="At most a day in the past and 180 days ahead; extend a running reward by a change."),
]


class RewardIn(BaseModel):
    """A reward for the catalogue: a gift, a coupon (of an offer) or a service, priced in points."""

    model_config = ConfigDict(extra="forbid")

    code: Code
    name: Name
    description: Description = None
    kind: Literal["gift", "coupon", "service"]
    points: Points
    tier_prices: TierPrices = Field(default_factory=dict)
    stock: Stock = None
    per_member_limit: PerMember = None
    valid_from: Period = Field(default=None, description="Now by default.")
    valid_to: Period = Field(default=None, description="Open-ended by default.")
    offer_code: Code | None = Field(default=None, description="A coupon reward's offer.")
    tiers: ForTiers = None


class RewardChange(BaseModel):
    """The terms to change; a field left out stays, one set to null is cleared (`stock`: unlimited)."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    description: Description = None
    points: Points | None = None
    tier_prices: TierPrices | None = None
    stock: Stock = None
    per_member_limit: PerMember = None
    valid_from: Period = None
    valid_to: Period = None
    offer_code: Code | None = None
    tiers: ForTiers = None


class RewardOut(BaseModel):
    """A reward of the catalogue and whether it can be ordered now."""

    code: str
    name: str
    description: str | None
    kind: str
    points: int
    tier_prices: dict[str, int]
    stock: int | None = Field(description="Units left; null: unlimited.")
    per_member_limit: int | None
    valid_from: datetime
    valid_to: datetime | None
    offer_code: str | None
    tiers: list[str] | None = Field(description="Tier codes whose members alone may order it; null: all.")
    available: bool = Field(description="Within its period now (stock aside).")
    created_at: datetime
    created_by: str
    updated_at: datetime


class OrderIn(BaseModel):
    """A reward ordered for a member at a store (the points spent there)."""

    model_config = ConfigDict(extra="forbid")

    reward: Code
    store_id: DbId


class MyOrderIn(BaseModel):
    """A reward I order; collected at `store_id` (by default the store I registered at)."""

    model_config = ConfigDict(extra="forbid")

    reward: Code
    store_id: DbId | None = None


class FulfilIn(BaseModel):
    """Where an order stands now: shipped, collected (handed over) or fulfilled (a service rendered)."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["fulfilled", "shipped", "collected"]


class CancelIn(BaseModel):
    """Why an order is cancelled (shown on the member's statement)."""

    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, min_length=1, max_length=200)


class OrderOut(BaseModel):
    """An order of a reward: the points paid, where, and where it stands."""

    id: int
    reward: str
    reward_name: str
    kind: str
    member_id: int
    store_id: int
    points: int
    status: Literal["reserved", "fulfilled", "shipped", "collected", "cancelled"]
    coupon_code: str | None = Field(description="The coupon a coupon reward put in the member's wallet.")
    redeem_transfer_id: int
    refund_transfer_id: int | None
    balance_after: int | None = Field(
        default=None, description="The member's points once the order was made or cancelled."
    )
    created_at: datetime
    updated_at: datetime


class MyRewardOut(BaseModel):
    """A reward that can be ordered now, at my tier's price; `locked` when it is for tiers I am not in."""

    code: str
    name: str
    description: str | None
    kind: str
    price: int = Field(description="Points, at my tier's price.")
    stock: int | None
    left_for_me: int | None = Field(description="How many more I may order; null: no limit.")
    valid_to: datetime | None
    locked: bool = Field(
        default=False,
        description="Exclusive to tiers I am not in: I cannot order it (`for_tiers` says which).",
    )
    for_tiers: list[str] | None = Field(
        default=None, description="The names of the tiers it is for, lowest first; null: every member."
    )


def reward_view(r: Reward, now: datetime) -> RewardOut:
    return RewardOut(
        code=r.code,
        name=r.name,
        description=r.description,
        kind=r.kind,
        points=r.points,
        tier_prices=r.tier_prices,
        stock=r.stock,
        per_member_limit=r.per_member_limit,
        valid_from=aware(r.valid_from),
        valid_to=aware(r.valid_to) if r.valid_to is not None else None,
        offer_code=r.offer_code,
        tiers=r.tiers,
        available=r.available_at(now),
        created_at=aware(r.created_at),
        created_by=r.created_by,
        updated_at=aware(r.updated_at),
    )


def order_view(o: RewardOrder) -> OrderOut:
    return OrderOut(
        id=o.id,
        reward=o.reward_code,
        reward_name=o.reward_name,
        kind=o.kind,
        member_id=o.member_id,
        store_id=o.store_id,
        points=o.points,
        status=o.status,  # the table's CHECK holds it to these
        coupon_code=o.coupon_code,
        redeem_transfer_id=o.redeem_transfer_id,
        refund_transfer_id=o.refund_transfer_id,
        balance_after=o.balance_after,
        created_at=aware(o.created_at),
        updated_at=aware(o.updated_at),
    )


def my_reward_view(item: CatalogueItem) -> MyRewardOut:
    r = item.reward
    return MyRewardOut(
        code=r.code,
        name=r.name,
        description=r.description,
        kind=r.kind,
        price=item.price,
        stock=r.stock,
        left_for_me=item.left_for_member,
        valid_to=aware(r.valid_to) if r.valid_to is not None else None,
        locked=item.locked,
        for_tiers=item.tier_names if r.tiers is not None else None,
    )
