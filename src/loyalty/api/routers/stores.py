"""Merchants and stores: list for everyone on staff, create and change for admins."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from loyalty.api.deps import CtxDep, requires
from loyalty.api.schemas import CurrencyCode, DbId, PathId, aware
from loyalty.api.security import Principal
from loyalty.services import merchants as merchants_service
from loyalty.services.merchants import MerchantChanges, StoreChanges
from loyalty.services.schemas import MerchantIn as CoreMerchantIn
from loyalty.services.schemas import StoreIn as CoreStoreIn

router = APIRouter(tags=["stores"])

Reader = Annotated[Principal, Depends(requires("stores:read"))]
Writer = Annotated[Principal, Depends(requires("stores:write"))]

Code = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]


class MerchantIn(BaseModel):
    """A partner merchant (brand) in the programme."""

    model_config = ConfigDict(extra="forbid")

    code: Code
    name: str = Field(min_length=1, max_length=100)
    currency: CurrencyCode = "CNY"


class MerchantOut(BaseModel):
    """A merchant."""

    id: int
    code: str
    name: str
    currency: str
    created_at: datetime


class StoreIn(BaseModel):
    """A store of a merchant, with the timezone its business dates are counted in."""

    model_config = ConfigDict(extra="forbid")

    merchant_id: DbId
    code: Code
    name: str = Field(min_length=1, max_length=100)
    city: str | None = Field(default=None, max_length=64)
    timezone: str = Field(default="Asia/Shanghai", max_length=64)
    region: str | None = Field(
        default=None, max_length=64, description="The region the KPIs and targets group the store in."
    )


class MerchantPatch(BaseModel):
    """A merchant's new name (its code and currency stay)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)


class StorePatch(BaseModel):
    """The store's fields to change; those left out stay (`city: null` clears the city).

    From the next sale on, its business dates count in the new time zone and its points are owed
    by the new merchant; sales already posted keep theirs. POS exports find it by its new code.
    """

    model_config = ConfigDict(extra="forbid")

    merchant_id: DbId | None = None
    code: Code | None = None
    name: str | None = Field(default=None, min_length=1, max_length=100)
    city: str | None = Field(default=None, max_length=64)
    timezone: str | None = Field(default=None, min_length=1, max_length=64)
    region: str | None = Field(default=None, max_length=64, description="`null` clears it.")


class StoreOut(BaseModel):
    """A store."""

    id: int
    merchant_id: DbId
    code: str
    name: str
    city: str | None
    timezone: str
    region: str | None
    created_at: datetime


def merchant_view(m: Any) -> MerchantOut:
    return MerchantOut(id=m.id, code=m.code, name=m.name, currency=m.currency, created_at=aware(m.created_at))


def store_view(s: Any) -> StoreOut:
    return StoreOut(
        id=s.id,
        merchant_id=s.merchant_id,
        code=s.code,
        name=s.name,
        city=s.city,
        timezone=s.timezone,
        region=s.region,
        created_at=aware(s.created_at),
    )


@router.get("/merchants", response_model=list[MerchantOut])
def list_merchants(caller: Reader, ctx: CtxDep) -> list[MerchantOut]:
    """All merchants in the programme."""
    return [merchant_view(m) for m in merchants_service.list_merchants(ctx)]


@router.post("/merchants", response_model=MerchantOut, status_code=201)
def create_merchant(body: MerchantIn, caller: Writer, ctx: CtxDep) -> MerchantOut:
    """Add a partner merchant."""
    created = merchants_service.create_merchant(
        ctx, CoreMerchantIn(code=body.code, name=body.name, currency=body.currency), actor=caller.to_actor()
    )
    return merchant_view(created)


@router.get("/stores", response_model=list[StoreOut])
def list_stores(caller: Reader, ctx: CtxDep) -> list[StoreOut]:
    """All stores (store staff see theirs first-class; the list itself is not sensitive)."""
    return [store_view(s) for s in merchants_service.list_stores(ctx)]


@router.post("/stores", response_model=StoreOut, status_code=201)
def create_store(body: StoreIn, caller: Writer, ctx: CtxDep) -> StoreOut:
    """Open a store for a merchant."""
    created = merchants_service.create_store(ctx, CoreStoreIn(**body.model_dump()), actor=caller.to_actor())
    return store_view(created)


@router.patch("/merchants/{merchant_id}", response_model=MerchantOut)
def patch_merchant(merchant_id: PathId, body: MerchantPatch, caller: Writer, ctx: CtxDep) -> MerchantOut:
    """Rename a merchant (audited)."""
    changed = merchants_service.update_merchant(
        ctx, merchant_id, MerchantChanges(name=body.name), actor=caller.to_actor()
    )
    return merchant_view(changed)


@router.patch("/stores/{store_id}", response_model=StoreOut)
def patch_store(store_id: PathId, body: StorePatch, caller: Writer, ctx: CtxDep) -> StoreOut:
    """Change a store's code, name, city, time zone, region or merchant (audited; all or nothing)."""
    changes = StoreChanges(**body.model_dump(include=body.model_fields_set))
    changed = merchants_service.update_store(ctx, store_id, changes, actor=caller.to_actor())
    return store_view(changed)
