"""Offers as a marketer keeps them: listed with what they have given so far, ended, and their coupons
listed and voided (the API's `/offers` and `loyalty programme offers`).

Ending an offer sets its `valid_to` to now: its coupons stop working at once (`coupons.find_usable`
checks the offer's end), leave the wallets, and a promotion stops applying; the sales it discounted
keep their discount. Voiding a coupon stops its further uses by a conditional update, so a checkout
racing for it either uses it first or finds it void; a coupon used up has nothing left to void. Both
are audited in their transaction. Listing reads only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Connection, func, or_, select, update

from loyalty.bootstrap import Context
from loyalty.db.offer_tables import coupons, offers
from loyalty.domain import cursors
from loyalty.domain.actors import SYSTEM, Actor
from loyalty.domain.errors import Conflict, InvalidInput, NotFound
from loyalty.domain.programme.offers import OfferSpec
from loyalty.services import audit
from loyalty.services.earning_rules.book import programme_id_of
from loyalty.services.offers.book import OfferOut, offer_by_code, offer_out
from loyalty.services.offers.coupons import printed, typed

OfferStatus = Literal["scheduled", "running", "ended"]
CouponStatus = Literal["usable", "waiting", "used", "expired", "voided"]
#: the most coupons one page lists
MAX_PAGE = 500


@dataclass(frozen=True)
class OfferState:
    """An offer, how many coupons it has issued, and whether it runs now."""

    offer: OfferOut
    issued: int
    status: OfferStatus

    @property
    def budget_left_minor(self) -> int | None:
        """The discount still to give before the budget is spent (None: no budget)."""
        budget = self.offer.limits.budget_minor
        return None if budget is None else max(budget - self.offer.discounted_minor, 0)


@dataclass(frozen=True)
class CouponState:
    """One coupon of an offer and where it stands now."""

    id: int
    code: str  # as printed
    offer_code: str
    member_id: int | None  # None: a shared code
    max_uses: int
    uses: int
    issued_at: datetime
    usable_from: datetime
    expires_at: datetime | None
    voided_at: datetime | None
    status: CouponStatus


@dataclass(frozen=True)
class CouponPage:
    items: list[CouponState]
    next_cursor: str | None


def _aware(value: datetime | None, now: datetime) -> datetime | None:
    """A stored time comparable with `now` (SQLite reads them back naive, in UTC)."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=now.tzinfo)


def offer_status(offer: OfferOut, now: datetime) -> OfferStatus:
    start, end = _aware(offer.valid_from, now), _aware(offer.valid_to, now)
    if end is not None and end <= now:
        return "ended"
    if start is not None and start > now:
        return "scheduled"
    return "running"


def _issued(conn: Connection, offer_ids: list[int]) -> dict[int, int]:
    if not offer_ids:
        return {}
    rows = conn.execute(
        select(coupons.c.offer_id, func.count())
        .where(coupons.c.offer_id.in_(offer_ids))
        .group_by(coupons.c.offer_id)
    ).all()
    return {int(r[0]): int(r[1]) for r in rows}


def list_offers(ctx: Context, *, current: bool = False, programme: str | None = None) -> list[OfferState]:
    """The programme's offers by code, with their uses, discount given and coupons issued (only
    those running now with `current`)."""
    now = ctx.now()
    with ctx.engine.connect() as conn:
        pid = programme_id_of(conn, programme)
        query = select(offers).where(offers.c.programme_id == pid).order_by(offers.c.code)
        if current:
            query = query.where(
                offers.c.valid_from <= now, or_(offers.c.valid_to.is_(None), offers.c.valid_to > now)
            )
        found = [offer_out(r) for r in conn.execute(query).all()]
        issued = _issued(conn, [o.id for o in found])
    return [OfferState(o, issued.get(o.id, 0), offer_status(o, now)) for o in found]


def _state(conn: Connection, offer: OfferOut, now: datetime) -> OfferState:
    return OfferState(offer, _issued(conn, [offer.id]).get(offer.id, 0), offer_status(offer, now))


def get_offer(ctx: Context, code: str, *, programme: str | None = None) -> OfferState:
    """One offer (OFFER_NOT_FOUND when no offer has the code)."""
    with ctx.engine.connect() as conn:
        return _state(conn, offer_by_code(conn, code, programme), ctx.now())


def end_offer(
    ctx: Context, code: str, *, programme: str | None = None, actor: Actor | None = None
) -> OfferState:
    """End offer `code` now (audited): its coupons stop working and a promotion stops applying.
    OFFER_ENDED when it has ended already."""
    now = ctx.now()
    with ctx.engine.begin() as conn:
        offer = offer_by_code(conn, code, programme)
        ended = conn.execute(
            update(offers)
            .where(offers.c.id == offer.id, or_(offers.c.valid_to.is_(None), offers.c.valid_to > now))
            .values(valid_to=now)
        ).rowcount
        if ended != 1:
            raise Conflict("OFFER_ENDED", "offer {code} has ended", {"code": code})
        audit.record(
            conn,
            actor or SYSTEM,
            "offer.end",
            "offer",
            code,
            {"valid_to": offer.valid_to},
            {"valid_to": now},
            at=now,
        )
        return _state(conn, offer_by_code(conn, code, programme), now)


def coupon_status(row: Any, offer_end: datetime | None, now: datetime) -> CouponStatus:
    expires = [t for t in (_aware(row.expires_at, now), _aware(offer_end, now)) if t is not None]
    if row.voided_at is not None:
        return "voided"
    if row.uses >= row.max_uses:
        return "used"
    if expires and min(expires) <= now:
        return "expired"
    usable_from = _aware(row.usable_from, now)
    if usable_from is not None and usable_from > now:
        return "waiting"
    return "usable"


def _coupon_state(row: Any, offer_code: str, offer_end: datetime | None, now: datetime) -> CouponState:
    return CouponState(
        id=int(row.id),
        code=printed(row.code),
        offer_code=offer_code,
        member_id=row.member_id,
        max_uses=row.max_uses,
        uses=row.uses,
        issued_at=row.issued_at,
        usable_from=row.usable_from,
        expires_at=row.expires_at,
        voided_at=row.voided_at,
        status=coupon_status(row, offer_end, now),
    )


def offer_coupons(
    ctx: Context,
    code: str,
    *,
    cursor: str | None = None,
    limit: int = 100,
    programme: str | None = None,
) -> CouponPage:
    """A page of offer `code`'s coupons, newest first; `next_cursor` starts the next (None at the end).
    FILTER_INVALID naming `cursor` or `limit` for a cursor this listing did not hand out or a bad limit."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput.field(
            "limit", "must be between 1 and {most}", "FILTER_INVALID", {"most": MAX_PAGE}
        )
    before = cursors.before_id(cursor)
    now = ctx.now()
    with ctx.engine.connect() as conn:
        offer = offer_by_code(conn, code, programme)
        query = select(coupons).where(coupons.c.offer_id == offer.id)
        if before is not None:
            query = query.where(coupons.c.id < before)
        rows = conn.execute(query.order_by(coupons.c.id.desc()).limit(limit + 1)).all()
    items = [_coupon_state(r, offer.spec.code, offer.valid_to, now) for r in rows[:limit]]
    more = len(rows) > limit
    return CouponPage(items, cursors.id_cursor(items[-1].id) if more and items else None)


def void_coupon(ctx: Context, code: str, *, actor: Actor | None = None) -> CouponState:
    """Void the coupon `code` names, as printed or typed (audited): it cannot be used any more.
    COUPON_NOT_FOUND for no coupon, COUPON_VOIDED when void already, COUPON_USED_UP when it has no use
    left to stop."""
    now = ctx.now()
    stored = typed(code)
    with ctx.engine.begin() as conn:
        found = conn.execute(
            select(coupons.c.id, offers.c.code.label("offer_code"))
            .join(offers, offers.c.id == coupons.c.offer_id)
            .where(coupons.c.code == stored)
        ).first()
        if found is None:
            raise NotFound("COUPON_NOT_FOUND", "no coupon {code}", {"code": code})
        voided = conn.execute(
            update(coupons)
            .where(
                coupons.c.id == found.id,
                coupons.c.voided_at.is_(None),
                coupons.c.uses < coupons.c.max_uses,
            )
            .values(voided_at=now)
        ).rowcount
        row = conn.execute(
            select(coupons, offers.c.valid_to.label("offer_end"))
            .join(offers, offers.c.id == coupons.c.offer_id)
            .where(coupons.c.id == found.id)
        ).one()
        shown = printed(stored)
        if voided != 1:
            if row.voided_at is not None:
                raise Conflict("COUPON_VOIDED", "coupon {code} is void already", {"code": shown})
            raise Conflict(
                "COUPON_USED_UP", "coupon {code} is used up: there is nothing to void", {"code": shown}
            )
        audit.record(
            conn,
            actor or SYSTEM,
            "coupon.void",
            "coupon",
            str(found.id),
            {"voided_at": None},
            {"voided_at": now, "offer": found.offer_code, "uses": row.uses},
            at=now,
        )
        return _coupon_state(row, found.offer_code, row.offer_end, now)


def _major(minor: int) -> str:
    """An amount of a definition in major units, as the definition writes it ("20.00")."""
    return f"{Decimal(minor).scaleb(-2):.2f}"


def offer_definition(spec: OfferSpec) -> dict[str, Any]:
    """The offer in the form `parse_offer` reads (API, YAML, CLI), amounts as decimal strings: only
    what was set."""
    out: dict[str, Any] = {"code": spec.code, "name": spec.name, "kind": spec.kind}
    if spec.kind == "percent_off":
        out["percent"] = spec.percent
    elif spec.kind == "amount_off":
        out["amount"] = _major(spec.amount_minor)
    elif spec.kind == "ladder":
        out["steps"] = [{"over": _major(over), "off": _major(off)} for over, off in spec.steps]
        if spec.repeat:
            out["repeat"] = True
    elif spec.kind == "buy_x_get_y":
        out["buy"], out["get"] = spec.buy, spec.get
    if spec.max_discount_minor:
        out["max_discount"] = _major(spec.max_discount_minor)
    if spec.group is not None:
        out["group"] = spec.group
    if spec.automatic:
        out["automatic"] = True
    when: dict[str, Any] = {}
    for name in ("stores", "channels", "tiers", "categories", "skus"):
        values = getattr(spec.when, name)
        if values:
            when[name] = sorted(values)
    if spec.when.min_spend_minor:
        when["min_spend"] = _major(spec.when.min_spend_minor)
    if when:
        out["when"] = when
    return out
