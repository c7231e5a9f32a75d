"""Offers defined by a marketer: the offer (`domain.programme.offers`), its validity and its limits.

A definition is checked whole (`parse_offer`, then the stores and tiers it names must exist) and
written with its audit row, or refused naming the field. Limits: uses per member, uses in all
(`max_uses`) and the discount budget in all (`budget`); coupons issued for the offer become usable
`activation_days` after they are issued (a next-order coupon waits out the return window) and
expire `validity_days` after (or at the offer's end).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from loyalty.bootstrap import Context
from loyalty.db.offer_tables import offers
from loyalty.domain.actors import SYSTEM, Actor
from loyalty.domain.errors import InvalidInput, NotFound
from loyalty.domain.programme.offers import OfferSpec, parse_offer
from loyalty.services import audit
from loyalty.services.earning_rules.book import check_references, programme_id_of


@dataclass(frozen=True)
class OfferLimits:
    """How often and how much an offer may give, and how long its coupons wait and last."""

    per_member: int | None = None
    max_uses: int | None = None
    budget_minor: int | None = None
    activation_days: int = 0
    validity_days: int | None = None


@dataclass(frozen=True)
class OfferOut:
    id: int
    code: str
    spec: OfferSpec
    valid_from: datetime
    valid_to: datetime | None
    limits: OfferLimits
    uses: int
    discounted_minor: int


def _positive(value: int | None, field: str) -> int | None:
    if value is not None and value <= 0:
        raise InvalidInput.field(field, "must be a whole number above zero", "OFFER_INVALID")
    return value


def offer_out(row: Any) -> OfferOut:
    return OfferOut(
        id=row.id,
        code=row.code,
        spec=parse_offer(row.definition),
        valid_from=row.valid_from,
        valid_to=row.valid_to,
        limits=OfferLimits(
            row.per_member_limit, row.max_uses, row.budget_minor, row.activation_days, row.validity_days
        ),
        uses=row.uses,
        discounted_minor=row.discounted_minor,
    )


def define_offer(
    ctx: Context,
    raw: dict[str, Any],
    *,
    limits: OfferLimits | None = None,
    valid_from: datetime | None = None,
    valid_to: datetime | None = None,
    programme: str | None = None,
    actor: Actor | None = None,
) -> OfferOut:
    """Define an offer (all of it or nothing, audited); OFFER_EXISTS when its code is taken."""
    spec = parse_offer(raw)
    limits = limits or OfferLimits()
    for value, field in (
        (limits.per_member, "per_member"),
        (limits.max_uses, "max_uses"),
        (limits.budget_minor, "budget"),
        (limits.validity_days, "validity_days"),
    ):
        _positive(value, field)
    if limits.activation_days < 0:
        raise InvalidInput.field("activation_days", "must not be negative", "OFFER_INVALID")
    if spec.automatic:  # no coupon to count on: a promotion runs for its period, without use limits
        for value, field in (
            (limits.per_member, "per_member"),
            (limits.max_uses, "max_uses"),
            (limits.budget_minor, "budget"),
        ):
            if value is not None:
                raise InvalidInput.field(
                    field, "a promotion has no use limits: give it an end instead", "OFFER_INVALID"
                )
    start = valid_from or ctx.now()
    if valid_to is not None and valid_to <= start:
        raise InvalidInput.field("valid_to", "must be after valid_from", "OFFER_INVALID")
    now = ctx.now()
    with ctx.engine.begin() as conn:
        pid = programme_id_of(conn, programme)
        check_references(conn, spec.when)
        if conn.execute(
            select(offers.c.id).where(offers.c.programme_id == pid, offers.c.code == spec.code)
        ).first():
            raise InvalidInput.field(
                "code", "an offer {code} exists already", "OFFER_EXISTS", {"code": spec.code}
            )
        definition = raw | {"code": spec.code}
        values = {
            "programme_id": pid,
            "code": spec.code,
            "name": spec.name,
            "kind": spec.kind,
            "definition": definition,
            "valid_from": start,
            "valid_to": valid_to,
            "activation_days": limits.activation_days,
            "validity_days": limits.validity_days,
            "per_member_limit": limits.per_member,
            "max_uses": limits.max_uses,
            "budget_minor": limits.budget_minor,
            "uses": 0,
            "discounted_minor": 0,
            "created_at": now,
            "created_by": (actor or SYSTEM).id,
            "automatic": spec.automatic,
        }
        oid = conn.execute(insert(offers).values(**values).returning(offers.c.id)).scalar_one()
        audit.record(conn, actor or SYSTEM, "offer.define", "offer", spec.code, None, values, at=now)
        return offer_out(conn.execute(select(offers).where(offers.c.id == oid)).one())


def offer_by_code(conn: Connection, code: str, programme: str | None = None) -> OfferOut:
    pid = programme_id_of(conn, programme)
    row = conn.execute(select(offers).where(offers.c.programme_id == pid, offers.c.code == code)).first()
    if row is None:
        raise NotFound("OFFER_NOT_FOUND", "no offer {code}", {"code": code})
    return offer_out(row)
