"""Pydantic v2 models at the service boundary: money as integer minor units, times aware.

Fields are deliberately permissive on numbers (plain `int`): the services validate business rules
themselves and raise `InvalidInput` with a specific code, so every entry point (API, CLI, bulk import)
gets the same clear error and nothing is written.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from loyalty.domain.channels import DEFAULT_CHANNEL, Channel, is_default_channel


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MerchantIn(_Model):
    code: str
    name: str
    currency: str = "CNY"


class MerchantOut(_Model):
    id: int
    code: str
    name: str
    currency: str
    programme_id: int | None
    created_at: datetime


class StoreIn(_Model):
    merchant_id: int
    code: str
    name: str
    city: str | None = None
    timezone: str = "Asia/Shanghai"
    region: str | None = None


class StoreOut(_Model):
    id: int
    merchant_id: int
    code: str
    name: str
    city: str | None
    timezone: str
    created_at: datetime
    #: the region the KPIs and targets group the store in (None: none)
    region: str | None = None


class MemberIn(_Model):
    phone: str
    name: str
    email: str | None = None
    birthday: date | None = None
    gender: str | None = None
    registration_store_id: int | None = None
    tags: list[str] = Field(default_factory=list)
    marketing_consent: bool = False
    #: who signed the member up: a staff code (`domain.staff`); None: nobody named
    registered_by: str | None = None


class MemberUpdate(_Model):
    """Fields a staff member may change; None means 'leave as is'. Tier is not here on purpose."""

    phone: str | None = None
    name: str | None = None
    email: str | None = None
    birthday: date | None = None
    gender: str | None = None
    tags: list[str] | None = None
    marketing_consent: bool | None = None


class MemberScores(_Model):
    """A member's latest analytics scores, as `loyalty analytics refresh` wrote them (`member_scores`).

    The RFM group is the binary scheme's (code such as ``high_value``, RFM code such as ``"222"``);
    P(alive), expected purchases and CLV are empty when no purchase model could be fitted.
    """

    rfm_code: str
    segment: str
    segment_zh: str | None
    segment_en: str | None
    recency_days: int
    frequency: int
    monetary_minor: int
    p_alive: float | None
    expected_purchases: float | None
    clv_minor: int | None
    model: str
    scored_at: datetime


class MemberOut(_Model):
    id: int
    phone: str
    name: str
    email: str | None
    birthday: date | None
    gender: str | None
    registration_store_id: int | None
    tags: list[str]
    marketing_consent: bool
    card_no: str
    member_code: str
    status: str
    merged_into_id: int | None
    tier_id: int
    tier_code: str
    created_at: datetime
    updated_at: datetime
    #: what the member's tier gives besides points (`domain.tier_services`): the till's badges
    tier_services: list[str] = Field(default_factory=list)
    #: when their personal data was erased (`services.privacy`); None for everyone else
    erased_at: datetime | None = None
    #: who signed them up (a staff code, `domain.staff`); None when nobody was named
    registered_by: str | None = None
    #: None when the member was never scored (or the caller did not ask for scores)
    scores: MemberScores | None = None


class PurchaseLineIn(_Model):
    sku: str
    category: str | None = None
    quantity: int
    unit_price_minor: int
    discount_minor: int = 0
    # Left out of the dump (and so of the request hash) when None: a line without a brand hashes as it
    # did before lines could name one, so a till's retry across that upgrade is still a replay.
    brand: str | None = Field(default=None, exclude_if=lambda brand: brand is None)


class PurchaseIn(_Model):
    """A POS sale. Identify the member by exactly one of member_id, phone, card_no, or by none of them
    for an anonymous sale (kept, earns nothing; a member may claim it later with the receipt)."""

    store_id: int
    order_id: str
    occurred_at: datetime
    lines: list[PurchaseLineIn]
    member_id: int | None = None
    phone: str | None = None
    card_no: str | None = None
    total_minor: int | None = None
    currency: str | None = None
    # Left out of the dump (and so of the request hash) when it is the default: a store sale hashes as
    # it did before sales had a channel, so a till's retry across that upgrade is still a replay.
    channel: Channel = Field(default=DEFAULT_CHANNEL, exclude_if=is_default_channel)
    # The coupons the customer hands over (`services.offers.checkout`); left out of the dump when there
    # are none, so a sale without coupons hashes as it did before sales could bring them.
    coupon_codes: list[str] = Field(default_factory=list, exclude_if=lambda codes: not codes)
    # The promotions in force applied too (a till that prices with the programme); left out when false.
    apply_promotions: bool = Field(default=False, exclude_if=lambda apply: not apply)
    # Who rang the sale (a cashier's code, `domain.staff`); left out of the dump when None, so a sale
    # naming nobody hashes as it did before sales kept their staff.
    staff: str | None = Field(default=None, exclude_if=lambda staff: staff is None)

    @property
    def anonymous(self) -> bool:
        """No member named: the sale is kept without one."""
        return self.member_id is None and self.phone is None and self.card_no is None


class UsedCoupon(_Model):
    """A coupon (or a promotion: no code) a sale used: its offer and the discount it gave."""

    code: str | None
    offer_code: str
    offer_name: str
    discount_minor: int


class PurchaseResult(_Model):
    purchase_id: int
    store_id: int
    order_id: str
    member_id: int | None  # None: an anonymous sale
    total_minor: int
    points_earned: int
    rule: str
    available_at: datetime | None
    expires_at: datetime | None
    tier_code: str | None  # the member's tier; None for an anonymous sale
    upgraded_to: str | None = None
    replayed: bool = False
    channel: Channel = DEFAULT_CHANNEL
    claimed_at: datetime | None = None  # when a member claimed it, made anonymously, with its receipt
    coupons: list[UsedCoupon] = Field(default_factory=list)  # the coupons it used, and what each took off
    staff: str | None = None  # who rang it (a staff code); None: nobody named


class PurchaseSummary(_Model):
    """A sale as the chain's purchase listing shows it (anonymous sales included: `member_id` None)."""

    id: int
    store_id: int
    order_id: str
    member_id: int | None
    channel: Channel
    occurred_at: datetime
    currency: str
    total_minor: int
    refunded_minor: int
    points_earned: int
    points_reversed: int
    claimed_at: datetime | None


class PurchaseListing(_Model):
    """A page of `PurchaseSummary`, newest posted first; pass `next_cursor` back for the next one."""

    items: list[PurchaseSummary]
    next_cursor: str | None


class ReturnLineIn(_Model):
    line_no: int
    quantity: int


class ReturnIn(_Model):
    """A return against an earlier order: per line when `lines` is given, else by `refund_minor`."""

    store_id: int
    return_id: str
    order_id: str
    occurred_at: datetime
    original_store_id: int | None = None
    lines: list[ReturnLineIn] | None = None
    refund_minor: int | None = None


class ReturnResult(_Model):
    return_row_id: int
    purchase_id: int
    refund_minor: int
    points_reversed: int
    debt_created: int
    replayed: bool = False


class ExpiringBucket(_Model):
    within_days: int
    points: int


class ExpiryDate(_Model):
    """Points of unspent lots (spendable or pending) that expire on one business date."""

    date: date
    points: int


class Balance(_Model):
    member_id: int
    balance: int
    available: int
    pending: int
    debt: int
    expiring_soon: list[ExpiringBucket]
    #: the programme's time zone, in which `expiry_schedule` dates are business dates
    timezone: str
    expiry_schedule: list[ExpiryDate]


class StatementEntry(_Model):
    transfer_id: int
    at: datetime
    kind: str
    amount: int
    balance_after: int
    debt_repaid: int = 0  # of a credit: points that paid off debt (never spendable)
    debt_created: int = 0  # of a return: points taken back that were spent already, now owed
    rule: str
    reason: str | None
    order_id: str | None
    store_id: int | None


class RedeemResult(_Model):
    transfer_id: int
    member_id: int
    points: int
    value_minor: int
    balance_after: int
    replayed: bool = False


class AdjustResult(_Model):
    transfer_id: int
    member_id: int
    points: int
    balance_after: int
    replayed: bool = False


class ExpiryResult(_Model):
    lots_expired: int
    points_expired: int


class TierOut(_Model):
    id: int
    code: str
    name: str
    rank: int
    threshold_minor: int
    multiplier_pct: int
    #: the benefits that are not points (`domain.tier_services`), in the marketer's order
    services: list[str] = Field(default_factory=list)


class MemberTier(_Model):
    member_id: int
    tier: TierOut
    qualifying_minor: int
    window_days: int
    next_tier: TierOut | None
    to_next_minor: int | None
    locked_until: datetime | None
    lock_reason: str | None
    grace_until: datetime | None


class TierChange(_Model):
    at: datetime
    from_tier: str | None
    to_tier: str
    reason: str
    note: str | None


class TierEvaluation(_Model):
    evaluated: int
    upgraded: int
    downgraded: int
    grace_started: int
