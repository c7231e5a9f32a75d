"""The back office's member list: text, tier, status and store filters, and the analytics scores.

Score filters (RFM group, RFM code, P(alive), CLV) read `member_scores`, which `loyalty analytics
refresh` writes; a member never scored matches none of them. Every filter value is checked before
any member is read (an unknown segment or tier is an error naming the filter, never an empty page), and
the list is keyset-paginated by member id, newest first, so a page never skips or repeats a member
while others register. One read: the page's ids, then its members with tier and scores in one query.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from babel.numbers import get_currency_precision
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import String, cast, or_, select

from loyalty.analytics.segments import BINARY_SEGMENTS
from loyalty.bootstrap import Context
from loyalty.db.analytics_tables import member_scores
from loyalty.db.core_tables import members, tiers
from loyalty.domain import cards, cursors
from loyalty.domain.errors import InvalidInput, field_error
from loyalty.domain.money import minor_units
from loyalty.domain.text import control_error
from loyalty.services.common import read
from loyalty.services.members import members_by_ids, normalise_phone
from loyalty.services.schemas import MemberOut

#: the binary scheme's group codes (``high_value`` …) → RFM code (``"222"`` …)
SEGMENT_CODES: dict[str, str] = {s.code: rfm for rfm, s in BINARY_SEGMENTS.items()}
STATUSES = ("active", "inactive", "merged")
MAX_LIMIT = 200
#: the filters that are free text (checked by `loyalty.domain.text` before any query)
TEXT_FILTERS = ("q", "phone", "card_no", "name", "tag", "tier")


class MemberFilter(BaseModel):
    """What to list; every field left out matches everyone. Names are the API's and the CLI's."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    q: str | None = None
    phone: str | None = None
    card_no: str | None = None
    name: str | None = None
    tag: str | None = None
    tier: str | None = Field(default=None, description="Tier code.")
    status: str | None = None
    store_ids: list[int] | None = Field(default=None, description="Registered at one of these (None: any).")
    segment: list[str] = Field(default_factory=list, description="RFM group codes (any of them).")
    rfm_code: list[str] = Field(default_factory=list, description="RFM codes such as 222 (any of them).")
    p_alive_min: float | None = None
    p_alive_max: float | None = None
    clv_min: Decimal | None = Field(default=None, description="In the programme's currency.")
    clv_max: Decimal | None = None

    @property
    def by_scores(self) -> bool:
        return bool(
            self.segment
            or self.rfm_code
            or self.p_alive_min is not None
            or self.p_alive_max is not None
            or self.clv_min is not None
            or self.clv_max is not None
        )


class MemberPage(BaseModel):
    """One page of members; pass `next_cursor` back for the next (None at the end)."""

    items: list[MemberOut]
    next_cursor: str | None


def search_members(
    ctx: Context, filters: MemberFilter, *, cursor: str | None = None, limit: int = 50
) -> MemberPage:
    """Members matching every filter, newest first; FILTER_INVALID names each bad filter."""
    with read(ctx) as conn:
        known_tiers = [str(c) for c in conn.execute(select(tiers.c.code).order_by(tiers.c.rank)).scalars()]
        _check(filters, known_tiers, cursor, limit, ctx.settings.currency)
        stmt = select(members.c.id).order_by(members.c.id.desc()).limit(limit + 1)
        for condition in _conditions(ctx, filters):
            stmt = stmt.where(condition)
        if filters.by_scores:
            stmt = stmt.join(member_scores, member_scores.c.member_id == members.c.id)
            for condition in _score_conditions(filters, ctx.settings.currency):
                stmt = stmt.where(condition)
        before = cursors.before_id(cursor)
        if before is not None:
            stmt = stmt.where(members.c.id < before)
        ids = [int(i) for i in conn.execute(stmt).scalars()]
        page = ids[:limit]
        items = members_by_ids(conn, page)
    return MemberPage(items=items, next_cursor=cursors.id_cursor(page[-1]) if len(ids) > limit else None)


def _check(
    filters: MemberFilter, known_tiers: Sequence[str], cursor: str | None, limit: int, currency: str
) -> None:
    """Every bad filter at once, each naming its field."""
    errors: list[dict[str, Any]] = []
    for name in TEXT_FILTERS:  # a NUL would end SQLite's LIKE pattern early and match everyone
        value = getattr(filters, name)
        if value is not None and (error := control_error(name, value)) is not None:
            errors.append(error)
    for value in filters.segment:
        if value not in SEGMENT_CODES:
            errors.append(
                field_error(
                    "segment",
                    "unknown segment {segment}; use one of {choices}",
                    {"segment": value, "choices": ", ".join(SEGMENT_CODES)},
                )
            )
    for value in filters.rfm_code:
        if value not in BINARY_SEGMENTS:
            errors.append(
                field_error(
                    "rfm_code",
                    "unknown RFM code {rfm_code}; use one of {choices}",
                    {"rfm_code": value, "choices": ", ".join(sorted(BINARY_SEGMENTS, reverse=True))},
                )
            )
    if filters.tier is not None and filters.tier not in known_tiers:
        errors.append(
            field_error(
                "tier",
                "unknown tier {tier}; tiers are {choices}",
                {"tier": filters.tier, "choices": ", ".join(known_tiers)},
            )
        )
    if filters.status is not None and filters.status not in STATUSES:
        errors.append(
            field_error(
                "status",
                "unknown status {status}; use one of {choices}",
                {"status": filters.status, "choices": ", ".join(STATUSES)},
            )
        )
    for name in ("p_alive_min", "p_alive_max"):
        value = getattr(filters, name)
        if value is not None and not 0 <= value <= 1:
            errors.append(field_error(name, "P(alive) is a probability between 0 and 1"))
    for name in ("clv_min", "clv_max"):
        amount = getattr(filters, name)
        if amount is not None and minor_units(amount, currency) is None:
            errors.append(
                field_error(
                    name,
                    "{amount} has more than {decimals} decimals for {currency}",
                    {
                        "amount": str(amount),
                        "decimals": get_currency_precision(currency),
                        "currency": currency,
                    },
                )
            )
    for low, high in (("p_alive_min", "p_alive_max"), ("clv_min", "clv_max")):
        lo, hi = getattr(filters, low), getattr(filters, high)
        if lo is not None and hi is not None and hi < lo:
            errors.append(field_error(high, "{high} must not be below {low}", {"high": high, "low": low}))
    try:
        cursors.before_id(cursor)
    except InvalidInput as exc:
        errors.extend((exc.details or {})["errors"])
    if not 1 <= limit <= MAX_LIMIT:
        errors.append(field_error("limit", "limit must be between 1 and {max}", {"max": MAX_LIMIT}))
    if errors:
        raise InvalidInput("FILTER_INVALID", errors[0]["message"], {"errors": errors})


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _conditions(ctx: Context, f: MemberFilter) -> list[Any]:
    out: list[Any] = []
    if f.q:
        like = _like(f.q)
        out.append(
            or_(
                members.c.name.like(like, escape="\\"),
                members.c.phone.like(like, escape="\\"),
                members.c.card_no.like(like, escape="\\"),
            )
        )
    if f.phone:
        try:
            phone = normalise_phone(f.phone, ctx.settings.phone_region)
        except InvalidInput:  # an unparseable phone matches nobody rather than failing the search
            phone = f.phone
        out.append(members.c.phone == phone)
    if f.card_no:  # as the card or the member's QR code shows it (`domain.cards`)
        if cards.is_qr_payload(f.card_no):
            out.append(members.c.member_code == cards.member_code(f.card_no))
        else:
            try:
                card = cards.card_number(f.card_no)
            except InvalidInput:  # a mistyped card of ours matches nobody rather than failing the search
                card = f.card_no
            out.append(members.c.card_no == card)
    if f.name:
        out.append(members.c.name.like(_like(f.name), escape="\\"))
    if f.tag:
        # tags are a JSON list: match the quoted element, not a substring of another tag
        quoted = '%"' + _like(f.tag)[1:-1] + '"%'
        out.append(cast(members.c.tags, String).like(quoted, escape="\\"))
    if f.tier:
        out.append(members.c.tier_id.in_(select(tiers.c.id).where(tiers.c.code == f.tier)))
    if f.status:
        out.append(members.c.status == f.status)
    if f.store_ids is not None:
        out.append(members.c.registration_store_id.in_(f.store_ids))
    return out


def _score_conditions(f: MemberFilter, currency: str) -> list[Any]:
    s = member_scores.c
    out: list[Any] = []
    if f.segment:
        out.append(s.segment.in_(f.segment))
    if f.rfm_code:
        out.append(s.rfm_code.in_(f.rfm_code))
    if f.p_alive_min is not None:
        out.append(s.p_alive >= f.p_alive_min)
    if f.p_alive_max is not None:
        out.append(s.p_alive <= f.p_alive_max)
    if f.clv_min is not None:
        out.append(s.clv_minor >= minor_units(f.clv_min, currency))
    if f.clv_max is not None:
        out.append(s.clv_minor <= minor_units(f.clv_max, currency))
    return out
