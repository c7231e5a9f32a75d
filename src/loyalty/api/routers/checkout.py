"""The till's quote: a cart and its member → the points each line would earn and why, and the points
the member could pay with, and on request the items to offer beside the cart (the stored basket
rules its items fire). Nothing is written, so a till may call it on every scan.

A quote is what posting the same cart would do (`services.earning_rules.quote`): the same rules in
force at the cart's time, the member's tier and birthday, the rules' limits as they stand. It needs
`purchases:write` (cashiers, store managers, admins and POS keys) and, like a sale, the caller's own
store.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from loyalty.api.deps import TILL_SECURITY, requires_at_till
from loyalty.api.ratelimit import Lookups
from loyalty.api.routers.earning_rules import LinePointsOut, line_views
from loyalty.api.routers.purchases import CouponCode, CouponUseOut, LineIn, core_lines
from loyalty.api.schemas import CurrencyCode, DbId, Money, aware, money
from loyalty.api.security import Principal
from loyalty.api.till_route import TillRoute
from loyalty.bootstrap import Context
from loyalty.config import get_settings
from loyalty.domain.channels import DEFAULT_CHANNEL, Channel
from loyalty.i18n import translator
from loyalty.services import intake
from loyalty.services.basket_rules.cross_sell import MAX_SUGGESTIONS
from loyalty.services.earning_rules import quote as quote_service
from loyalty.services.offers.checkout import MAX_CODES

_ = translator("api")

router = APIRouter(tags=["checkout"], route_class=TillRoute)  # the quote: the till's lean path

Poster = Annotated[Principal, Depends(requires_at_till("purchases:write"))]


class QuoteIn(BaseModel):
    """A cart at a store's till: the lines as a sale would have them, and the member (none: an
    anonymous sale, which earns nothing)."""

    model_config = ConfigDict(extra="forbid")

    store_id: DbId
    member_id: DbId | None = None
    occurred_at: AwareDatetime | None = Field(
        default=None,
        description="When the sale would be made (now by default): the rules in force then apply.",
    )
    currency: CurrencyCode = Field(
        default_factory=lambda: get_settings().currency,
        description="The programme's currency (the default); any other is refused (CURRENCY_MISMATCH).",
    )
    channel: Channel = DEFAULT_CHANNEL
    lines: list[LineIn] = Field(min_length=1, max_length=quote_service.MAX_LINES)
    coupon_codes: list[CouponCode] = Field(
        default_factory=list,
        max_length=MAX_CODES,
        description="Codes the customer hands over: applied as posting the sale would apply them.",
    )
    apply_promotions: bool = Field(
        default=False, description="The promotions in force too, as the sale would."
    )
    suggestions: int = Field(
        default=0,
        ge=0,
        le=MAX_SUGGESTIONS,
        description="How many items to suggest beside the cart from the stored basket rules (0: none).",
    )


class RedemptionOut(BaseModel):
    """The member's spendable points and how many could pay for this cart (the programme's minimum
    balance and its cap on an order's share applied)."""

    available: int
    usable_points: int
    usable_value: Money
    points_per_currency_unit: int
    redeem_cap_pct: int
    min_redeem_balance: int
    suspended: bool = Field(description="A fraud review suspended the member's redemptions.")


class SuggestionOut(BaseModel):
    """An item to offer beside the cart: the best stored basket rule that names it."""

    items: list[str] = Field(description="The SKUs to offer (the rule's consequent).")
    because: list[str] = Field(description="The cart's SKUs that the rule follows (its antecedent).")
    confidence: float = Field(description="Share of the baskets with `because` that also held `items`.")
    lift: float = Field(description="How many times likelier than by chance.")


class QuoteOut(BaseModel):
    """What posting the cart now would earn, line by line with each rule's part, and what the member
    could redeem. Nothing was written."""

    store_id: int
    member_id: int | None
    anonymous: bool
    note: str | None = Field(description="Why nothing is earned, when nothing can be.")
    occurred_at: datetime
    channel: Channel
    tier_code: str | None
    base_rule: str
    lines: list[LinePointsOut]
    total: Money
    points: int
    redemption: RedemptionOut | None
    coupons: list[CouponUseOut] = Field(
        description="The codes that would be used and what each takes off; the lines' amounts are after them."
    )
    coupons_not_applied: list[str] = Field(
        description="Usable codes that give this cart nothing, or that the best combination leaves out "
        "(posting the sale leaves them unused)."
    )
    suggestions: list[SuggestionOut] = Field(
        default_factory=list,
        description="Items to offer beside the cart, best lift first (asked for with `suggestions`).",
    )


def quote_input(body: QuoteIn) -> quote_service.QuoteIn:
    """The wire body in the service's terms (minor units, each amount named when it has too many
    decimals)."""
    return quote_service.QuoteIn(
        store_id=body.store_id,
        member_id=body.member_id,
        occurred_at=body.occurred_at,
        channel=body.channel,
        coupon_codes=list(body.coupon_codes),
        apply_promotions=body.apply_promotions,
        suggestions=body.suggestions,
        lines=core_lines(body.lines, body.currency),
    )


def quote_view(q: quote_service.Quote) -> QuoteOut:
    r = q.redemption
    return QuoteOut(
        store_id=q.store_id,
        member_id=q.member_id,
        anonymous=q.anonymous,
        note=_("An anonymous sale earns no points: name the member to earn them.") if q.anonymous else None,
        occurred_at=aware(q.occurred_at),
        channel=q.channel,
        tier_code=q.tier_code,
        base_rule=q.base_rule,
        lines=line_views(q.lines, q.currency),
        total=money(q.total_minor, q.currency),
        points=q.points,
        coupons=[
            CouponUseOut(
                code=c.code,
                offer_code=c.offer_code,
                offer_name=c.offer_name,
                discount=money(c.discount_minor, q.currency),
            )
            for c in q.coupons.applied
        ],
        coupons_not_applied=q.coupons.not_applied,
        suggestions=[
            SuggestionOut(
                items=list(x.items),
                because=list(x.because),
                confidence=round(x.confidence, 4),
                lift=round(x.lift, 4),
            )
            for x in q.suggestions
        ],
        redemption=None
        if r is None
        else RedemptionOut(
            available=r.available,
            usable_points=r.usable_points,
            usable_value=money(r.usable_value_minor, q.currency),
            points_per_currency_unit=r.points_per_currency_unit,
            redeem_cap_pct=r.redeem_cap_pct,
            min_redeem_balance=r.min_redeem_balance,
            suspended=r.suspended,
        ),
    )


@router.post("/checkout/quote", response_model=QuoteOut, openapi_extra=TILL_SECURITY)
async def quote(body: QuoteIn, caller: Poster, request: Request) -> Response:
    """Quote a cart: the coupons applied, the points each line would earn and which rules give them,
    the sale's total, and the points the member could pay with (no side effects). A code that cannot
    be used answers 409 COUPON_NOT_USABLE, counted against the caller's lookup limit.

    The answer is serialized here, from the model `quote_view` built: returned as a model, FastAPI
    would check the model it was just given against `QuoteOut` once more, on every scan."""
    ctx: Context = request.app.state.ctx  # not a dependency: the till's hot path (`requires_at_till`)
    # On the event loop, on either database: a quote reads the database once (one statement, one
    # round trip), and under load handing it to a worker thread and back cost more than that round
    # trip, in waits for the GIL (ADR 0007).
    if body.coupon_codes:
        async with Lookups.of(request, caller).guard_async():
            return _quote(body, caller, ctx)
    return _quote(body, caller, ctx)


def _quote(body: QuoteIn, caller: Principal, ctx: Context) -> Response:
    caller.require_store(body.store_id)
    intake.check_currency(ctx, body.store_id, body.currency)
    if body.occurred_at is not None:  # a quote is for a sale the till could post: the same window
        intake.check_live_time(ctx, body.store_id, body.occurred_at)
    out = quote_view(quote_service.quote(ctx, quote_input(body)))
    return Response(out.model_dump_json(), media_type="application/json")
