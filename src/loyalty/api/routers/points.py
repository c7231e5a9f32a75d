"""Points: balance with expiring buckets, statement, redemption at checkout, manual adjustment."""

from __future__ import annotations

import datetime as dt
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from loyalty.api.deps import CtxDep, in_query, requires
from loyalty.api.idempotency import IdempotencyKey, run_idempotent
from loyalty.api.routers.members import load_member, require_member_store
from loyalty.api.schemas import (
    DbId,
    Money,
    OptionalCurrency,
    Page,
    PathId,
    PositiveDecimalString,
    aware,
    minor_of,
    money,
)
from loyalty.api.security import Principal
from loyalty.domain import cursors
from loyalty.domain.errors import InvalidInput
from loyalty.services import intake
from loyalty.services import points as points_service

router = APIRouter(tags=["points"])

Reader = Annotated[Principal, Depends(requires("points:read"))]
Redeemer = Annotated[Principal, Depends(requires("points:redeem"))]
Adjuster = Annotated[Principal, Depends(requires("points:adjust"))]


class ExpiringBucket(BaseModel):
    """Points that expire within the next `within_days` days unless spent first."""

    within_days: int
    points: int


class ExpiryDateOut(BaseModel):
    """Points that expire on one business date unless spent first."""

    date: Annotated[dt.date, Field(description="A business date in `timezone`.")]
    points: int


class BalanceOut(BaseModel):
    """What a member can spend now, what is still pending, any debt, and when points expire."""

    member_id: DbId
    balance: int
    available: int
    pending: int
    debt: int
    expiring_soon: list[ExpiringBucket]
    timezone: str = Field(examples=["Asia/Shanghai"], description="The programme's time zone.")
    expiry_schedule: list[ExpiryDateOut] = Field(
        description="Each date on which unspent points (spendable or pending) expire, soonest first."
    )


class StatementEntry(BaseModel):
    """One movement on the member's points account."""

    transfer_id: int
    at: datetime
    kind: str
    points: int
    balance_after: int = Field(description="Points after this movement: spendable and pending, less debt.")
    debt_repaid: int = Field(
        description="Of a credit: the part of `points` that paid off debt before any became spendable "
        "(a balance of -80 and a credit of 120 with 80 of it repaying the debt leave 40)."
    )
    debt_created: int = Field(
        description="Of a return: the points taken back that were already spent, now owed as debt."
    )
    rule: str
    reason: str | None
    order_id: str | None
    store_id: int | None


class RedeemIn(BaseModel):
    """Spend points at a store's checkout (e.g. as cash or for a reward)."""

    model_config = ConfigDict(extra="forbid")

    member_id: DbId
    store_id: DbId
    points: int = Field(gt=0, le=100_000_000)
    order_id: str | None = Field(default=None, max_length=64, description="The order paid with points.")
    order_total: PositiveDecimalString | None = Field(
        default=None, description="Order total, to enforce the programme's cap on paying with points."
    )
    currency: OptionalCurrency = None


class AdjustIn(BaseModel):
    """A manual correction or goodwill grant; negative points remove points."""

    model_config = ConfigDict(extra="forbid")

    member_id: DbId
    points: int = Field(ge=-100_000_000, le=100_000_000)
    reason: str = Field(min_length=3, max_length=200)


class MovementOut(BaseModel):
    """The result of a redemption or adjustment: the movement and the new balance."""

    transfer_id: int
    member_id: int
    points: int
    value: Money | None = Field(default=None, description="What redeemed points paid for.")
    balance_after: int


def balance_view(b: Any) -> BalanceOut:
    return BalanceOut(
        member_id=b.member_id,
        balance=b.balance,
        available=b.available,
        pending=b.pending,
        debt=b.debt,
        expiring_soon=[ExpiringBucket(within_days=x.within_days, points=x.points) for x in b.expiring_soon],
        timezone=b.timezone,
        expiry_schedule=[ExpiryDateOut(date=x.date, points=x.points) for x in b.expiry_schedule],
    )


#: how many movements one statement read considers; older ones need an export
STATEMENT_WINDOW = 10_000


def statement_page(ctx: Any, member_id: int, cursor: str | None, limit: int) -> Page[StatementEntry]:
    """Newest first, keyset-paginated by transfer id over the core's statement."""
    try:
        before = cursors.before_id(cursor)
    except InvalidInput as exc:
        raise in_query(exc) from exc
    entries = sorted(
        points_service.statement(ctx, member_id, limit=STATEMENT_WINDOW),
        key=lambda e: e.transfer_id,
        reverse=True,
    )
    if before is not None:
        entries = [e for e in entries if e.transfer_id < before]
    page = entries[:limit]
    return Page[StatementEntry](
        items=[
            StatementEntry(
                transfer_id=e.transfer_id,
                at=aware(e.at),
                kind=e.kind,
                points=e.amount,
                balance_after=e.balance_after,
                debt_repaid=e.debt_repaid,
                debt_created=e.debt_created,
                rule=e.rule,
                reason=e.reason,
                order_id=e.order_id,
                store_id=e.store_id,
            )
            for e in page
        ],
        next_cursor=cursors.id_cursor(page[-1].transfer_id) if len(entries) > limit else None,
    )


@router.get("/members/{member_id}/points", response_model=BalanceOut)
def get_balance(member_id: PathId, caller: Reader, ctx: CtxDep) -> BalanceOut:
    """A member's spendable, pending and owed points, and on which dates points expire."""
    load_member(ctx, member_id)
    return balance_view(points_service.balance(ctx, member_id))


@router.get("/members/{member_id}/points/statement", response_model=Page[StatementEntry])
def get_statement(
    member_id: PathId,
    caller: Reader,
    ctx: CtxDep,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[StatementEntry]:
    """A member's points movements, newest first, with cursor pagination."""
    load_member(ctx, member_id)
    return statement_page(ctx, member_id, cursor, limit)


@router.post("/points/redeem", response_model=MovementOut, status_code=201)
def redeem(body: RedeemIn, caller: Redeemer, ctx: CtxDep, idempotency_key: IdempotencyKey = None) -> Any:
    """Spend a member's points at the caller's store; 409 when the balance is short or a spend races."""
    caller.require_store(body.store_id)
    load_member(ctx, body.member_id)
    currency = intake.check_currency(ctx, body.store_id, body.currency)
    total = minor_of(body.order_total, currency, "order_total") if body.order_total is not None else None

    def handler() -> tuple[int, BaseModel]:
        r = points_service.redeem(
            ctx,
            body.member_id,
            body.points,
            store_id=body.store_id,
            order_id=body.order_id,
            order_total_minor=total,
            idempotency_key=_core_key(caller, idempotency_key),
            actor=caller.to_actor(),
        )
        return 201, MovementOut(
            transfer_id=r.transfer_id,
            member_id=r.member_id,
            points=-r.points,
            value=money(r.value_minor, currency),
            balance_after=r.balance_after,
        )

    return run_idempotent(ctx, caller, idempotency_key, "POST /points/redeem", body, handler)


@router.post("/points/adjust", response_model=MovementOut, status_code=201)
def adjust(body: AdjustIn, caller: Adjuster, ctx: CtxDep, idempotency_key: IdempotencyKey = None) -> Any:
    """Grant or remove points by hand with a reason; recorded in the audit log."""
    require_member_store(caller, load_member(ctx, body.member_id))

    def handler() -> tuple[int, BaseModel]:
        r = points_service.adjust(
            ctx,
            body.member_id,
            body.points,
            reason=body.reason,
            operator=caller.scope_key,
            idempotency_key=_core_key(caller, idempotency_key),
            actor=caller.to_actor(),
        )
        return 201, MovementOut(
            transfer_id=r.transfer_id, member_id=r.member_id, points=r.points, balance_after=r.balance_after
        )

    return run_idempotent(ctx, caller, idempotency_key, "POST /points/adjust", body, handler)


def _core_key(caller: Principal, key: str | None) -> str | None:
    """The caller-scoped key handed to the core, which stores it in the spend's own transaction."""
    return f"{caller.scope_key}:{key}" if key else None
