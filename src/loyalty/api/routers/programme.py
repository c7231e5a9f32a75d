"""The programme's settings and tier ladder: read by all staff, changed with `programme:write`.

Changes go through `services.programme_settings` (checked field by field, all or nothing, audited);
nothing is retroactive: members' tiers follow at their next evaluation, earning and expiry rules apply
to points earned from then on (see that module).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from loyalty.api.deps import CtxDep, requires
from loyalty.api.routers.tiers import TierOut, tier_view
from loyalty.api.schemas import PathId, PositiveDecimalString, minor_of
from loyalty.api.security import Principal
from loyalty.domain.tier_services import SERVICE_CODES, ServiceCode
from loyalty.services import programme_settings as settings_service
from loyalty.services.programme_settings import ProgrammeSettings

router = APIRouter(tags=["programme"])

Reader = Annotated[Principal, Depends(requires("tiers:read"))]
Writer = Annotated[Principal, Depends(requires("programme:write"))]

Days = Annotated[int, Field(ge=0, le=36_500)]
Services = Annotated[
    list[ServiceCode],
    Field(
        max_length=len(SERVICE_CODES),
        description='What the tier gives besides points, e.g. ["vip_lane", "free_parking"]; the '
        "whole list (a code given twice counts once).",
    ),
]
Count = Annotated[int, Field(ge=0, le=1_000_000_000)]


class ProgrammeOut(BaseModel):
    """The programme's name and rules, with the server's currency and time zone (settings, not edited
    here: every stored amount is in that currency)."""

    id: int
    code: str
    name: str
    currency: str
    timezone: str
    points_per_unit: int = Field(
        description="Points per whole currency unit of eligible spend, before the tier multiplier."
    )
    excluded_categories: list[str] = Field(description="Line categories that earn no points.")
    points_per_currency_unit: int = Field(description="Points that pay for one currency unit.")
    redeem_cap_pct: int = Field(description="The share of an order (percent) points may pay.")
    min_redeem_balance: int = Field(description="Points a member must hold to redeem at all.")
    return_window_days: int = Field(description="Days earned points stay pending (the return window).")
    expiry_days: int = Field(description="Days after the sale earned points expire.")
    tier_window_days: int = Field(description="Days of spend that qualify for a tier.")
    downgrade_policy: str = Field(
        description="one_step: down one tier at a time; window: to what the spend supports."
    )
    downgrade_grace_days: int


class ProgrammePatch(BaseModel):
    """The fields to change; those left out stay. Earning and expiry rules apply to points earned from
    then on, tier rules from the next tier evaluation."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    points_per_unit: Count | None = None
    excluded_categories: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        default=None, max_length=100
    )
    points_per_currency_unit: Count | None = None
    redeem_cap_pct: Annotated[int, Field(ge=0, le=100)] | None = None
    min_redeem_balance: Count | None = None
    return_window_days: Days | None = None
    expiry_days: Days | None = None
    tier_window_days: Days | None = None
    downgrade_policy: str | None = Field(default=None, json_schema_extra={"enum": ["one_step", "window"]})
    downgrade_grace_days: Days | None = None


class TierIn(BaseModel):
    """A new rung: its qualifying spend in the tier window (an amount in the programme's currency) and
    points multiplier in percent (150 = ×1.5). The code is made from the name when left out."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    threshold: PositiveDecimalString
    multiplier_pct: int = Field(ge=0, le=1000)
    code: str | None = Field(default=None, min_length=1, max_length=40, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    services: Services = Field(default_factory=list)


class TierPatch(BaseModel):
    """The fields to change; tiers keep their order (the spend stays between its neighbours')."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=100)
    threshold: PositiveDecimalString | None = None
    multiplier_pct: int | None = Field(default=None, ge=0, le=1000)
    services: Services | None = Field(default=None, description="The whole list; [] gives none.")


def programme_view(p: ProgrammeSettings) -> ProgrammeOut:
    return ProgrammeOut.model_validate(p.model_dump())


@router.get("/programme", response_model=ProgrammeOut)
def get_programme(caller: Reader, ctx: CtxDep) -> ProgrammeOut:
    """The programme's name, currency, time zone and earning, redemption and tier rules."""
    return programme_view(settings_service.programme_settings(ctx))


@router.patch("/programme", response_model=ProgrammeOut)
def patch_programme(body: ProgrammePatch, caller: Writer, ctx: CtxDep) -> ProgrammeOut:
    """Change the programme's name or rules (audited; all or nothing)."""
    changes = settings_service.ProgrammeChanges(**body.model_dump(include=body.model_fields_set))
    return programme_view(settings_service.update_programme(ctx, changes, actor=caller.to_actor()))


@router.post("/tiers", response_model=TierOut, status_code=201)
def create_tier(body: TierIn, caller: Writer, ctx: CtxDep) -> TierOut:
    """Add a tier where its qualifying spend puts it on the ladder (audited). Members reach it at
    their next sale or tier evaluation."""
    currency = ctx.settings.currency
    new = settings_service.NewTier(
        name=body.name,
        threshold_minor=minor_of(body.threshold, currency, "threshold"),
        multiplier_pct=body.multiplier_pct,
        code=body.code,
        services=list(body.services),
    )
    return tier_view(settings_service.add_tier(ctx, new, actor=caller.to_actor()), currency)


@router.patch("/tiers/{tier_id}", response_model=TierOut)
def patch_tier(tier_id: PathId, body: TierPatch, caller: Writer, ctx: CtxDep) -> TierOut:
    """Rename a tier or change its qualifying spend, multiplier or services (audited). Members' tiers
    follow at their next evaluation; a new multiplier applies to sales posted from now on."""
    currency = ctx.settings.currency
    given = body.model_dump(include=body.model_fields_set)
    if "threshold" in given:
        threshold = given.pop("threshold")
        given["threshold_minor"] = None if threshold is None else minor_of(threshold, currency, "threshold")
    changes = settings_service.TierChanges(**given)
    return tier_view(settings_service.update_tier(ctx, tier_id, changes, actor=caller.to_actor()), currency)
