"""What the rewards use cases take and answer: a reward, an order, a member's view of the catalogue.

Pydantic models, so an order can be stored as an idempotency key's answer and replayed as it was.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from loyalty.domain.programme.rewards import open_to, price_for


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Reward(_Model):
    """A reward's terms and the units left (`stock` None: unlimited)."""

    id: int
    code: str
    name: str
    description: str | None
    kind: str
    points: int
    tier_prices: dict[str, int]
    stock: int | None
    per_member_limit: int | None
    valid_from: datetime
    valid_to: datetime | None
    offer_code: str | None
    created_at: datetime
    created_by: str
    updated_at: datetime
    #: the tier codes whose members alone may order it; None: every member
    tiers: list[str] | None = None

    def available_at(self, at: datetime) -> bool:
        """Whether it can be ordered at `at` (its period; stock is checked when it is taken)."""
        return self.valid_from <= at and (self.valid_to is None or at < self.valid_to)

    def price(self, tier_code: str | None) -> int:
        return price_for(self.points, self.tier_prices, tier_code)

    def open_to(self, tier_code: str | None) -> bool:
        """Whether a member of `tier_code` may order it (`domain.programme.rewards.open_to`)."""
        return open_to(self.tiers, tier_code)


class RewardOrder(_Model):
    """One order of a reward: the points paid, where, and where it stands."""

    id: int
    reward_code: str
    reward_name: str
    kind: str
    member_id: int
    store_id: int
    points: int
    status: str
    #: the coupon a coupon reward gave, as printed
    coupon_code: str | None
    redeem_transfer_id: int
    refund_transfer_id: int | None
    created_at: datetime
    created_by: str
    updated_at: datetime
    balance_after: int | None = None  # the member's balance once the order was made (its answer only)
    replayed: bool = False


class CatalogueItem(_Model):
    """A reward as a member sees it: the price for their tier, how many more they may order, and
    whether it is locked (exclusive to tiers the member is not in: `tier_names` says which)."""

    reward: Reward
    price: int
    ordered: int  # the member's orders of it, not cancelled
    left_for_member: int | None  # None: no limit per member
    locked: bool = False
    #: the names of the tiers that may order it (exclusive rewards), lowest tier first; [] for all
    tier_names: list[str] = []


def dumped(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")
