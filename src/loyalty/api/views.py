"""Per-actor output models and the mapping from core results to them.

Core services return their own Pydantic models; the API never exposes them directly, so the wire shape
stays stable when the core changes and PII masking is applied in one place (`member_view`).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

from loyalty.api.schemas import Money, aware, money
from loyalty.api.security import Principal, mask_email, mask_phone
from loyalty.domain import tier_services


class TierServiceOut(BaseModel):
    """A benefit a tier gives besides points (VIP lane, free parking), for the till and the member:
    its code and its name in both languages (as an RFM segment's)."""

    code: str = Field(examples=["vip_lane"], description="One of the codes of `domain.tier_services`.")
    name_zh: str = Field(examples=["VIP 通道"])
    name_en: str = Field(examples=["VIP lane"])


def tier_services_view(codes: list[str] | tuple[str, ...] | None) -> list[TierServiceOut]:
    """A tier's service codes with their names in Chinese and English (the web catalog's)."""
    return [
        TierServiceOut(code=c, name_zh=tier_services.label(c, "zh-CN"), name_en=tier_services.label(c, "en"))
        for c in codes or ()
    ]


class MemberSelfOut(BaseModel):
    """A member's profile; phone and email are masked unless the caller needs them."""

    id: int
    phone: str | None = Field(examples=["+86138****5678"])
    name: str | None
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
    tier_id: int | None
    tier_code: str | None = Field(default=None, examples=["gold"], description="The member's tier.")
    tier_services: list[TierServiceOut] = Field(
        default_factory=list,
        description="What the member's tier gives besides points: the till shows them (send a 金卡 member "
        "to the VIP lane).",
    )
    created_at: datetime
    updated_at: datetime | None
    erased_at: datetime | None = Field(
        default=None, description="When the member's personal data was erased; null for everyone else."
    )
    pii_masked: bool = Field(description="True when phone and email are masked for this caller.")


class SegmentOut(BaseModel):
    """An RFM group of the binary scheme: stable code, RFM code and its names."""

    code: str = Field(examples=["high_value"])
    rfm_code: str = Field(examples=["222"], description="Recency, frequency, monetary: 2 above, 1 below.")
    name_zh: str | None = Field(examples=["重要价值客户"])
    name_en: str | None = Field(examples=["High value"])


class ScoresOut(BaseModel):
    """A member's latest analytics scores (`loyalty analytics refresh`); staff only."""

    segment: SegmentOut
    recency_days: int
    frequency: int = Field(description="Purchase days.")
    monetary: Money = Field(description="Net spend.")
    p_alive: float | None = Field(description="Probability the member is still active (0–1).")
    expected_purchases: float | None = Field(description="Purchases expected over the model's horizon.")
    clv: Money | None = Field(description="Customer lifetime value.")
    model: str
    scored_at: datetime


class MemberOut(MemberSelfOut):
    """A member as staff see it, with the analytics scores (null when never scored)."""

    scores: ScoresOut | None
    registered_by: str | None = Field(default=None, description="Who signed the member up (a staff code).")


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def sees_pii(principal: Principal, registration_store_id: int | None) -> bool:
    """Front-line staff see contact data of their own stores' members; admins of everyone's."""
    if principal.kind == "member":
        return True
    return principal.can("members:pii") and principal.covers_store(registration_store_id)


def member_view(member: Any, principal: Principal, currency: str) -> MemberOut:
    """Map a core member to `MemberOut`, masking contact data the caller does not need."""
    scores = _get(member, "scores")
    return MemberOut(
        **_profile(member, principal),
        scores=scores_view(scores, currency) if scores is not None else None,
        registered_by=_get(member, "registered_by"),
    )


def self_view(member: Any, principal: Principal) -> MemberSelfOut:
    """The member's own profile under /me: no analytics scores (see docs/api.md)."""
    return MemberSelfOut(**_profile(member, principal))


def scores_view(s: Any, currency: str) -> ScoresOut:
    return ScoresOut(
        segment=SegmentOut(code=s.segment, rfm_code=s.rfm_code, name_zh=s.segment_zh, name_en=s.segment_en),
        recency_days=s.recency_days,
        frequency=s.frequency,
        monetary=money(s.monetary_minor, currency),
        p_alive=s.p_alive,
        expected_purchases=s.expected_purchases,
        clv=money(s.clv_minor, currency) if s.clv_minor is not None else None,
        model=s.model,
        scored_at=aware(s.scored_at),
    )


def _profile(member: Any, principal: Principal) -> dict[str, Any]:
    store = _get(member, "registration_store_id")
    show = sees_pii(principal, store)
    erased_at = _get(member, "erased_at")
    # an erased record's placeholder phone and emptied name are no data: shown as absent
    phone = None if erased_at is not None else _get(member, "phone")
    email = _get(member, "email")
    updated = _get(member, "updated_at")
    return dict(
        id=_get(member, "id"),
        phone=phone if show else mask_phone(phone),
        name=None if erased_at is not None else _get(member, "name"),
        email=email if show else mask_email(email),
        birthday=_get(member, "birthday"),
        gender=_get(member, "gender"),
        registration_store_id=store,
        tags=list(_get(member, "tags") or []),
        marketing_consent=bool(_get(member, "marketing_consent", False)),
        card_no=_get(member, "card_no"),
        member_code=_get(member, "member_code"),
        status=_get(member, "status"),
        merged_into_id=_get(member, "merged_into_id"),
        tier_id=_get(member, "tier_id"),
        tier_code=_get(member, "tier_code"),
        tier_services=tier_services_view(_get(member, "tier_services")),
        created_at=aware(_get(member, "created_at")),
        updated_at=aware(updated) if updated is not None else None,
        erased_at=aware(erased_at) if erased_at is not None else None,
        pii_masked=not show,
    )


__all__ = [
    "MemberOut",
    "MemberSelfOut",
    "Money",
    "TierServiceOut",
    "member_view",
    "money",
    "sees_pii",
    "self_view",
    "tier_services_view",
]
