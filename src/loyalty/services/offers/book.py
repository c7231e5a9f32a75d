"""Offers defined by a marketer: the offer (`domain.programme.offers`), its validity and its limits.

A definition is checked whole (`parse_offer`, then the stores and tiers it names must exist) and
written with its audit row, or refused naming the field. Limits: uses per member, uses in all
(`max_uses`) and the discount budget in all (`budget`); coupons issued for the offer become usable
`activation_days` after they are issued (a next-order coupon waits out the return window) and
expire `validity_days` after (or at the offer's end). A period given is at most a day in the past and
`MAX_AHEAD` ahead (a season's campaign, not a date typed a century out; an open-ended offer is ended
by `manage.end_offer`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select

from loyalty.bootstrap import Context
from loyalty.db.offer_tables import offers
from loyalty.domain.actors import SYSTEM, Actor
from loyalty.domain.errors import InvalidInput, NotFound
from loyalty.domain.programme.offers import OfferSpec, parse_offer
from loyalty.services import audit
from loyalty.services.earning_rules.book import MAX_AHEAD, check_references, programme_id_of

#: how far in the past a period may start (a campaign typed in the morning for the day)
PAST_TOLERANCE = timedelta(days=1)
#: the largest limits an offer may have: more is a typing mistake, not a campaign
MAX_PER_MEMBER = 1_000
MAX_USES = 100_000_000
MAX_BUDGET_MINOR = 10**14
MAX_ACTIVATION_DAYS = 365
MAX_VALIDITY_DAYS = 1_825


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


def _positive(value: int | None, field: str, most: int) -> int | None:
    if value is not None and value <= 0:
        raise InvalidInput.field(field, "must be a whole number above zero", "OFFER_INVALID")
    if value is not None and value > most:
        raise InvalidInput.field(field, "must be at most {most}", "OFFER_INVALID", {"most": most})
    return value


def _check_period(
    now: datetime, valid_from: datetime | None, valid_to: datetime | None, prefix: str = ""
) -> None:
    """The period's given ends: aware, at most a day in the past and `MAX_AHEAD` ahead."""
    for name, value in ((f"{prefix}valid_from", valid_from), (f"{prefix}valid_to", valid_to)):
        if value is None:
            continue
        if value.tzinfo is None:
            raise InvalidInput.field(
                name, "needs a time zone (e.g. 2026-12-08T00:00:00+08:00)", "OFFER_INVALID"
            )
        if value < now - PAST_TOLERANCE:
            raise InvalidInput.field(name, "is more than a day in the past", "OFFER_INVALID")
        if value > now + MAX_AHEAD:
            raise InvalidInput.field(
                name, "is more than {days} days ahead", "OFFER_INVALID", {"days": MAX_AHEAD.days}
            )


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
    prefix: str = "",
) -> OfferOut:
    """Define an offer (all of it or nothing, audited); OFFER_EXISTS when its code is taken. The
    definition's fields are named with `prefix` (`offer.percent` where a request nests it)."""
    checked = check_offer(ctx, raw, limits=limits, valid_from=valid_from, valid_to=valid_to, prefix=prefix)
    with ctx.engine.begin() as conn:
        pid = programme_id_of(conn, programme)
        return insert_offer(conn, ctx, pid, checked, actor or SYSTEM, prefix)


@dataclass(frozen=True)
class CheckedOffer:
    """A definition found valid with its limits and period (`check_offer`), ready to write."""

    raw: dict[str, Any]
    spec: OfferSpec
    limits: OfferLimits
    valid_from: datetime
    valid_to: datetime | None


def check_limits(limits: OfferLimits, spec: OfferSpec, prefix: str = "") -> None:
    """Refuse limits out of range, or use limits on a promotion (fields named with `prefix`)."""
    for value, field, most in (
        (limits.per_member, "per_member", MAX_PER_MEMBER),
        (limits.max_uses, "max_uses", MAX_USES),
        (limits.budget_minor, "budget", MAX_BUDGET_MINOR),
        (limits.validity_days, "validity_days", MAX_VALIDITY_DAYS),
    ):
        _positive(value, f"{prefix}{field}", most)
    if limits.activation_days < 0:
        raise InvalidInput.field(f"{prefix}activation_days", "must not be negative", "OFFER_INVALID")
    if limits.activation_days > MAX_ACTIVATION_DAYS:
        raise InvalidInput.field(
            f"{prefix}activation_days",
            "must be at most {most}",
            "OFFER_INVALID",
            {"most": MAX_ACTIVATION_DAYS},
        )
    if spec.automatic:  # no coupon to count on: a promotion runs for its period, without use limits
        for value, field in (
            (limits.per_member, "per_member"),
            (limits.max_uses, "max_uses"),
            (limits.budget_minor, "budget"),
        ):
            if value is not None:
                raise InvalidInput.field(
                    f"{prefix}{field}",
                    "a promotion has no use limits: give it an end instead",
                    "OFFER_INVALID",
                )


def check_period(
    now: datetime, valid_from: datetime | None, valid_to: datetime | None, prefix: str = ""
) -> datetime:
    """When an offer given this period starts (`now` without `valid_from`); refused naming the field."""
    _check_period(now, valid_from, valid_to, prefix)
    start = valid_from or now
    if valid_to is not None and valid_to <= start:
        raise InvalidInput.field(f"{prefix}valid_to", "must be after valid_from", "OFFER_INVALID")
    return start


def check_offer(
    ctx: Context,
    raw: dict[str, Any],
    *,
    limits: OfferLimits | None = None,
    valid_from: datetime | None = None,
    valid_to: datetime | None = None,
    prefix: str = "",
    limits_prefix: str = "",
) -> CheckedOffer:
    """The checks of `define_offer` that need no database: the definition, its limits and period."""
    spec = parse_offer(raw, prefix)
    limits = limits or OfferLimits()
    check_limits(limits, spec, limits_prefix)
    start = check_period(ctx.now(), valid_from, valid_to, limits_prefix)
    return CheckedOffer(raw, spec, limits, start, valid_to)


def offer_values(checked: CheckedOffer) -> dict[str, Any]:
    """The stored columns an offer's definition, limits and period set."""
    limits = checked.limits
    return {
        "name": checked.spec.name,
        "kind": checked.spec.kind,
        "definition": checked.raw | {"code": checked.spec.code},
        "valid_from": checked.valid_from,
        "valid_to": checked.valid_to,
        "activation_days": limits.activation_days,
        "validity_days": limits.validity_days,
        "per_member_limit": limits.per_member,
        "max_uses": limits.max_uses,
        "budget_minor": limits.budget_minor,
        "automatic": checked.spec.automatic,
    }


def insert_offer(
    conn: Connection, ctx: Context, pid: int, checked: CheckedOffer, actor: Actor, prefix: str = ""
) -> OfferOut:
    """Write a checked offer in the caller's transaction (audited); its stores and tiers must exist
    and its code be free (OFFER_EXISTS)."""
    spec = checked.spec
    check_references(conn, spec.when, prefix)
    if conn.execute(
        select(offers.c.id).where(offers.c.programme_id == pid, offers.c.code == spec.code)
    ).first():
        raise InvalidInput.field(
            f"{prefix}code", "an offer {code} exists already", "OFFER_EXISTS", {"code": spec.code}
        )
    now = ctx.now()
    values = {
        "programme_id": pid,
        "code": spec.code,
        **offer_values(checked),
        "uses": 0,
        "discounted_minor": 0,
        "created_at": now,
        "created_by": actor.id,
    }
    oid = conn.execute(insert(offers).values(**values).returning(offers.c.id)).scalar_one()
    audit.record(conn, actor, "offer.define", "offer", spec.code, None, values, at=now)
    return offer_out(conn.execute(select(offers).where(offers.c.id == oid)).one())


def offer_by_code(conn: Connection, code: str, programme: str | None = None) -> OfferOut:
    pid = programme_id_of(conn, programme)
    row = conn.execute(select(offers).where(offers.c.programme_id == pid, offers.c.code == code)).first()
    if row is None:
        raise NotFound("OFFER_NOT_FOUND", "no offer {code}", {"code": code})
    return offer_out(row)
