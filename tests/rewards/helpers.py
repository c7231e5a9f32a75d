"""A chain with members holding points, for the rewards tests (made the product's way)."""

from __future__ import annotations

import itertools
from typing import Any

from loyalty.bootstrap import Context
from loyalty.domain.programme.rewards import RewardTerms
from loyalty.services import members, merchants, points, seed
from loyalty.services.schemas import MemberIn

_phones = itertools.count(1)


def chain(ctx: Context) -> int:
    """Seed the programme; the first store's id."""
    seed.ensure_programme(ctx)
    return merchants.list_stores(ctx)[0].id


def member(ctx: Context, funded: int = 1_000, store: int | None = None) -> int:
    """A new member holding `funded` spendable points (a goodwill adjustment, spendable at once)."""
    mid = members.register_member(
        ctx, MemberIn(phone=f"+86135{next(_phones):08d}", name="Rewarded", registration_store_id=store)
    ).id
    if funded:
        points.adjust(ctx, mid, funded, reason="rewards test", operator="test")
    return mid


def gift(code: str = "mug", **terms: Any) -> RewardTerms:
    values: dict[str, Any] = {"code": code, "name": "保温杯", "kind": "gift", "points": 300} | terms
    return RewardTerms(**values)


def available(ctx: Context, mid: int) -> int:
    return points.balance(ctx, mid).available
