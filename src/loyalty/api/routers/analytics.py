"""The member analytics of the last refresh: the eight RFM groups, the CLV and P(alive) distributions
and the model's calibration/holdout check (what the analyst's console page shows).

Before analytics ever ran the answers are empty (`scored_at` null, every group at zero), not errors;
start a refresh with `POST /jobs {"kind": "analytics_refresh"}`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from loyalty.api.deps import CtxDep, requires
from loyalty.api.schemas import Money, aware, money
from loyalty.api.security import Principal
from loyalty.services import member_analytics

router = APIRouter(tags=["analytics"])

Reader = Annotated[Principal, Depends(requires("analytics:read"))]


class AnalyticsAbout(BaseModel):
    """When the scores were made, by which model, for how many members."""

    scored_at: datetime | None = Field(description="Null when analytics never ran here.")
    model: str | None
    members: int
    currency: str


class GroupOut(BaseModel):
    """One RFM group of the binary scheme (R, F and M each above or below the mean)."""

    rfm_code: str = Field(examples=["222"])
    segment: str = Field(examples=["high_value"])
    name_zh: str
    name_en: str
    action_zh: str
    action_en: str
    high_value: bool = Field(description="Spend above the mean: the four 'important' groups.")
    members: int
    share: float
    spend: Money = Field(description="The group's net spend over the members' whole history.")
    spend_per_member: Money | None
    clv: Money | None = Field(description="Expected value of the next 12 months; null without a model.")
    clv_per_member: Money | None
    mean_p_alive: float | None


class SegmentsOut(AnalyticsAbout):
    groups: list[GroupOut]


class BinOut(BaseModel):
    """Members with a value from `lo` (null: below `hi`) up to `hi` (null: `lo` and above)."""

    lo: Any
    hi: Any
    members: int


class MoneyBinOut(BinOut):
    lo: Money | None
    hi: Money | None


class RatioBinOut(BinOut):
    lo: float | None
    hi: float | None


class DistributionsOut(AnalyticsAbout):
    clv: list[MoneyBinOut]
    members_without_clv: int
    p_alive: list[RatioBinOut]
    members_without_p_alive: int


class HoldoutRow(BaseModel):
    """Mean repeat purchases in the holdout, actual and predicted, of members with `bucket` repeat
    purchases in the calibration period ("7+": seven or more)."""

    bucket: str
    members: int
    actual: float | None
    predicted: float | None


class TrackingRow(BaseModel):
    """Cumulative repeat purchases up to `week`, actual and predicted."""

    week: int
    actual: float | None
    predicted: float | None
    holdout: bool


class ModelCheckOut(AnalyticsAbout):
    calibration_end: date | None
    holdout_weeks: float | None
    holdout: list[HoldoutRow]
    tracking: list[TrackingRow]
    params: dict[str, Any]
    problem: str | None = Field(description="Why the model could not be checked (too little history).")


def _about(o: member_analytics.Overview) -> dict[str, Any]:
    return {
        "scored_at": aware(o.scored_at) if o.scored_at else None,
        "model": o.model,
        "members": o.members,
        "currency": o.currency,
    }


def _money(minor: float | int | None, currency: str) -> Money | None:
    return None if minor is None else money(round(minor), currency)


@router.get("/analytics/segments", response_model=SegmentsOut)
def segments(caller: Reader, ctx: CtxDep) -> SegmentsOut:
    """The eight RFM groups: members, share, spend, CLV, mean P(alive), names and recommended actions."""
    o = member_analytics.overview(ctx)
    c = o.currency
    groups = [
        GroupOut(
            rfm_code=g.rfm_code,
            segment=g.segment.code,
            name_zh=g.segment.zh,
            name_en=g.segment.en,
            action_zh=g.segment.action_zh,
            action_en=g.segment.action_en,
            high_value=g.segment.high_value,
            members=g.members,
            share=g.share,
            spend=money(g.spend_minor, c),
            spend_per_member=_money(g.spend_per_member_minor, c),
            clv=_money(g.clv_minor, c),
            clv_per_member=_money(g.clv_per_member_minor, c),
            mean_p_alive=g.mean_p_alive,
        )
        for g in o.groups
    ]
    return SegmentsOut(**_about(o), groups=groups)


@router.get("/analytics/distributions", response_model=DistributionsOut)
def distributions(caller: Reader, ctx: CtxDep) -> DistributionsOut:
    """How CLV and P(alive) are spread over the members (histograms)."""
    o = member_analytics.overview(ctx)
    return DistributionsOut(
        **_about(o),
        clv=[
            MoneyBinOut(lo=_money(b.lo, o.currency), hi=_money(b.hi, o.currency), members=b.members)
            for b in o.clv
        ],
        members_without_clv=o.without_clv,
        p_alive=[RatioBinOut(lo=b.lo, hi=b.hi, members=b.members) for b in o.p_alive],
        members_without_p_alive=o.without_p_alive,
    )


@router.get("/analytics/model-check", response_model=ModelCheckOut)
def model_check(caller: Reader, ctx: CtxDep) -> ModelCheckOut:
    """The model fitted up to a calibration end, against what members did after it."""
    o = member_analytics.overview(ctx)
    r = o.refresh
    return ModelCheckOut(
        **_about(o),
        calibration_end=r.calibration_end if r else None,
        holdout_weeks=r.holdout_weeks if r else None,
        holdout=[
            HoldoutRow(
                bucket=member_analytics.bucket_label(int(h["bucket"])),
                members=int(h["customers"]),
                actual=h["actual"],
                predicted=h["predicted"],
            )
            for h in (r.holdout if r else [])
        ],
        tracking=[TrackingRow(**t) for t in (r.tracking if r else [])],
        params=r.params if r else {},
        problem=r.problem if r else None,
    )
