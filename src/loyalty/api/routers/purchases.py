"""Purchases and returns posted by POS terminals (idempotent per store and order id)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from loyalty.api.deps import CtxDep, requires
from loyalty.api.errors import ApiError
from loyalty.api.group_commit import GroupCommit
from loyalty.api.idempotency import (
    IdempotencyKey,
    request_hash,
    run_idempotent,
    run_idempotent_in,
)
from loyalty.api.sale_batches import ALONE, BatchedSale, SaleBatcher
from loyalty.api.schemas import (
    AmountError,
    CurrencyCode,
    DbId,
    Money,
    PathId,
    PositiveDecimalString,
    aware,
    money,
    to_minor,
)
from loyalty.api.security import Principal
from loyalty.services import purchases as purchases_service
from loyalty.services.idempotency import Record
from loyalty.services.sale_batches import batchable
from loyalty.services.schemas import PurchaseIn as CorePurchaseIn
from loyalty.services.schemas import PurchaseLineIn as CoreLineIn
from loyalty.services.schemas import ReturnIn as CoreReturnIn
from loyalty.services.schemas import ReturnLineIn as CoreReturnLineIn

router = APIRouter(tags=["purchases"])

Poster = Annotated[Principal, Depends(requires("purchases:write"))]
Reader = Annotated[Principal, Depends(requires("purchases:read"))]

Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:/-]+$")]


class LineIn(BaseModel):
    """One receipt line: quantity × unit price, less any line discount."""

    model_config = ConfigDict(extra="forbid")

    sku: Code
    category: str | None = Field(default=None, max_length=64)
    quantity: int = Field(ge=1, le=10_000)
    unit_price: PositiveDecimalString
    discount: PositiveDecimalString = "0"


class PurchaseIn(BaseModel):
    """A receipt from a store's POS; `order_id` is unique per store, so a re-post is harmless."""

    model_config = ConfigDict(extra="forbid")

    store_id: DbId
    order_id: Code
    member_id: DbId | None = Field(default=None, description="Identify the member by exactly one of these.")
    phone: str | None = Field(default=None, max_length=20)
    card_no: str | None = Field(default=None, max_length=32)
    occurred_at: AwareDatetime
    currency: CurrencyCode = "CNY"
    lines: list[LineIn] = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _amounts_fit_currency(self) -> PurchaseIn:
        for i, line in enumerate(self.lines):
            for name in ("unit_price", "discount"):
                try:
                    to_minor(getattr(line, name), self.currency)
                except AmountError as exc:
                    raise ValueError(f"lines.{i}.{name}: {exc}") from exc
            if to_minor(line.discount, self.currency) > line.quantity * to_minor(
                line.unit_price, self.currency
            ):
                raise ValueError(f"lines.{i}.discount: exceeds the line amount")
        return self


class PurchaseOut(BaseModel):
    """A posted purchase: what it earned, when the points become spendable, the member's tier."""

    id: int
    store_id: int
    member_id: int
    order_id: str
    total: Money
    points_earned: int
    rule: str = Field(description="The earning rule that applied, for the receipt.")
    points_available_at: datetime | None
    points_expire_at: datetime | None
    tier_code: str
    upgraded_to: str | None
    replayed: bool = Field(description="True when this order was already posted (same store and order id).")


class ReturnLineIn(BaseModel):
    """Quantity returned of one original line."""

    model_config = ConfigDict(extra="forbid")

    line_no: int = Field(ge=1)
    quantity: int = Field(ge=1, le=10_000)


class ReturnIn(BaseModel):
    """A return against an earlier order; omit `lines` to return the whole order."""

    model_config = ConfigDict(extra="forbid")

    store_id: DbId = Field(description="Where the goods are returned (the caller's store).")
    order_id: Code
    original_store_id: DbId | None = Field(default=None, description="Where it was bought, if elsewhere.")
    return_id: Code
    occurred_at: AwareDatetime
    lines: list[ReturnLineIn] | None = Field(default=None, max_length=500)
    refund: PositiveDecimalString | None = Field(
        default=None, description="A refund amount instead of lines; omit both to return the whole order."
    )


class ReturnOut(BaseModel):
    """A posted return: the refund and the points taken back (debt when already spent)."""

    id: int
    purchase_id: int
    store_id: int
    return_id: str
    refund: Money
    points_reversed: int
    debt_created: int
    replayed: bool


def purchase_input(body: PurchaseIn | dict[str, Any]) -> CorePurchaseIn:
    """Translate the wire body into the core's purchase input (minor units, aware time)."""
    data = body if isinstance(body, PurchaseIn) else PurchaseIn.model_validate(body)
    return CorePurchaseIn(
        store_id=data.store_id,
        order_id=data.order_id,
        member_id=data.member_id,
        phone=data.phone,
        card_no=data.card_no,
        occurred_at=data.occurred_at,
        currency=data.currency,
        lines=[
            CoreLineIn(
                sku=line.sku,
                category=line.category,
                quantity=line.quantity,
                unit_price_minor=to_minor(line.unit_price, data.currency),
                discount_minor=to_minor(line.discount, data.currency),
            )
            for line in data.lines
        ],
    )


def purchase_view(p: Any, currency: str) -> PurchaseOut:
    return PurchaseOut(
        id=p.purchase_id,
        store_id=p.store_id,
        member_id=p.member_id,
        order_id=p.order_id,
        total=money(p.total_minor, currency),
        points_earned=p.points_earned,
        rule=p.rule,
        points_available_at=aware(p.available_at) if p.available_at else None,
        points_expire_at=aware(p.expires_at) if p.expires_at else None,
        tier_code=p.tier_code,
        upgraded_to=p.upgraded_to,
        replayed=p.replayed,
    )


@router.post("/purchases", response_model=PurchaseOut, status_code=201)
async def post_purchase(
    body: PurchaseIn, caller: Poster, ctx: CtxDep, request: Request, idempotency_key: IdempotencyKey = None
) -> Any:
    """Post a purchase from a store's POS and earn points for the member."""
    caller.require_store(body.store_id)
    sale = purchase_input(body)
    views: list[PurchaseOut] = []  # rendered once, inside the transaction when a key is recorded

    def render(result: Any) -> tuple[int, dict[str, Any]]:
        views.append(purchase_view(result, body.currency))
        return 201, views[-1].model_dump(mode="json")

    def keyed(record: Record | None) -> Record | None:
        if record is not None:
            record.render = render
        return record

    def answer(result: Any) -> tuple[int, BaseModel]:
        return 201, views[-1] if views else purchase_view(result, body.currency)

    batcher: SaleBatcher | None = request.app.state.sale_batcher
    if batcher is not None and batchable(sale):  # PostgreSQL: posted with the sales arriving meanwhile
        scope = caller.scope_key
        digest = "" if idempotency_key is None else request_hash(_POST_PURCHASE, body)
        # Rendered apart from `views`: a batch that rolls back leaves the sale to the path below.
        queued = BatchedSale(
            sale,
            lambda r: purchase_view(r, body.currency).model_dump(mode="json"),
            scope,
            idempotency_key,
            digest,
        )
        batched = await batcher.run(queued)
        if batched is not ALONE:
            return batched
    group_commit: GroupCommit | None = request.app.state.group_commit
    if group_commit is None:  # a transaction of its own, side by side with others (PostgreSQL)

        def attempt(conn: Connection, first_try: bool) -> JSONResponse:
            # The key is looked up in the sale's own transaction: no second connection, BEGIN and
            # ROLLBACK per sale for it.
            def handler(record: Record | None) -> tuple[int, BaseModel]:
                result = purchases_service.post_purchase_once(
                    conn, ctx, sale, record=keyed(record), first_try=first_try
                )
                return answer(result)

            return run_idempotent_in(conn, caller, idempotency_key, _POST_PURCHASE, body, handler)

        return await run_in_threadpool(purchases_service.in_sale_transaction, ctx, attempt)

    def job(conn: Connection) -> JSONResponse:  # in the next shared SQLite transaction
        def handler(record: Record | None) -> tuple[int, BaseModel]:
            return answer(purchases_service.post_purchase_in(conn, ctx, sale, record=keyed(record)))

        return run_idempotent_in(conn, caller, idempotency_key, _POST_PURCHASE, body, handler)

    return await group_commit.run(job)


_POST_PURCHASE = "POST /purchases"


@router.get("/purchases/{purchase_id}", response_model=PurchaseOut)
def get_purchase(purchase_id: PathId, caller: Reader, ctx: CtxDep) -> PurchaseOut:
    """One purchase with its lines; store staff see only their stores' purchases."""
    purchase = purchases_service.get_purchase(ctx, purchase_id)
    caller.require_store(purchase.store_id)
    return purchase_view(purchase, ctx.settings.currency)


@router.post("/returns", response_model=ReturnOut, status_code=201)
def post_return(body: ReturnIn, caller: Poster, ctx: CtxDep, idempotency_key: IdempotencyKey = None) -> Any:
    """Post a return against an order; the points it earned are reversed (at most once)."""
    caller.require_store(body.store_id)

    def handler() -> tuple[int, BaseModel]:
        data = CoreReturnIn(
            store_id=body.store_id,
            return_id=body.return_id,
            order_id=body.order_id,
            occurred_at=body.occurred_at,
            original_store_id=body.original_store_id,
            lines=[CoreReturnLineIn(line_no=x.line_no, quantity=x.quantity) for x in body.lines]
            if body.lines
            else None,
            refund_minor=_refund_minor(ctx, body),
        )
        result = purchases_service.post_return(ctx, data, actor=caller.to_actor())
        return 201, ReturnOut(
            id=result.return_row_id,
            purchase_id=result.purchase_id,
            store_id=body.store_id,
            return_id=body.return_id,
            refund=money(result.refund_minor, ctx.settings.currency),
            points_reversed=result.points_reversed,
            debt_created=result.debt_created,
            replayed=result.replayed,
        )

    if body.lines is not None and not body.lines:
        raise ApiError(422, "VALIDATION_FAILED", "lines must not be empty; omit it to return everything.")
    return run_idempotent(ctx, caller, idempotency_key, "POST /returns", body, handler)


def _refund_minor(ctx: Any, body: ReturnIn) -> int | None:
    """The refund to pass the core: the given amount, or the whole order when neither lines nor amount."""
    if body.lines:
        return None
    if body.refund is not None:
        try:
            return to_minor(body.refund, ctx.settings.currency)
        except AmountError as exc:
            raise ApiError(
                422, "VALIDATION_FAILED", str(exc), errors=[{"field": "refund", "message": str(exc)}]
            ) from exc
    original = purchases_service.get_purchase(
        ctx, store_id=body.original_store_id or body.store_id, order_id=body.order_id
    )
    return int(original.total_minor)
