"""Changing a running programme: its name and earning/redemption rules, and its tier ladder.

`loyalty programme init` creates a programme and never changes one; this module is how it changes
afterwards (the console's programme page, `PATCH /api/v1/programme`, `POST/PATCH /api/v1/tiers`,
`loyalty programme set`, `loyalty tiers …`). Every change is checked field by field (errors name the
field), written in one transaction with its audit row, or not at all.

What a change does to members, by design nothing retroactive:
- earning rules (points per unit, excluded categories, a tier's multiplier) apply to sales posted from
  then on; points already earned keep their amounts;
- `expiry_days` and `return_window_days` apply to points earned from then on (a lot's dates are fixed
  when it is earned); `redeem_cap_pct`, `min_redeem_balance` and `points_per_currency_unit` to the
  next redemption;
- the tier ladder: members keep their tier until it is next evaluated. A member whose spend now
  reaches a higher tier moves up at their next sale or the next tier evaluation (`loyalty jobs run
  tiers`); one below their tier's new threshold moves down only at the tier evaluation, after the
  grace period and never while a manual lock holds. `tier_window_days`, the downgrade policy and
  grace apply from the next evaluation.

The programme's currency and time zone are the server's settings (LOYALTY_CURRENCY,
LOYALTY_TIMEZONE): every amount already stored is in that currency, so they are shown, not edited.
Settings are cached per process (`Context.cache`); a change clears this process's cache at once,
other worker processes of a multi-worker server read it when restarted.
"""

from __future__ import annotations

import itertools
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, insert, select, update

from loyalty.bootstrap import Context
from loyalty.db.core_tables import programmes, tiers
from loyalty.domain import tier_services
from loyalty.domain.actors import SYSTEM, Actor
from loyalty.domain.errors import InvalidInput, NotFound
from loyalty.services import audit
from loyalty.services.common import read
from loyalty.services.schemas import TierOut
from loyalty.services.seed import (
    _TIER_CODE,
    MAX_TIERS,
    PROGRAMME_CODE,
    TierSpec,
    tier_code_for,
    validate_ladder,
)

#: the whole-number rules and the values they may take (the database's checks, and common sense)
RULE_BOUNDS: dict[str, tuple[int, int]] = {
    "points_per_unit": (0, 1_000),
    "points_per_currency_unit": (1, 1_000_000),
    "redeem_cap_pct": (0, 100),
    "min_redeem_balance": (0, 1_000_000_000),
    "return_window_days": (0, 365),
    "expiry_days": (1, 36_500),
    "tier_window_days": (1, 3_650),
    "downgrade_grace_days": (0, 3_650),
}
DOWNGRADE_POLICIES = ("one_step", "window")
MAX_CATEGORIES = 100
MAX_MULTIPLIER_PCT = 1000


class ProgrammeSettings(BaseModel):
    """The programme as it runs now, with the server's currency and time zone."""

    id: int
    code: str
    name: str
    currency: str
    timezone: str
    points_per_unit: int
    excluded_categories: list[str]
    points_per_currency_unit: int
    redeem_cap_pct: int
    min_redeem_balance: int
    return_window_days: int
    expiry_days: int
    tier_window_days: int
    downgrade_policy: str
    downgrade_grace_days: int


class ProgrammeChanges(BaseModel):
    """What `update_programme` changes: only the fields given."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    points_per_unit: int | None = None
    excluded_categories: list[str] | None = None
    points_per_currency_unit: int | None = None
    redeem_cap_pct: int | None = None
    min_redeem_balance: int | None = None
    return_window_days: int | None = None
    expiry_days: int | None = None
    tier_window_days: int | None = None
    downgrade_policy: str | None = None
    downgrade_grace_days: int | None = None


class NewTier(BaseModel):
    """A tier to add: its qualifying spend in the window (minor units) and multiplier in percent; the
    code is made from the name when not given."""

    model_config = ConfigDict(extra="forbid")

    name: str
    threshold_minor: int
    multiplier_pct: int
    code: str | None = None
    #: the tier's services (`domain.tier_services`): what it gives besides points
    services: list[str] = []


class TierChanges(BaseModel):
    """What `update_tier` changes: only the fields given. A tier's code stays (reports, history and
    imports name it)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    threshold_minor: int | None = None
    multiplier_pct: int | None = None
    #: the whole list of the tier's services (`domain.tier_services`); [] gives none
    services: list[str] | None = None


# --- the programme ---------------------------------------------------------------------------------


def _programme_row(conn: Connection, *, lock: bool = False) -> Any:
    query = select(programmes).where(programmes.c.code == PROGRAMME_CODE)
    row = conn.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise NotFound("PROGRAMME_NOT_FOUND", "no programme configured; run `loyalty programme init`")
    return row


def _settings(ctx: Context, row: Any) -> ProgrammeSettings:
    values = {name: getattr(row, name) for name in ProgrammeSettings.model_fields if name != "timezone"}
    values["excluded_categories"] = sorted(row.excluded_categories or ())
    return ProgrammeSettings(**values, timezone=ctx.settings.timezone)


def programme_settings(ctx: Context) -> ProgrammeSettings:
    """The programme's name, currency, time zone and rules (PROGRAMME_NOT_FOUND before `init`)."""
    with read(ctx) as conn:
        return _settings(ctx, _programme_row(conn))


def _rule(field: str, value: int | None) -> int:
    low, high = RULE_BOUNDS[field]
    if value is None or not low <= value <= high:
        raise InvalidInput.field(
            field,
            "{field} must be a whole number from {low} to {high}",
            "PROGRAMME_RULE_INVALID",
            {"field": field, "low": low, "high": high, "value": value},
        )
    return value


def _categories(given: list[str] | None) -> list[str]:
    found = sorted({c.strip() for c in given or () if c.strip()})
    if len(found) > MAX_CATEGORIES:
        raise InvalidInput.field(
            "excluded_categories",
            "at most {limit} excluded categories",
            "PROGRAMME_RULE_INVALID",
            {"limit": MAX_CATEGORIES},
        )
    for category in found:
        if len(category) > 64:
            raise InvalidInput.field(
                "excluded_categories",
                "category {category!r} is longer than 64 characters",
                "PROGRAMME_RULE_INVALID",
                {"category": category[:70]},
            )
    return found


def _checked_changes(changes: ProgrammeChanges) -> dict[str, Any]:
    """The given fields, each checked on its own and normalised (names stripped, categories sorted)."""
    out: dict[str, Any] = {}
    for field in changes.model_fields_set:
        value = getattr(changes, field)
        if field == "name":
            name = (value or "").strip()
            if not 1 <= len(name) <= 200:
                raise InvalidInput.field(
                    "name", "the programme's name must be 1 to 200 characters", "NAME_INVALID"
                )
            out[field] = name
        elif field == "excluded_categories":
            out[field] = _categories(value)
        elif field == "downgrade_policy":
            if value not in DOWNGRADE_POLICIES:
                raise InvalidInput.field(
                    field,
                    "downgrade policy must be one_step or window",
                    "PROGRAMME_RULE_INVALID",
                    {"value": value},
                )
            out[field] = value
        else:
            out[field] = _rule(field, value)
    return out


def update_programme(
    ctx: Context, changes: ProgrammeChanges, *, actor: Actor | None = None
) -> ProgrammeSettings:
    """Change the programme's name and rules: all given fields or none, audited with the values before
    and after (nothing is written when no value differs). See the module's docstring for what a
    change does to members."""
    wanted = _checked_changes(changes)
    ctx.invalidate()
    try:
        with ctx.engine.begin() as conn:
            row = _programme_row(conn, lock=True)
            current = _settings(ctx, row).model_dump()
            merged = {**current, **wanted}
            if merged["expiry_days"] <= merged["return_window_days"]:
                raise InvalidInput.field(
                    "expiry_days",
                    "points must outlive the {days}-day return window: expiry needs more days",
                    "PROGRAMME_RULE_INVALID",
                    {"days": merged["return_window_days"]},
                )
            diff = {k: v for k, v in wanted.items() if current[k] != v}
            if diff:
                conn.execute(update(programmes).where(programmes.c.id == row.id).values(**diff))
                before = {k: current[k] for k in diff}
                audit.record(
                    conn, actor or SYSTEM, "programme.update", "programme", row.id, before, diff, at=ctx.now()
                )
            return _settings(ctx, _programme_row(conn))
    finally:
        ctx.invalidate()


# --- the tier ladder --------------------------------------------------------------------------------


def _ladder(conn: Connection) -> list[Any]:
    return list(conn.execute(select(tiers).order_by(tiers.c.rank).with_for_update()))


def _tier_name(name: str | None, others: list[Any]) -> str:
    cleaned = (name or "").strip()
    if not 1 <= len(cleaned) <= 100:
        raise InvalidInput.field(
            "name", "tier name {tier!r} must be 1 to 100 characters", "TIERS_INVALID", {"tier": cleaned}
        )
    if any(t.name == cleaned for t in others):
        raise InvalidInput.field(
            "name", "another tier is already named {tier!r}", "TIERS_INVALID", {"tier": cleaned}
        )
    return cleaned


def _multiplier(value: int | None, name: str) -> int:
    if value is None or not 0 <= value <= MAX_MULTIPLIER_PCT:
        raise InvalidInput.field(
            "multiplier_pct",
            "tier {tier!r}: multiplier must be 0 to 1000 percent",
            "TIERS_INVALID",
            {"tier": name},
        )
    return value


def _threshold(value: int | None, name: str) -> int:
    if value is None or value < 0:
        raise InvalidInput.field(
            "threshold",
            "tier {tier!r}: qualifying spend cannot be negative",
            "TIERS_INVALID",
            {"tier": name},
        )
    return value


def _out(conn: Connection, tier_id: int) -> TierOut:
    return TierOut.model_validate(
        conn.execute(select(tiers).where(tiers.c.id == tier_id)).one(), from_attributes=True
    )


def _check_ladder(rows: list[tuple[str, str, int, int]]) -> None:
    """The final guard: the ladder as it would be written passes `seed.validate_ladder`."""
    validate_ladder([TierSpec(code, name, threshold, mult) for code, name, threshold, mult in rows])


def add_tier(ctx: Context, tier: NewTier, *, actor: Actor | None = None) -> TierOut:
    """Add a rung to the ladder where its qualifying spend puts it (the tiers above move up a rank),
    with its services (`domain.tier_services`; an unknown code is refused naming `services`), audited.
    Its spend must differ from every other tier's, and it cannot be the lowest (that one needs no
    spend, so every member has a tier)."""
    ctx.invalidate()
    try:
        with ctx.engine.begin() as conn:
            ladder = _ladder(conn)
            if len(ladder) >= MAX_TIERS:
                raise InvalidInput.field(
                    "name",
                    "at most {limit} tiers",
                    "TIERS_INVALID",
                    {"limit": MAX_TIERS, "count": len(ladder)},
                )
            name = _tier_name(tier.name, ladder)
            threshold = _threshold(tier.threshold_minor, name)
            multiplier = _multiplier(tier.multiplier_pct, name)
            services = tier_services.checked(tier.services)
            same = next((t for t in ladder if t.threshold_minor == threshold), None)
            if same is not None:
                raise InvalidInput.field(
                    "threshold",
                    "tier {tier!r} already needs this qualifying spend",
                    "TIERS_INVALID",
                    {"tier": same.name},
                )
            position = sum(1 for t in ladder if t.threshold_minor < threshold)
            code = _new_code(tier.code, name, position, ladder)
            ordered = [(t.code, t.name, t.threshold_minor, t.multiplier_pct) for t in ladder]
            ordered.insert(position, (code, name, threshold, multiplier))
            _check_ladder(ordered)
            programme_id = _programme_row(conn).id
            # Ranks are unique: move every rank out of the way (negative), then write the new order.
            conn.execute(update(tiers).values(rank=-tiers.c.rank - 1))
            tier_id = conn.execute(
                insert(tiers)
                .values(
                    code=code,
                    name=name,
                    rank=position,
                    threshold_minor=threshold,
                    multiplier_pct=multiplier,
                    programme_id=programme_id,
                    services=services,
                )
                .returning(tiers.c.id)
            ).scalar_one()
            for rank, row in enumerate(ladder[:position]):
                conn.execute(update(tiers).where(tiers.c.id == row.id).values(rank=rank))
            for rank, row in enumerate(ladder[position:], start=position + 1):
                conn.execute(update(tiers).where(tiers.c.id == row.id).values(rank=rank))
            out = _out(conn, tier_id)
            audit.record(
                conn, actor or SYSTEM, "tier.create", "tier", tier_id, None, out.model_dump(), at=ctx.now()
            )
            return out
    finally:
        ctx.invalidate()


def _new_code(given: str | None, name: str, position: int, ladder: list[Any]) -> str:
    taken = {t.code for t in ladder}
    if given is not None and given.strip():
        code = given.strip()
        if not _TIER_CODE.match(code):
            raise InvalidInput.field(
                "code",
                "tier code {code!r} must be lower-case letters, digits, _ or - (at most 40)",
                "TIERS_INVALID",
                {"code": code},
            )
        if code in taken:
            raise InvalidInput.field(
                "code", "another tier already has the code {code!r}", "TIERS_INVALID", {"code": code}
            )
        return code
    code = tier_code_for(name, position)
    if _TIER_CODE.match(code) and code not in taken:
        return code
    return next(f"tier{n}" for n in itertools.count(len(ladder) + 1) if f"tier{n}" not in taken)


def tier_not_found(tier_id: int) -> NotFound:
    """The error for a tier id that names no tier."""
    return NotFound("TIER_NOT_FOUND", "no tier {tier_id}", {"tier_id": tier_id})


def update_tier(ctx: Context, tier_id: int, changes: TierChanges, *, actor: Actor | None = None) -> TierOut:
    """Rename a tier or change its qualifying spend, multiplier or services (the whole list), audited
    with the values before and after. Tiers keep their order: the spend must stay above the tier
    below and under the tier above (the lowest tier's stays 0). Members' tiers follow at their next
    evaluation (module docstring)."""
    ctx.invalidate()
    try:
        with ctx.engine.begin() as conn:
            ladder = _ladder(conn)
            index = next((i for i, t in enumerate(ladder) if t.id == tier_id), None)
            if index is None:
                raise tier_not_found(tier_id)
            row = ladder[index]
            others = ladder[:index] + ladder[index + 1 :]
            given = changes.model_fields_set
            name = _tier_name(changes.name, others) if "name" in given else row.name
            threshold = (
                _threshold(changes.threshold_minor, name)
                if "threshold_minor" in given
                else row.threshold_minor
            )
            multiplier = (
                _multiplier(changes.multiplier_pct, name) if "multiplier_pct" in given else row.multiplier_pct
            )
            _keeps_order(ladder, index, name, threshold)
            after: dict[str, Any] = {"name": name, "threshold_minor": threshold, "multiplier_pct": multiplier}
            if "services" in given:
                after["services"] = tier_services.checked(changes.services or [])
            diff = {k: v for k, v in after.items() if _stored(row, k) != v}
            if diff:
                ordered = [(t.code, t.name, t.threshold_minor, t.multiplier_pct) for t in ladder]
                ordered[index] = (row.code, name, threshold, multiplier)
                _check_ladder(ordered)
                conn.execute(update(tiers).where(tiers.c.id == tier_id).values(**diff))
                before = {k: _stored(row, k) for k in diff}
                audit.record(
                    conn, actor or SYSTEM, "tier.update", "tier", tier_id, before, diff, at=ctx.now()
                )
            return _out(conn, tier_id)
    finally:
        ctx.invalidate()


def _stored(row: Any, name: str) -> Any:
    """A tier row's value as `update_tier` compares it (services as a list, never None)."""
    value = getattr(row, name)
    return list(value or []) if name == "services" else value


def _keeps_order(ladder: list[Any], index: int, name: str, threshold: int) -> None:
    if index == 0 and threshold != 0:
        raise InvalidInput.field(
            "threshold",
            "the first tier ({tier!r}) must need no spend (0), so that every member has a tier",
            "TIERS_INVALID",
            {"tier": name},
        )
    if index > 0 and threshold <= ladder[index - 1].threshold_minor:
        raise InvalidInput.field(
            "threshold",
            "tier {tier!r} must need more spend than {lower!r} before it",
            "TIERS_INVALID",
            {"tier": name, "lower": ladder[index - 1].name},
        )
    if index + 1 < len(ladder) and threshold >= ladder[index + 1].threshold_minor:
        raise InvalidInput.field(
            "threshold",
            "tier {tier!r} must need less spend than {upper!r} above it: tiers keep their order",
            "TIERS_INVALID",
            {"tier": name, "upper": ladder[index + 1].name},
        )
