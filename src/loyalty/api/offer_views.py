"""The offers API's wire models: an offer as a marketer defines it (its definition and limits), an
offer with what it has given, coupons issued and listed, and a wallet's coupons.

Bounds are the service's (`services.offers.book`), so a value it would refuse is refused here already,
naming its field; the definition itself (`offer`) is checked whole by the domain, each bad field named
under `offer.` (`offer.steps[1].off`). Money goes out as decimal strings with the currency; the
definition's amounts as the decimal strings the definition takes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from loyalty.api.schemas import DbId, Money, PositiveDecimalString, aware, money
from loyalty.services.offers.book import (
    MAX_ACTIVATION_DAYS,
    MAX_PER_MEMBER,
    MAX_USES,
    MAX_VALIDITY_DAYS,
)
from loyalty.services.offers.coupons import MAX_CODE_USES, Issued, WalletCoupon
from loyalty.services.offers.manage import CouponState, OfferState, offer_definition

#: the most codes one request issues (the service allows more, for a job)
MAX_ISSUE_PER_CALL = 10_000

_EXAMPLE = {
    "code": "spring-100-20",
    "name": "满100减20",
    "kind": "ladder",
    "steps": [{"over": "100", "off": "20"}],
}


class OfferIn(BaseModel):
    """An offer to define (audited): its definition and its limits. A definition that cannot work is
    refused naming the field (`offer.steps`, `offer.when.stores`), never at sale time."""

    model_config = ConfigDict(extra="forbid")

    offer: dict[str, Any] = Field(
        description="The offer as defined (docs/marketer-guide.md): code, name, kind (percent_off, "
        "amount_off, ladder, buy_x_get_y, gift), its amounts in major units, group, when, automatic.",
        examples=[_EXAMPLE],
    )
    per_member: int | None = Field(
        default=None, ge=1, le=MAX_PER_MEMBER, description="Uses per member (default: no limit)."
    )
    max_uses: int | None = Field(
        default=None, ge=1, le=MAX_USES, description="Uses in all (default: no limit)."
    )
    budget: PositiveDecimalString | None = Field(
        default=None, description='The discount the offer may give in all, e.g. "5000.00".'
    )
    activation_days: int = Field(
        default=0,
        ge=0,
        le=MAX_ACTIVATION_DAYS,
        description="Days after issue before a coupon is usable (a next-order coupon: the return window).",
    )
    validity_days: int | None = Field(
        default=None,
        ge=1,
        le=MAX_VALIDITY_DAYS,
        description="Days after issue a coupon expires (default: at the offer's end).",
    )
    valid_from: AwareDatetime | None = Field(
        default=None, description="Now by default; at most a day in the past and 180 days ahead."
    )
    valid_to: AwareDatetime | None = Field(
        default=None, description="Open-ended by default (end it with POST /offers/{code}/end)."
    )


class OfferOut(BaseModel):
    """An offer, its limits and what it has given so far."""

    code: str
    name: str
    kind: str
    automatic: bool = Field(description="A promotion: applied without a coupon when the till asks.")
    status: Literal["scheduled", "running", "ended"]
    valid_from: datetime
    valid_to: datetime | None
    per_member: int | None
    max_uses: int | None
    budget: Money | None
    activation_days: int
    validity_days: int | None
    uses: int = Field(description="Uses so far (those given back by a full return aside).")
    discounted: Money = Field(description="The discount given so far.")
    budget_left: Money | None = Field(description="The discount still to give; null: no budget.")
    coupons_issued: int
    definition: dict[str, Any] = Field(
        description="The offer as defined: the form `offer` of POST /offers takes."
    )


class IssueIn(BaseModel):
    """Codes to issue: one to each member's wallet (`member_ids`), or `count` shared codes usable
    `max_uses` times each by anyone. Exactly one of `member_ids` and `count`."""

    model_config = ConfigDict(extra="forbid")

    member_ids: list[DbId] | None = Field(default=None, min_length=1, max_length=MAX_ISSUE_PER_CALL)
    count: int | None = Field(default=None, ge=1, le=MAX_ISSUE_PER_CALL)
    max_uses: int = Field(
        default=1, ge=1, le=MAX_CODE_USES, description="Uses of each shared code (a wallet's code: one)."
    )


class IssuedCouponOut(BaseModel):
    code: str = Field(description="As printed, in groups of four.")
    member_id: int | None = Field(description="The wallet it went to; null: a shared code.")


class IssuedOut(BaseModel):
    """The codes issued, in the order of `member_ids` when given."""

    offer_code: str
    usable_from: datetime
    expires_at: datetime | None
    coupons: list[IssuedCouponOut]


class CouponOut(BaseModel):
    """A coupon of an offer and where it stands now."""

    code: str = Field(description="As printed; masked (only its ends shown) for callers who may not issue.")
    offer_code: str
    member_id: int | None = Field(description="The wallet holding it; null: a shared code.")
    status: Literal["usable", "waiting", "used", "expired", "voided"]
    uses: int
    max_uses: int
    issued_at: datetime
    usable_from: datetime
    expires_at: datetime | None
    voided_at: datetime | None


class WalletCouponOut(BaseModel):
    """A coupon of a member's wallet: usable now, or waiting for its activation."""

    code: str = Field(description="As printed; what the member shows at the till.")
    offer_code: str
    offer_name: str
    kind: str
    usable_now: bool
    usable_from: datetime
    expires_at: datetime | None
    definition: dict[str, Any] = Field(description="What it gives and where (the offer as defined).")


def _optional_money(minor: int | None, currency: str) -> Money | None:
    return None if minor is None else money(minor, currency)


def offer_view(state: OfferState, currency: str) -> OfferOut:
    o = state.offer
    return OfferOut(
        code=o.code,
        name=o.spec.name,
        kind=o.spec.kind,
        automatic=o.spec.automatic,
        status=state.status,
        valid_from=aware(o.valid_from),
        valid_to=aware(o.valid_to) if o.valid_to is not None else None,
        per_member=o.limits.per_member,
        max_uses=o.limits.max_uses,
        budget=_optional_money(o.limits.budget_minor, currency),
        activation_days=o.limits.activation_days,
        validity_days=o.limits.validity_days,
        uses=o.uses,
        discounted=money(o.discounted_minor, currency),
        budget_left=_optional_money(state.budget_left_minor, currency),
        coupons_issued=state.issued,
        definition=offer_definition(o.spec),
    )


def issued_view(issued: Issued, member_ids: list[int] | None) -> IssuedOut:
    owners: list[int | None] = list(member_ids) if member_ids is not None else [None] * len(issued.codes)
    return IssuedOut(
        offer_code=issued.offer_code,
        usable_from=aware(issued.usable_from),
        expires_at=aware(issued.expires_at) if issued.expires_at is not None else None,
        coupons=[IssuedCouponOut(code=c, member_id=m) for c, m in zip(issued.codes, owners, strict=True)],
    )


def masked(code: str) -> str:
    """A printed code with its middle groups hidden: enough to tell codes apart, not to use one."""
    groups = code.split("-")
    return "-".join([groups[0], *("****" for _ in groups[1:-1]), groups[-1]]) if len(groups) > 2 else code


def coupon_view(c: CouponState, *, show_code: bool) -> CouponOut:
    return CouponOut(
        code=c.code if show_code else masked(c.code),
        offer_code=c.offer_code,
        member_id=c.member_id,
        status=c.status,
        uses=c.uses,
        max_uses=c.max_uses,
        issued_at=aware(c.issued_at),
        usable_from=aware(c.usable_from),
        expires_at=aware(c.expires_at) if c.expires_at is not None else None,
        voided_at=aware(c.voided_at) if c.voided_at is not None else None,
    )


def wallet_view(c: WalletCoupon, now: datetime) -> WalletCouponOut:
    usable_from = aware(c.usable_from)
    return WalletCouponOut(
        code=c.code,
        offer_code=c.offer_code,
        offer_name=c.offer_name,
        kind=c.spec.kind,
        usable_now=usable_from <= now,
        usable_from=usable_from,
        expires_at=aware(c.expires_at) if c.expires_at is not None else None,
        definition=offer_definition(c.spec),
    )
