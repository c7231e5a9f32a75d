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


class MemberOut(BaseModel):
    """A member as staff see it; phone and email are masked unless the caller needs them."""

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
    created_at: datetime
    updated_at: datetime | None
    pii_masked: bool = Field(description="True when phone and email are masked for this caller.")


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def sees_pii(principal: Principal, registration_store_id: int | None) -> bool:
    """Front-line staff see contact data of their own stores' members; admins of everyone's."""
    if principal.kind == "member":
        return True
    return principal.can("members:pii") and principal.covers_store(registration_store_id)


def member_view(member: Any, principal: Principal) -> MemberOut:
    """Map a core member to `MemberOut`, masking contact data the caller does not need."""
    store = _get(member, "registration_store_id")
    show = sees_pii(principal, store)
    phone = _get(member, "phone")
    email = _get(member, "email")
    updated = _get(member, "updated_at")
    return MemberOut(
        id=_get(member, "id"),
        phone=phone if show else mask_phone(phone),
        name=_get(member, "name"),
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
        created_at=aware(_get(member, "created_at")),
        updated_at=aware(updated) if updated is not None else None,
        pii_masked=not show,
    )


__all__ = ["MemberOut", "Money", "member_view", "money", "sees_pii"]
