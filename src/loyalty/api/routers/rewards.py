"""Rewards bought with points: the catalogue (`/rewards`), orders made for a member at a store's till
(`/members/{id}/reward-orders`), their fulfilment and cancellation (`/reward-orders/{id}/…`), and a
member's own catalogue and orders (`/me/rewards`, `/me/reward-orders`).

Who may do what: the catalogue is defined and changed with `programme:write` (marketers, admins) and
read by them and by the front line (`programme:read` or `points:redeem`: the till shows it). An order
spends points, so it takes `points:redeem` for the caller's own store, as a redemption at the till
does; fulfilling or cancelling it, too, for the store it was made at. Members order for themselves
through /me. Every write is audited in its transaction (`services.rewards`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query
from pydantic import BaseModel

from loyalty.api.deps import Caller, CtxDep, MemberPrincipal, requires
from loyalty.api.errors import forbidden
from loyalty.api.idempotency import IdempotencyKey, run_idempotent
from loyalty.api.reward_views import (
    CancelIn,
    FulfilIn,
    MyOrderIn,
    MyRewardOut,
    OrderIn,
    OrderOut,
    RewardChange,
    RewardIn,
    RewardOut,
    my_reward_view,
    order_view,
    reward_view,
)
from loyalty.api.routers.members import load_member
from loyalty.api.schemas import PathId
from loyalty.api.security import Principal
from loyalty.domain.errors import InvalidInput, NotFound, field_error
from loyalty.domain.programme.rewards import CODE_PATTERN, RewardTerms
from loyalty.services.rewards import catalog, orders, redeem, settle

router = APIRouter(tags=["rewards"])

Writer = Annotated[Principal, Depends(requires("programme:write"))]
Redeemer = Annotated[Principal, Depends(requires("points:redeem"))]
PointsReader = Annotated[Principal, Depends(requires("points:read"))]
RewardCode = Annotated[str, Path(pattern=CODE_PATTERN, description="The reward's code, e.g. thermos-mug.")]


async def _catalogue_reader(caller: Caller) -> Principal:
    """Marketers and analysts (`programme:read`) and the front line (`points:redeem`)."""
    if not (caller.can("programme:read") or caller.can("points:redeem")):
        raise forbidden("Role {role!r} may not {action}.", role=caller.role, action="read rewards")
    return caller


CatalogueReader = Annotated[Principal, Depends(_catalogue_reader)]


def _in_path(exc: NotFound) -> NotFound:
    """The NotFound of a code in the path, naming the parameter (`path.code`)."""
    return NotFound(
        exc.code,
        exc.template,
        {**(exc.details or {}), "errors": [field_error("path.code", exc.template, exc.details)]},
    )


def _key(caller: Principal, key: str | None) -> str | None:
    """The caller-scoped key handed to the service, which stores it with the order."""
    return f"{caller.scope_key}:{key}" if key else None


@router.get("/rewards", response_model=list[RewardOut])
def list_rewards(
    caller: CatalogueReader,
    ctx: CtxDep,
    current: Annotated[bool, Query(description="Only the rewards that can be ordered now.")] = False,
) -> list[RewardOut]:
    """The rewards catalogue by code (every reward, or those that can be ordered now)."""
    now = ctx.now()
    return [reward_view(r, now) for r in catalog.list_rewards(ctx, current=current)]


@router.post("/rewards", response_model=RewardOut, status_code=201)
def define_reward(body: RewardIn, caller: Writer, ctx: CtxDep) -> RewardOut:
    """Add a reward to the catalogue (audited); 422 naming the field when its terms cannot work."""
    terms = RewardTerms(
        code=body.code,
        name=body.name,
        kind=body.kind,
        points=body.points,
        tier_prices=body.tier_prices,
        stock=body.stock,
        per_member_limit=body.per_member_limit,
        offer_code=body.offer_code,
        description=body.description,
        tiers=tuple(body.tiers) if body.tiers is not None else None,
    )
    made = catalog.define_reward(
        ctx, terms, valid_from=body.valid_from, valid_to=body.valid_to, actor=caller.to_actor()
    )
    return reward_view(made, ctx.now())


@router.patch("/rewards/{code}", response_model=RewardOut)
def change_reward(code: RewardCode, body: RewardChange, caller: Writer, ctx: CtxDep) -> RewardOut:
    """Change a reward's terms (audited): its price, prices per tier, the tiers it is for (null: every
    member), stock, limit, period or offer."""
    changes = body.model_dump(exclude_unset=True)
    try:
        changed = catalog.change_reward(ctx, code, changes, actor=caller.to_actor())
    except NotFound as exc:
        if exc.code != "REWARD_NOT_FOUND":
            raise
        raise _in_path(exc) from exc
    return reward_view(changed, ctx.now())


@router.post("/members/{member_id}/reward-orders", response_model=OrderOut, status_code=201)
def order_reward(
    member_id: PathId,
    body: OrderIn,
    caller: Redeemer,
    ctx: CtxDep,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Order a reward for a member at the caller's store: points spent, a unit taken, a coupon reward's
    coupon issued, in one transaction; 409 when out of stock, over the member's limit, short of points, or
    the reward is for tiers the member is not in (REWARD_TIER_ONLY, naming them)."""
    caller.require_store(body.store_id)
    load_member(ctx, member_id)

    def handler() -> tuple[int, BaseModel]:
        made = redeem.redeem(
            ctx,
            member_id,
            body.reward,
            store_id=body.store_id,
            idempotency_key=_key(caller, idempotency_key),
            actor=caller.to_actor(),
        )
        return 201, order_view(made)

    route = "POST /members/{member_id}/reward-orders"
    return run_idempotent(
        ctx, caller, idempotency_key, route, {"member_id": member_id, **body.model_dump()}, handler
    )


@router.get("/members/{member_id}/reward-orders", response_model=list[OrderOut])
def member_orders(member_id: PathId, caller: PointsReader, ctx: CtxDep) -> list[OrderOut]:
    """A member's reward orders, newest first."""
    load_member(ctx, member_id)
    return [order_view(o) for o in orders.member_orders(ctx, member_id)]


def _own_store_order(caller: Principal, ctx: Any, order_id: int) -> None:
    caller.require_store(orders.get_order(ctx, order_id).store_id)


@router.post("/reward-orders/{order_id}/fulfil", response_model=OrderOut)
def fulfil_order(order_id: PathId, body: FulfilIn, caller: Redeemer, ctx: CtxDep) -> OrderOut:
    """Mark an order of the caller's store shipped, collected or fulfilled (audited)."""
    _own_store_order(caller, ctx, order_id)
    return order_view(settle.fulfil(ctx, order_id, body.status, actor=caller.to_actor()))


@router.post("/reward-orders/{order_id}/cancel", response_model=OrderOut)
def cancel_order(
    order_id: PathId,
    caller: Redeemer,
    ctx: CtxDep,
    body: Annotated[CancelIn | None, Body()] = None,
) -> OrderOut:
    """Cancel an order of the caller's store (audited): the points back with their dates, the unit back
    in stock, a coupon reward's unused coupon voided; 409 once shipped, collected or its coupon used."""
    _own_store_order(caller, ctx, order_id)
    reason = body.reason if body is not None else None
    return order_view(settle.cancel(ctx, order_id, reason=reason, actor=caller.to_actor()))


@router.get("/me/rewards", response_model=list[MyRewardOut], tags=["me"])
def my_rewards(me: MemberPrincipal, ctx: CtxDep) -> list[MyRewardOut]:
    """The rewards that can be ordered now, each at my tier's price; those for tiers I am not in come
    `locked`, with the tiers they are for."""
    assert me.member_id is not None  # guaranteed by `member_only`
    return [my_reward_view(i) for i in orders.member_catalogue(ctx, me.member_id)]


@router.get("/me/reward-orders", response_model=list[OrderOut], tags=["me"])
def my_orders(me: MemberPrincipal, ctx: CtxDep) -> list[OrderOut]:
    """My reward orders, newest first."""
    assert me.member_id is not None
    return [order_view(o) for o in orders.member_orders(ctx, me.member_id)]


@router.post("/me/reward-orders", response_model=OrderOut, status_code=201, tags=["me"])
def order_my_reward(
    body: MyOrderIn, me: MemberPrincipal, ctx: CtxDep, idempotency_key: IdempotencyKey = None
) -> Any:
    """Order a reward with my points, to collect at a store (by default the one I registered at)."""
    assert me.member_id is not None
    member_id = me.member_id
    store_id = body.store_id or load_member(ctx, member_id).registration_store_id
    if store_id is None:
        raise InvalidInput.field("store_id", "say at which store to collect the reward", "STORE_REQUIRED")

    def handler() -> tuple[int, BaseModel]:
        made = redeem.redeem(
            ctx,
            member_id,
            body.reward,
            store_id=store_id,
            idempotency_key=_key(me, idempotency_key),
            actor=me.to_actor(),
        )
        return 201, order_view(made)

    return run_idempotent(ctx, me, idempotency_key, "POST /me/reward-orders", body, handler)
