"""Merchants and stores. Each merchant gets its own liability/redeemed/expired ledger accounts so
outstanding points can be reported per merchant (the basis for coalition programmes later)."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from loyalty.bootstrap import Context
from loyalty.db.core_tables import accounts, merchants, programmes, stores
from loyalty.domain.actors import SYSTEM, Actor
from loyalty.domain.errors import Conflict, InvalidInput, NotFound, field_error
from loyalty.services import audit
from loyalty.services.common import read
from loyalty.services.intake import currency_mismatch
from loyalty.services.schemas import MerchantIn, MerchantOut, StoreIn, StoreOut

MERCHANT_ACCOUNT_KINDS = ("liability", "redeemed", "expired")


def _create_merchant(conn: Connection, data: MerchantIn, now: object, programme_id: int | None) -> int:
    if conn.execute(select(merchants.c.id).where(merchants.c.code == data.code)).first():
        raise Conflict(
            "DUPLICATE_MERCHANT",
            "merchant code {merchant_code!r} already exists",
            {"merchant_code": data.code},
        )
    mid = conn.execute(
        insert(merchants)
        .values(
            code=data.code, name=data.name, currency=data.currency, programme_id=programme_id, created_at=now
        )
        .returning(merchants.c.id)
    ).scalar_one()
    conn.execute(
        insert(accounts),
        [
            {"kind": k, "merchant_id": mid, "member_id": None, "balance": 0, "debt": 0, "created_at": now}
            for k in MERCHANT_ACCOUNT_KINDS
        ],
    )
    return int(mid)


def create_merchant(ctx: Context, data: MerchantIn, *, actor: Actor | None = None) -> MerchantOut:
    """Create a merchant in the default programme, with its ledger accounts (audited).

    Its currency is the programme's (CURRENCY_MISMATCH otherwise): its stores' sales are refused in
    any other, so a merchant in USD on a CNY programme could never post a sale in its own currency.
    """
    ctx.invalidate()
    with ctx.engine.begin() as conn:
        prog = conn.execute(select(programmes.c.id).order_by(programmes.c.id).limit(1)).scalar()
        expected = conn.execute(select(programmes.c.currency).where(programmes.c.id == prog)).scalar()
        if expected is not None and data.currency.upper() != expected:
            raise currency_mismatch("currency", data.currency, expected)
        mid = _create_merchant(conn, data, ctx.now(), prog)
        out = MerchantOut.model_validate(
            conn.execute(select(merchants).where(merchants.c.id == mid)).one()._asdict()
        )
        audit.record(
            conn, actor or SYSTEM, "merchant.create", "merchant", mid, None, out.model_dump(), at=ctx.now()
        )
    return out


def list_merchants(ctx: Context) -> list[MerchantOut]:
    with read(ctx) as conn:
        rows = conn.execute(select(merchants).order_by(merchants.c.id)).all()
    return [MerchantOut.model_validate(r._asdict()) for r in rows]


def create_store(ctx: Context, data: StoreIn, *, actor: Actor | None = None) -> StoreOut:
    """Create a store; its timezone decides business dates (e.g. which day a purchase counts for).
    Audited in the same transaction."""
    _check_zone(data.timezone)
    try:
        ctx.invalidate()
        with ctx.engine.begin() as conn:
            if conn.execute(select(merchants.c.id).where(merchants.c.id == data.merchant_id)).first() is None:
                raise NotFound(
                    "MERCHANT_NOT_FOUND",
                    "merchant {merchant_id} does not exist",
                    {"merchant_id": data.merchant_id},
                )
            sid = conn.execute(
                insert(stores).values(**data.model_dump(), created_at=ctx.now()).returning(stores.c.id)
            ).scalar_one()
            out = StoreOut.model_validate(
                conn.execute(select(stores).where(stores.c.id == sid)).one()._asdict()
            )
            audit.record(
                conn, actor or SYSTEM, "store.create", "store", sid, None, out.model_dump(), at=ctx.now()
            )
    except IntegrityError as exc:
        raise Conflict(
            "DUPLICATE_STORE", "store code {store_code!r} already exists", {"store_code": data.code}
        ) from exc
    return out


# What the API accepts as a store code (`api.routers.stores.Code`): POS exports name stores by it.
STORE_CODE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def check_store_fields(
    *,
    code: str | None = None,
    name: str | None = None,
    city: str | None = None,
    timezone: str | None = None,
    region: str | None = None,
) -> None:
    """Refuse a store field (those given) that the API would refuse, naming it: what `add_store`, the
    console and `update_store` check before they write."""
    if code is not None and not STORE_CODE.match(code):
        raise InvalidInput.field(
            "code",
            "store code {code!r} must be 1 to 32 letters, digits, _ or -",
            "STORE_CODE_INVALID",
            {"code": code},
        )
    if name is not None and not 1 <= len(name.strip()) <= 100:
        raise InvalidInput.field("name", "a store's name must be 1 to 100 characters", "STORE_NAME_INVALID")
    if city is not None and len(city) > 64:
        raise InvalidInput.field("city", "a city must be at most 64 characters", "STORE_CITY_INVALID")
    if region is not None and len(region) > 64:
        raise InvalidInput.field("region", "a region must be at most 64 characters", "STORE_REGION_INVALID")
    if timezone is not None:
        _check_zone(timezone)


def _check_zone(timezone: str) -> None:
    try:
        ZoneInfo(timezone)
    except (KeyError, ValueError) as exc:
        raise InvalidInput.field(
            "timezone", "unknown timezone {timezone!r}", "TIMEZONE_INVALID", {"timezone": timezone}
        ) from exc


def add_store(
    ctx: Context,
    *,
    code: str,
    name: str,
    city: str | None = None,
    timezone: str | None = None,
    merchant_code: str | None = None,
    region: str | None = None,
) -> StoreOut:
    """Open a store for the chain's merchant (the first one, or `merchant_code`), checking each field.

    What `loyalty stores add` runs. The time zone defaults to the configured one (LOYALTY_TIMEZONE).
    """
    check_store_fields(code=code, name=name, city=city, region=region)
    stmt = select(merchants.c.id).order_by(merchants.c.id).limit(1)
    if merchant_code is not None:
        stmt = select(merchants.c.id).where(merchants.c.code == merchant_code)
    with read(ctx) as conn:
        merchant_id = conn.execute(stmt).scalar()
    if merchant_id is None and merchant_code is not None:
        raise NotFound(
            "MERCHANT_NOT_FOUND", "merchant {merchant_code} does not exist", {"merchant_code": merchant_code}
        )
    if merchant_id is None:
        raise NotFound("MERCHANT_NOT_FOUND", "no merchant to open the store for: create the programme first")
    return create_store(
        ctx,
        StoreIn(
            merchant_id=int(merchant_id),
            code=code,
            name=name.strip(),
            city=city.strip() if city else None,
            timezone=timezone or ctx.settings.timezone,
            region=region.strip() if region and region.strip() else None,
        ),
    )


def list_stores(ctx: Context, merchant_id: int | None = None) -> list[StoreOut]:
    stmt = select(stores).order_by(stores.c.id)
    if merchant_id is not None:
        stmt = stmt.where(stores.c.merchant_id == merchant_id)
    with read(ctx) as conn:
        rows = conn.execute(stmt).all()
    return [StoreOut.model_validate(r._asdict()) for r in rows]


def get_store(ctx: Context, store_id: int) -> StoreOut:
    with read(ctx) as conn:
        row = conn.execute(select(stores).where(stores.c.id == store_id)).first()
    if row is None:
        raise NotFound("STORE_NOT_FOUND", "store {store_id} does not exist", {"store_id": store_id})
    return StoreOut.model_validate(row._asdict())


def get_merchant(ctx: Context, merchant_id: int) -> MerchantOut:
    with read(ctx) as conn:
        row = conn.execute(select(merchants).where(merchants.c.id == merchant_id)).first()
    if row is None:
        raise NotFound(
            "MERCHANT_NOT_FOUND", "merchant {merchant_id} does not exist", {"merchant_id": merchant_id}
        )
    return MerchantOut.model_validate(row._asdict())


class StoreChanges(BaseModel):
    """What `update_store` changes: only the fields given (`city=None` given clears the city)."""

    model_config = ConfigDict(extra="forbid")

    code: str | None = None
    name: str | None = None
    city: str | None = None
    timezone: str | None = None
    merchant_id: int | None = None
    #: the store's region (`region=None` given clears it)
    region: str | None = None


def update_store(
    ctx: Context, store_id: int, changes: StoreChanges, *, actor: Actor | None = None
) -> StoreOut:
    """Change a store's code, name, city, time zone, region or merchant, all or nothing, audited with
    the values before and after.

    What changes and what does not: sales already posted keep their business dates and their
    merchant's ledger accounts; from the next sale on the store's dates are counted in its new time
    zone and its points are owed by its new merchant. POS exports and imports find the store by its
    new code only. Nothing is written (and nothing audited) when no value differs.
    """
    given = changes.model_dump(include=changes.model_fields_set)
    for key in ("code", "name", "timezone"):  # required: an empty one is refused by its check below
        if key in given:
            given[key] = (given[key] or "").strip()
    for key in ("city", "region"):  # optional: empty clears
        if key in given:
            given[key] = (given[key] or "").strip() or None
    check_store_fields(
        code=given.get("code"),
        name=given.get("name"),
        city=given.get("city"),
        timezone=given.get("timezone"),
        region=given.get("region"),
    )
    ctx.invalidate()
    try:
        with ctx.engine.begin() as conn:
            row = conn.execute(select(stores).where(stores.c.id == store_id)).first()
            if row is None:
                raise NotFound("STORE_NOT_FOUND", "store {store_id} does not exist", {"store_id": store_id})
            current = row._asdict()
            diff = {k: v for k, v in given.items() if current[k] != v}
            if "merchant_id" in diff and (
                diff["merchant_id"] is None
                or conn.execute(select(merchants.c.id).where(merchants.c.id == diff["merchant_id"])).first()
                is None
            ):
                raise InvalidInput.field(
                    "merchant_id",
                    "merchant {merchant_id} does not exist",
                    "MERCHANT_NOT_FOUND",
                    {"merchant_id": diff["merchant_id"]},
                )
            if (
                "code" in diff
                and conn.execute(
                    select(stores.c.id).where(stores.c.code == diff["code"], stores.c.id != store_id)
                ).first()
                is not None
            ):
                raise _duplicate_store(diff["code"])
            if diff:
                conn.execute(update(stores).where(stores.c.id == store_id).values(**diff))
                before = {k: current[k] for k in diff}
                audit.record(
                    conn, actor or SYSTEM, "store.update", "store", store_id, before, diff, at=ctx.now()
                )
            out = StoreOut.model_validate(
                conn.execute(select(stores).where(stores.c.id == store_id)).one()._asdict()
            )
    except IntegrityError as exc:  # a code taken by a concurrent writer between the check and the update
        raise _duplicate_store(str(given.get("code"))) from exc
    finally:
        ctx.invalidate()
    return out


def _duplicate_store(code: str) -> Conflict:
    return Conflict(
        "DUPLICATE_STORE",
        "store code {store_code!r} already exists",
        {
            "store_code": code,
            "errors": [field_error("code", "store code {store_code!r} already exists", {"store_code": code})],
        },
    )


class MerchantChanges(BaseModel):
    """What `update_merchant` changes. A merchant's code and currency stay: the programme finds its
    chain's merchant by code, and the currency is the programme's."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None


def update_merchant(
    ctx: Context, merchant_id: int, changes: MerchantChanges, *, actor: Actor | None = None
) -> MerchantOut:
    """Rename a merchant (the chain's name, for its default merchant), audited with the old name."""
    name = (changes.name or "").strip()
    if "name" in changes.model_fields_set and not 1 <= len(name) <= 100:
        raise InvalidInput.field(
            "name", "a merchant's name must be 1 to 100 characters", "MERCHANT_NAME_INVALID"
        )
    ctx.invalidate()
    with ctx.engine.begin() as conn:
        row = conn.execute(select(merchants).where(merchants.c.id == merchant_id)).first()
        if row is None:
            raise NotFound(
                "MERCHANT_NOT_FOUND", "merchant {merchant_id} does not exist", {"merchant_id": merchant_id}
            )
        if "name" in changes.model_fields_set and name != row.name:
            conn.execute(update(merchants).where(merchants.c.id == merchant_id).values(name=name))
            audit.record(
                conn,
                actor or SYSTEM,
                "merchant.update",
                "merchant",
                merchant_id,
                {"name": row.name},
                {"name": name},
                at=ctx.now(),
            )
        out = MerchantOut.model_validate(
            conn.execute(select(merchants).where(merchants.c.id == merchant_id)).one()._asdict()
        )
    return out
