"""The rewards catalogue a marketer keeps: rewards defined, changed and listed, every change audited.

Terms are checked whole before anything is written (`domain.programme.rewards.check_terms`, then the
tiers and the offer they name must exist), every bad field named. A period is set at most a day in
the past and at most `MAX_AHEAD` ahead (a season's catalogue, not a date typed a century out; a
running reward is extended by changing `valid_to` later). Setting `stock` counts the shelf anew, under
the reward's row lock, so it never races an order taking a unit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update

from loyalty.bootstrap import Context
from loyalty.db.core_tables import tiers
from loyalty.db.offer_tables import offers
from loyalty.db.reward_tables import rewards
from loyalty.domain.actors import SYSTEM, Actor
from loyalty.domain.errors import InvalidInput, NotFound
from loyalty.domain.programme.fields import FieldErrors
from loyalty.domain.programme.rewards import RewardTerms, check_terms, refuse_any
from loyalty.services import audit
from loyalty.services.common import read
from loyalty.services.earning_rules.book import MAX_AHEAD, programme_id_of
from loyalty.services.rewards.model import Reward

#: how far back a period may start or end (a reward "from today" typed after midnight)
PAST_TOLERANCE = timedelta(days=1)
#: what `change_reward` may change (a reward's code and kind stay what they were)
CHANGEABLE = frozenset(
    {"name", "description", "points", "tier_prices", "stock", "per_member_limit", "valid_from", "valid_to"}
    | {"offer_code", "tiers"}
)


def _query() -> Any:
    return select(rewards, offers.c.code.label("offer_code")).outerjoin(
        offers, offers.c.id == rewards.c.offer_id
    )


def reward_of(row: Row[Any]) -> Reward:
    return Reward(
        id=row.id,
        code=row.code,
        name=row.name,
        description=row.description,
        kind=row.kind,
        points=row.points,
        tier_prices=dict(row.tier_prices or {}),
        stock=row.stock,
        per_member_limit=row.per_member_limit,
        valid_from=row.valid_from,
        valid_to=row.valid_to,
        offer_code=row.offer_code,
        created_at=row.created_at,
        created_by=row.created_by,
        updated_at=row.updated_at,
        tiers=list(row.tiers) if row.tiers is not None else None,
    )


def not_found(code: str) -> NotFound:
    return NotFound("REWARD_NOT_FOUND", "no reward {code}", {"code": code})


def reward_row(conn: Connection, programme_id: int, code: str, *, lock: bool = False) -> Row[Any]:
    """The reward `code` of the programme (locked for the transaction with `lock`); REWARD_NOT_FOUND."""
    query = select(rewards).where(rewards.c.programme_id == programme_id, rewards.c.code == code)
    row = conn.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise not_found(code)
    return row


def _read(conn: Connection, reward_id: int) -> Reward:
    return reward_of(conn.execute(_query().where(rewards.c.id == reward_id)).one())


def _check_period(now: datetime, valid_from: datetime, valid_to: datetime | None, given: set[str]) -> None:
    errors = FieldErrors("")
    for name, value in (("valid_from", valid_from), ("valid_to", valid_to)):
        if value is None or name not in given:
            continue
        if value.tzinfo is None:
            errors.add(name, "needs a time zone (e.g. 2026-12-08T00:00:00+08:00)")
        elif value < now - PAST_TOLERANCE:
            errors.add(name, "is more than a day in the past")
        elif value > now + MAX_AHEAD:
            errors.add(name, "is more than {days} days ahead", {"days": MAX_AHEAD.days})
    refuse_any(errors)
    if valid_to is not None and valid_to <= valid_from:
        raise InvalidInput.field("valid_to", "must be after valid_from", "REWARD_INVALID")


def _references(conn: Connection, programme_id: int, terms: RewardTerms) -> int | None:
    """Check the tiers and the offer the terms name; the offer's id (a coupon reward's)."""
    known = frozenset(conn.execute(select(tiers.c.code)).scalars())
    check_terms(terms, known_tiers=known)
    if terms.offer_code is None:
        return None
    offer_id = conn.execute(
        select(offers.c.id).where(offers.c.programme_id == programme_id, offers.c.code == terms.offer_code)
    ).scalar()
    if offer_id is None:
        raise InvalidInput.field(
            "offer_code", "no offer has the code {value}", "REWARD_INVALID", {"value": terms.offer_code}
        )
    return int(offer_id)


def define_reward(
    ctx: Context,
    terms: RewardTerms,
    *,
    valid_from: datetime | None = None,
    valid_to: datetime | None = None,
    programme: str | None = None,
    actor: Actor | None = None,
) -> Reward:
    """Add a reward to the catalogue (audited); REWARD_EXISTS when its code is taken."""
    check_terms(terms)
    now = ctx.now()
    start = valid_from or now
    _check_period(now, start, valid_to, {"valid_from", "valid_to"} if valid_from else {"valid_to"})
    who = actor or SYSTEM
    with ctx.engine.begin() as conn:
        pid = programme_id_of(conn, programme)
        offer_id = _references(conn, pid, terms)
        if conn.execute(
            select(rewards.c.id).where(rewards.c.programme_id == pid, rewards.c.code == terms.code)
        ).first():
            raise InvalidInput.field(
                "code", "a reward {code} exists already", "REWARD_EXISTS", {"code": terms.code}
            )
        values = {
            "programme_id": pid,
            "code": terms.code,
            "name": terms.name.strip(),
            "description": terms.description.strip() if terms.description else None,
            "kind": terms.kind,
            "points": terms.points,
            "tier_prices": dict(terms.tier_prices),
            "stock": terms.stock,
            "per_member_limit": terms.per_member_limit,
            "valid_from": start,
            "valid_to": valid_to,
            "offer_id": offer_id,
            "tiers": _tiers(terms.tiers),
            "created_at": now,
            "created_by": who.id,
            "updated_at": now,
        }
        rid = conn.execute(insert(rewards).values(**values).returning(rewards.c.id)).scalar_one()
        audit.record(conn, who, "reward.define", "reward", terms.code, None, values, at=now)
        return _read(conn, rid)


def _tiers(codes: tuple[str, ...] | None) -> list[str] | None:
    """The tiers as stored: each code once, in the order given; None: every member may order it."""
    return list(dict.fromkeys(codes)) if codes is not None else None


def _terms_of(row: Row[Any], offer_code: str | None) -> RewardTerms:
    return RewardTerms(
        code=row.code,
        name=row.name,
        kind=row.kind,
        points=row.points,
        tier_prices=dict(row.tier_prices or {}),
        stock=row.stock,
        per_member_limit=row.per_member_limit,
        offer_code=offer_code,
        description=row.description,
        tiers=tuple(row.tiers) if row.tiers is not None else None,
    )


def change_reward(
    ctx: Context,
    code: str,
    changes: Mapping[str, Any],
    *,
    programme: str | None = None,
    actor: Actor | None = None,
) -> Reward:
    """Change the terms `changes` names (audited: each changed field before and after); a field set
    to None clears it (`stock` None: unlimited). REWARD_NOT_FOUND for an unknown code."""
    unknown = sorted(set(changes) - CHANGEABLE)
    if unknown:
        raise InvalidInput.field(unknown[0], "cannot be changed", "REWARD_INVALID")
    if not changes:
        raise InvalidInput.field("body", "names nothing to change", "REWARD_INVALID")
    now = ctx.now()
    who = actor or SYSTEM
    with ctx.engine.begin() as conn:
        pid = programme_id_of(conn, programme)
        row = reward_row(conn, pid, code, lock=True)
        old_offer = _read(conn, row.id).offer_code
        fields = {k: v for k, v in changes.items() if k not in {"valid_from", "valid_to", "offer_code"}}
        if "tier_prices" in fields and fields["tier_prices"] is None:
            fields["tier_prices"] = {}
        if fields.get("tiers") is not None:
            fields["tiers"] = tuple(fields["tiers"])
        terms = replace(_terms_of(row, old_offer), **fields, offer_code=changes.get("offer_code", old_offer))
        start = changes.get("valid_from") or row.valid_from
        end = changes.get("valid_to", row.valid_to)
        _check_period(now, start, end, {k for k in ("valid_from", "valid_to") if changes.get(k) is not None})
        offer_id = _references(conn, pid, terms)
        values = {
            "name": terms.name.strip(),
            "description": terms.description.strip() if terms.description else None,
            "points": terms.points,
            "tier_prices": dict(terms.tier_prices),
            "stock": terms.stock,
            "per_member_limit": terms.per_member_limit,
            "valid_from": start,
            "valid_to": end,
            "offer_id": offer_id,
            "tiers": _tiers(terms.tiers),
        }
        before = {k: row._mapping[k] for k in values if row._mapping[k] != values[k]}
        after = {k: values[k] for k in before}
        conn.execute(update(rewards).where(rewards.c.id == row.id).values(**values, updated_at=now))
        audit.record(conn, who, "reward.change", "reward", code, before, after, at=now)
        return _read(conn, row.id)


def get_reward(ctx: Context, code: str, *, programme: str | None = None) -> Reward:
    """The reward `code` (REWARD_NOT_FOUND)."""
    with read(ctx) as conn:
        pid = programme_id_of(conn, programme)
        row = conn.execute(_query().where(rewards.c.programme_id == pid, rewards.c.code == code)).first()
    if row is None:
        raise not_found(code)
    return reward_of(row)


def list_rewards(
    ctx: Context, *, programme: str | None = None, current: bool = False, at: datetime | None = None
) -> list[Reward]:
    """The catalogue by code; with `current`, only the rewards that can be ordered at `at` (now)."""
    when = at or ctx.now()
    with read(ctx) as conn:
        pid = programme_id_of(conn, programme)
        rows = conn.execute(_query().where(rewards.c.programme_id == pid).order_by(rewards.c.code)).all()
    found = [reward_of(r) for r in rows]
    return [r for r in found if r.available_at(when)] if current else found
