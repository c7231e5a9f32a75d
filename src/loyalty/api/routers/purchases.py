"""Purchases and returns posted by POS terminals (idempotent per store and order id)."""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from starlette.concurrency import run_in_threadpool

from loyalty.api.deps import TILL_SECURITY, CtxDep, MemberPrincipal, in_query, requires, requires_at_till
from loyalty.api.errors import InvalidValue
from loyalty.api.idempotency import IdempotencyKey, answered, request_hash, run_idempotent
from loyalty.api.ratelimit import Lookups
from loyalty.api.schemas import (
    MAX_ID,
    AmountError,
    CurrencyCode,
    DbId,
    Money,
    OptionalCurrency,
    Page,
    PathId,
    PositiveDecimalString,
    StaffCode,
    aware,
    minor_of,
    money,
    to_minor,
)
from loyalty.api.security import Principal
from loyalty.api.till_route import TillRoute
from loyalty.config import get_settings
from loyalty.domain.channels import DEFAULT_CHANNEL, Channel, is_default_channel
from loyalty.domain.errors import InvalidInput, NotFound, field_error
from loyalty.services import intake, purchase_claims
from loyalty.services import purchases as purchases_service
from loyalty.services.offers.checkout import MAX_CODES
from loyalty.services.posting.sale_request import SaleKey, SaleRequest, attributed
from loyalty.services.posting.strategy import PostingStrategy
from loyalty.services.purchase_claims import ClaimIn as CoreClaimIn
from loyalty.services.purchase_claims import ClaimResult
from loyalty.services.schemas import PurchaseIn as CorePurchaseIn
from loyalty.services.schemas import PurchaseLineIn as CoreLineIn
from loyalty.services.schemas import ReturnIn as CoreReturnIn
from loyalty.services.schemas import ReturnLineIn as CoreReturnLineIn

if TYPE_CHECKING:
    from loyalty.bootstrap import Context

router = APIRouter(tags=["purchases"], route_class=TillRoute)  # POST /purchases: the till's lean path

Poster = Annotated[Principal, Depends(requires("purchases:write"))]
TillPoster = Annotated[Principal, Depends(requires_at_till("purchases:write"))]
Reader = Annotated[Principal, Depends(requires("purchases:read"))]

Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:/-]+$")]
#: a coupon code as a person types or a scanner reads it (spaces and dashes are dropped)
CouponCode = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9 -]+$")]


class LineIn(BaseModel):
    """One receipt line: quantity × unit price, less any line discount."""

    model_config = ConfigDict(extra="forbid")

    sku: Code
    category: str | None = Field(default=None, max_length=64)
    quantity: int = Field(ge=1, le=10_000)
    unit_price: PositiveDecimalString
    discount: PositiveDecimalString = "0"
    # Left out of the request's hash when None, so a line's Idempotency-Key matches what it did before
    # lines could name a brand.
    brand: str | None = Field(
        default=None,
        max_length=64,
        exclude_if=lambda brand: brand is None,
        description="The item's brand, which earning rules may select (`when.brands`).",
    )


class PurchaseIn(BaseModel):
    """A receipt from a store's POS; `order_id` is unique per store, so a re-post is harmless."""

    model_config = ConfigDict(extra="forbid")

    store_id: DbId
    order_id: Code
    member_id: DbId | None = Field(
        default=None,
        description="Identify the member by exactly one of these; by none for an anonymous sale (kept, "
        "earns nothing; the member can claim it later with the receipt).",
    )
    phone: str | None = Field(default=None, max_length=20)
    card_no: str | None = Field(
        default=None,
        max_length=64,
        description="As printed (`8856 6354 5964 2410`, dashes too) or the member's QR code "
        "(`loyalty:member:…`).",
    )
    occurred_at: AwareDatetime = Field(
        description="When the sale was made: at most LOYALTY_CLOCK_SKEW_SECONDS (300) ahead of the server's "
        "clock and LOYALTY_BACKDATE_DAYS (30) behind it; older sales come in by import."
    )
    currency: CurrencyCode = Field(
        default_factory=lambda: get_settings().currency,
        description="The programme's currency (the default); any other is refused (CURRENCY_MISMATCH).",
    )
    lines: list[LineIn] = Field(min_length=1, max_length=500)
    # Left out of the request's hash when it is the default: a store sale's Idempotency-Key matches
    # what it did before sales had a channel.
    channel: Channel = Field(
        default=DEFAULT_CHANNEL,
        exclude_if=is_default_channel,
        description="Where the sale was made: store (the default), online, mini_program or delivery.",
    )
    # Left out of the request's hash when empty, as the channel is.
    coupon_codes: list[CouponCode] = Field(
        default_factory=list,
        max_length=MAX_CODES,
        exclude_if=lambda codes: not codes,
        description="The coupons the customer hands over, as printed or typed (`7KQ2-M9XD-…`). Each must be "
        "usable by this member now, or the sale is refused with COUPON_NOT_USABLE (one answer for any "
        "reason); the best-for-member combination is applied and `coupons` says what each took off.",
    )
    apply_promotions: bool = Field(
        default=False,
        exclude_if=lambda apply: not apply,
        description="Apply the programme's promotions in force (满减 for everyone, a tier's discount) with "
        "the coupons: for a till that prices with the programme (false: the till applied its own discounts).",
    )
    # Left out of the request's hash when not given, as the channel is.
    staff: StaffCode | None = Field(
        default=None,
        exclude_if=lambda staff: staff is None,
        description="Who rang the sale: the cashier's code (1 to 100 printable characters), kept for the "
        "KPIs by staff. Not given: the username of the staff account posting it (none for a POS key).",
    )

    @model_validator(mode="after")
    def _amounts_fit_currency(self) -> PurchaseIn:
        for i, line in enumerate(self.lines):
            for name in ("unit_price", "discount"):
                try:
                    to_minor(getattr(line, name), self.currency)
                except AmountError as exc:
                    raise InvalidValue.field(f"lines.{i}.{name}", exc.template, values=exc.details) from exc
            discount = to_minor(line.discount, self.currency)
            amount = line.quantity * to_minor(line.unit_price, self.currency)
            if discount > amount:
                from loyalty.i18n.formats import Amount  # Babel only when the message needs it

                raise InvalidValue.field(
                    f"lines.{i}.discount",
                    "the discount {discount} exceeds the line's amount {amount}",
                    values={
                        "discount": Amount(discount, self.currency),
                        "amount": Amount(amount, self.currency),
                    },
                )
        return self


class PurchaseOut(BaseModel):
    """A posted purchase: what it earned, when the points become spendable, the member's tier."""

    id: int
    store_id: int
    member_id: int | None = Field(description="None for an anonymous sale (not claimed by a member).")
    order_id: str
    total: Money
    points_earned: int
    rule: str = Field(description="The earning rule that applied, for the receipt ('anonymous': none).")
    points_available_at: datetime | None
    points_expire_at: datetime | None
    tier_code: str | None = Field(description="The member's tier; None for an anonymous sale.")
    upgraded_to: str | None
    replayed: bool = Field(description="True when this order was already posted (same store and order id).")
    channel: Channel
    claimed_at: datetime | None = Field(
        default=None, description="When a member claimed this sale, made anonymously, with its receipt."
    )
    coupons: list[CouponUseOut] = Field(
        default_factory=list, description="The coupons the sale used and what each took off its lines."
    )
    staff: str | None = Field(
        default=None, description="Who rang the sale (a staff code), if anyone is known."
    )


class CouponUseOut(BaseModel):
    """A coupon (or, `code` null, a promotion) a sale used."""

    code: str | None
    offer_code: str
    offer_name: str
    discount: Money


class ReturnLineIn(BaseModel):
    """Quantity returned of one original line."""

    model_config = ConfigDict(extra="forbid")

    line_no: int = Field(ge=1, le=MAX_ID, description="The line's number on the receipt, from 1.")
    quantity: int = Field(ge=1, le=10_000)


class ReturnIn(BaseModel):
    """A return against an earlier order; omit `lines` to return the whole order."""

    model_config = ConfigDict(extra="forbid")

    store_id: DbId = Field(description="Where the goods are returned (the caller's store).")
    order_id: Code
    original_store_id: DbId | None = Field(default=None, description="Where it was bought, if elsewhere.")
    return_id: Code
    occurred_at: AwareDatetime = Field(description="Bounded as a sale's `occurred_at` is.")
    lines: list[ReturnLineIn] | None = Field(default=None, max_length=500)
    refund: PositiveDecimalString | None = Field(
        default=None,
        description="A refund amount instead of lines (both together are refused); omit both to "
        "return the whole order.",
    )
    currency: OptionalCurrency = None

    @model_validator(mode="after")
    def _lines_or_refund(self) -> ReturnIn:
        if self.lines is not None and not self.lines:
            raise InvalidValue.field("lines", "lines must not be empty; omit them to return everything")
        if self.lines is not None and self.refund is not None:
            raise InvalidValue(
                "VALIDATION_FAILED",
                "give lines or a refund, not both",
                {
                    "errors": [
                        field_error("lines", "give lines or a refund, not both"),
                        field_error("refund", "give lines or a refund, not both"),
                    ]
                },
            )
        return self


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


def core_lines(lines: list[LineIn], currency: str) -> list[CoreLineIn]:
    """A sale's or a cart's wire lines in the core's terms: amounts in minor units, each amount with
    too many decimals named (`lines.0.unit_price`)."""
    return [
        CoreLineIn(
            sku=line.sku,
            category=line.category,
            quantity=line.quantity,
            unit_price_minor=minor_of(line.unit_price, currency, f"lines.{i}.unit_price"),
            discount_minor=minor_of(line.discount, currency, f"lines.{i}.discount"),
            brand=line.brand,
        )
        for i, line in enumerate(lines)
    ]


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
        channel=data.channel,
        coupon_codes=list(data.coupon_codes),
        apply_promotions=data.apply_promotions,
        lines=core_lines(data.lines, data.currency),
        staff=data.staff,
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
        channel=p.channel,
        claimed_at=aware(p.claimed_at) if p.claimed_at else None,
        coupons=[
            CouponUseOut(
                code=c.code,
                offer_code=c.offer_code,
                offer_name=c.offer_name,
                discount=money(c.discount_minor, currency),
            )
            for c in p.coupons
        ],
        staff=p.staff,
    )


@router.post("/purchases", response_model=PurchaseOut, status_code=201, openapi_extra=TILL_SECURITY)
async def post_purchase(
    body: PurchaseIn, caller: TillPoster, request: Request, idempotency_key: IdempotencyKey = None
) -> Response:
    """Post a purchase from a store's POS and earn points for the member (none named: an anonymous sale)."""
    ctx: Context = request.app.state.ctx  # not a dependency: the till's hot path (`requires_at_till`)
    if body.phone is None and body.card_no is None and not body.coupon_codes:
        return await _post_purchase(body, caller, ctx, request, idempotency_key)
    # A phone or card that names nobody, or a code no coupon answers to, is a lookup's answer: the
    # caller's lookup limit applies.
    async with Lookups.of(request, caller).guard_async():
        return await _post_purchase(body, caller, ctx, request, idempotency_key)


async def _post_purchase(
    body: PurchaseIn, caller: Principal, ctx: Context, request: Request, idempotency_key: str | None
) -> Response:
    caller.require_store(body.store_id)
    earliest, latest = intake.accepted_times(ctx)
    if not earliest <= body.occurred_at <= latest:  # says why (a read or two), or lets a retry replay
        await run_in_threadpool(
            intake.check_live_time, ctx, body.store_id, body.occurred_at, order_id=body.order_id
        )
    key = None
    if idempotency_key is not None:
        key = SaleKey(caller.scope_key, idempotency_key, request_hash(_POST_PURCHASE, body))
    actor = caller.to_actor()  # the sale's audit row is written with it, in its transaction
    sale = SaleRequest(
        attributed(purchase_input(body), actor),  # a staff account's username when it names no staff
        actor,
        lambda result: purchase_view(result, body.currency).model_dump(mode="json"),
        key,
    )
    posting: PostingStrategy = request.app.state.posting  # chosen when the app was built
    return await answered(posting.post(sale))


_POST_PURCHASE = "POST /purchases"


class PurchaseSummaryOut(BaseModel):
    """A sale in the chain's listing; `member_id` is None for an anonymous sale."""

    id: int
    store_id: int
    order_id: str
    member_id: int | None
    channel: Channel
    occurred_at: datetime
    total: Money
    refunded: Money
    points_earned: int
    points_reversed: int
    claimed_at: datetime | None


@router.get("/purchases", response_model=Page[PurchaseSummaryOut])
def list_purchases(
    caller: Reader,
    ctx: CtxDep,
    store_id: Annotated[DbId | None, Query(description="Only this store's sales.")] = None,
    member_id: Annotated[DbId | None, Query(description="Only this member's sales.")] = None,
    channel: Annotated[Channel | None, Query(description="Only sales made in this channel.")] = None,
    anonymous: Annotated[
        bool | None, Query(description="true: only anonymous sales; false: only members' sales.")
    ] = None,
    since: Annotated[AwareDatetime | None, Query(description="Made at or after this time.")] = None,
    until: Annotated[AwareDatetime | None, Query(description="Made before this time.")] = None,
    cursor: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=purchases_service.MAX_PAGE)] = 50,
) -> Page[PurchaseSummaryOut]:
    """The chain's sales, newest posted first, anonymous ones included; store staff see their stores'."""
    if store_id is not None:
        caller.require_store(store_id)
    stores = [store_id] if store_id is not None else caller.store_ids
    try:
        page = purchases_service.list_purchases(
            ctx,
            store_ids=None if stores is None else sorted(stores),
            member_id=member_id,
            channel=channel,
            anonymous=anonymous,
            since=since,
            until=until,
            cursor=cursor,
            limit=limit,
        )
    except InvalidInput as exc:
        raise in_query(exc) from exc
    return Page[PurchaseSummaryOut](
        items=[
            PurchaseSummaryOut(
                id=p.id,
                store_id=p.store_id,
                order_id=p.order_id,
                member_id=p.member_id,
                channel=p.channel,
                occurred_at=aware(p.occurred_at),
                total=money(p.total_minor, p.currency),
                refunded=money(p.refunded_minor, p.currency),
                points_earned=p.points_earned,
                points_reversed=p.points_reversed,
                claimed_at=aware(p.claimed_at) if p.claimed_at else None,
            )
            for p in page.items
        ],
        next_cursor=page.next_cursor,
    )


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
    currency = intake.check_currency(ctx, body.original_store_id or body.store_id, body.currency)
    intake.check_live_time(ctx, body.store_id, body.occurred_at, return_id=body.return_id)

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
            refund_minor=_refund_minor(ctx, body, currency),
        )
        result = purchases_service.post_return(ctx, data, actor=caller.to_actor())
        return 201, ReturnOut(
            id=result.return_row_id,
            purchase_id=result.purchase_id,
            store_id=body.store_id,
            return_id=body.return_id,
            refund=money(result.refund_minor, currency),
            points_reversed=result.points_reversed,
            debt_created=result.debt_created,
            replayed=result.replayed,
        )

    return run_idempotent(ctx, caller, idempotency_key, "POST /returns", body, handler)


def _refund_minor(ctx: Any, body: ReturnIn, currency: str) -> int | None:
    """The refund to pass the core: the given amount, or the whole order when neither lines nor amount."""
    if body.lines:
        return None
    if body.refund is not None:
        return minor_of(body.refund, currency, "refund")
    original = purchases_service.get_purchase(
        ctx, store_id=body.original_store_id or body.store_id, order_id=body.order_id
    )
    return int(original.total_minor)


class ClaimIn(BaseModel):
    """A receipt of an anonymous sale and the member who claims it (exactly one of the member keys)."""

    model_config = ConfigDict(extra="forbid")

    store_id: DbId = Field(description="The store on the receipt.")
    order_id: Code = Field(description="The order id on the receipt.")
    member_id: DbId | None = None
    phone: str | None = Field(default=None, max_length=20)
    card_no: str | None = Field(default=None, max_length=64)
    member_code: str | None = Field(default=None, max_length=64)
    total: PositiveDecimalString | None = Field(
        default=None, description="The receipt's total; when given, it must be the sale's."
    )
    currency: OptionalCurrency = None


class MyClaimIn(BaseModel):
    """A receipt of my anonymous sale: the store, order id and total printed on it."""

    model_config = ConfigDict(extra="forbid")

    store_id: DbId
    order_id: Code
    total: PositiveDecimalString
    currency: OptionalCurrency = None


class ClaimOut(BaseModel):
    """A claimed sale: what it earned, what was credited (less returns already made), the tier."""

    purchase_id: int
    store_id: int
    order_id: str
    member_id: int
    occurred_at: datetime
    channel: Channel
    total: Money
    points_earned: int = Field(description="What the sale earns by the member's earning rule.")
    points_credited: int = Field(description="What was credited: the earning less returns already made.")
    rule: str
    points_available_at: datetime | None
    points_expire_at: datetime | None
    tier_code: str
    upgraded_to: str | None
    claimed_at: datetime


def _claim_view(r: ClaimResult) -> ClaimOut:
    return ClaimOut(
        purchase_id=r.purchase_id,
        store_id=r.store_id,
        order_id=r.order_id,
        member_id=r.member_id,
        occurred_at=aware(r.occurred_at),
        channel=r.channel,
        total=money(r.total_minor, r.currency),
        points_earned=r.points_earned,
        points_credited=r.points_credited,
        rule=r.rule,
        points_available_at=aware(r.available_at) if r.available_at else None,
        points_expire_at=aware(r.expires_at) if r.expires_at else None,
        tier_code=r.tier_code,
        upgraded_to=r.upgraded_to,
        claimed_at=aware(r.claimed_at),
    )


def _receipt_total(ctx: Any, store_id: int, total: str | None, currency: str | None) -> int | None:
    """The receipt's total in minor units, in the programme's currency (another is refused)."""
    if currency is not None:
        with suppress(NotFound):  # no such store: the claim answers as for a receipt matching no sale
            currency = intake.check_currency(ctx, store_id, currency)
    if total is None:
        return None
    return minor_of(total, currency or ctx.settings.currency, "total")


@router.post("/purchases/claims", response_model=ClaimOut)
def claim_purchase(
    body: ClaimIn, caller: Poster, ctx: CtxDep, request: Request, idempotency_key: IdempotencyKey = None
) -> Any:
    """Attach a member to an anonymous sale of the caller's store with its receipt, within the claim
    window, and credit the points it earns (once: a second claim is 409 PURCHASE_ALREADY_CLAIMED)."""
    caller.require_store(body.store_id)

    def handler() -> tuple[int, BaseModel]:
        claim = CoreClaimIn(
            store_id=body.store_id,
            order_id=body.order_id,
            member_id=body.member_id,
            phone=body.phone,
            card_no=body.card_no,
            member_code=body.member_code,
            total_minor=_receipt_total(ctx, body.store_id, body.total, body.currency),
        )
        return 200, _claim_view(purchase_claims.claim_purchase(ctx, claim, actor=caller.to_actor()))

    with Lookups.of(request, caller).guard():  # a phone, card or code naming nobody is a lookup's answer
        return run_idempotent(ctx, caller, idempotency_key, "POST /purchases/claims", body, handler)


@router.post("/me/claims", response_model=ClaimOut, tags=["me"])
def claim_my_purchase(
    body: MyClaimIn,
    me: MemberPrincipal,
    ctx: CtxDep,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Claim my anonymous sale with its receipt (store, order id, total) within the claim window: it
    becomes mine and earns its points. A receipt that matches no sale gets 404 RECEIPT_NOT_FOUND."""

    def handler() -> tuple[int, BaseModel]:
        claim = CoreClaimIn(
            store_id=body.store_id,
            order_id=body.order_id,
            member_id=me.member_id,
            total_minor=_receipt_total(ctx, body.store_id, body.total, body.currency),
        )
        result = purchase_claims.claim_purchase(ctx, claim, actor=me.to_actor(), receipt_check=True)
        return 200, _claim_view(result)

    with Lookups.of(request, me).guard():  # a receipt matching no sale counts as a lookup's answer
        return run_idempotent(ctx, me, idempotency_key, "POST /me/claims", body, handler)
