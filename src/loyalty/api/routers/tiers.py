"""Tiers: the configured ladder, a member's tier with window progress, and tier history."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from loyalty.api.deps import CtxDep, requires
from loyalty.api.routers.members import load_member
from loyalty.api.schemas import DbId, Money, PathId, aware, money
from loyalty.api.security import Principal
from loyalty.api.views import TierServiceOut, tier_services_view
from loyalty.services import tiers as tiers_service

router = APIRouter(tags=["tiers"])

Reader = Annotated[Principal, Depends(requires("tiers:read"))]


class TierOut(BaseModel):
    """One rung of the tier ladder and what qualifies for it."""

    id: int
    code: str
    name: str
    rank: int
    threshold: Money = Field(description="Qualifying spend within the tier window.")
    multiplier_pct: int = Field(description="Points multiplier in percent (150 = 1.5×).")
    services: list[TierServiceOut] = Field(
        description="What the tier gives besides points (VIP lane, free parking), in the marketer's order."
    )


class MemberTierOut(BaseModel):
    """A member's tier and how far they are from the next one in the current window."""

    member_id: DbId
    tier: TierOut
    next_tier: TierOut | None
    window_days: int
    qualifying_spend: Money
    remaining_to_next: Money | None
    locked_until: datetime | None
    grace_until: datetime | None
    message: str


class TierChangeOut(BaseModel):
    """One tier change (upgrade, downgrade or initial assignment)."""

    at: datetime
    from_tier: str | None
    to_tier: str
    reason: str
    note: str | None


def tier_view(t: Any, currency: str) -> TierOut:
    return TierOut(
        id=t.id,
        code=t.code,
        name=t.name,
        rank=t.rank,
        threshold=money(t.threshold_minor, currency),
        multiplier_pct=t.multiplier_pct,
        services=tier_services_view(t.services),
    )


def member_tier_view(ctx: Any, member_id: int) -> MemberTierOut:
    currency = ctx.settings.currency
    mt = tiers_service.member_tier(ctx, member_id)
    current = tier_view(mt.tier, currency)
    nxt = tier_view(mt.next_tier, currency) if mt.next_tier is not None else None
    remaining = (
        money(mt.to_next_minor, currency) if nxt is not None and mt.to_next_minor is not None else None
    )
    if nxt is not None and remaining is not None:
        message = f"spend {remaining.amount} more to reach {nxt.name}"
    else:
        message = f"top tier {current.name} reached"
    return MemberTierOut(
        member_id=member_id,
        tier=current,
        next_tier=nxt,
        window_days=mt.window_days,
        qualifying_spend=money(mt.qualifying_minor, currency),
        remaining_to_next=remaining,
        locked_until=aware(mt.locked_until) if mt.locked_until else None,
        grace_until=aware(mt.grace_until) if mt.grace_until else None,
        message=message,
    )


def tier_history_view(ctx: Any, member_id: int) -> list[TierChangeOut]:
    return [
        TierChangeOut(at=aware(h.at), from_tier=h.from_tier, to_tier=h.to_tier, reason=h.reason, note=h.note)
        for h in tiers_service.tier_history(ctx, member_id)
    ]


@router.get("/tiers", response_model=list[TierOut])
def list_tiers(caller: Reader, ctx: CtxDep) -> list[TierOut]:
    """The tier ladder (普通 / 银卡 / 金卡 / 钻石 by default) with qualifying thresholds and each tier's
    services."""
    return [tier_view(t, ctx.settings.currency) for t in tiers_service.list_tiers(ctx)]


@router.get("/members/{member_id}/tier", response_model=MemberTierOut)
def get_member_tier(member_id: PathId, caller: Reader, ctx: CtxDep) -> MemberTierOut:
    """A member's tier and progress in the current window ("spend 320 more to reach 金卡")."""
    load_member(ctx, member_id)
    return member_tier_view(ctx, member_id)


@router.get("/members/{member_id}/tier/history", response_model=list[TierChangeOut])
def get_tier_history(member_id: PathId, caller: Reader, ctx: CtxDep) -> list[TierChangeOut]:
    """A member's tier changes, oldest first."""
    load_member(ctx, member_id)
    return tier_history_view(ctx, member_id)
