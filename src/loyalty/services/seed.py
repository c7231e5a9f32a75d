"""The programme a chain starts from: one merchant, tiers and the base earning rule.

`ensure_programme` is the default programme plus a first store (S001), for the demo, tests and
`loyalty members register` on an empty database. `init_programme` is what `loyalty programme init`
runs: the programme, its tier ladder and the chain's merchant, without a store (stores are added one by
one with their own codes and time zones). Both are idempotent, so they are safe to run again.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypedDict, Unpack

from sqlalchemy import Connection, func, insert, select

from loyalty.bootstrap import Context
from loyalty.db.core_tables import members, merchants, programmes, stores, tiers
from loyalty.domain.errors import Conflict, InvalidInput
from loyalty.services.merchants import _create_merchant
from loyalty.services.schemas import MerchantIn

# code, name, rank, qualifying spend in the window (minor units), earning multiplier (%)
DEFAULT_TIERS = (
    ("normal", "普通", 0, 0, 100),
    ("silver", "银卡", 1, 200_000, 120),
    ("gold", "金卡", 2, 1_000_000, 150),
    ("diamond", "钻石", 3, 5_000_000, 200),
)

# The demo chain is a café and bakery brand: its members spend a few hundred to a few thousand yuan a
# year, so its ladder sits lower than DEFAULT_TIERS, giving the usual pyramid — most members 普通, about
# a fifth 银卡, a few percent 金卡, a handful 钻石. `loyalty programme init` starts from it too, so the
# demo and a newcomer's own database behave alike.
DEMO_TIERS = (
    ("normal", "普通", 0, 0, 100),
    ("silver", "银卡", 1, 100_000, 120),
    ("gold", "金卡", 2, 300_000, 150),
    ("diamond", "钻石", 3, 800_000, 200),
)

PROGRAMME_CODE = "default"
PROGRAMME_NAME = "会员积分计划"
MERCHANT_CODE = "DEFAULT"
MERCHANT_NAME = "默认商户"
MAX_TIERS = 20
_TIER_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


@dataclass(frozen=True)
class ProgrammeIds:
    programme_id: int
    merchant_id: int
    store_id: int


@dataclass(frozen=True)
class TierSpec:
    """One rung of a tier ladder: qualifying spend in the window (minor units), multiplier in percent."""

    code: str
    name: str
    threshold_minor: int
    multiplier_pct: int
    #: the tier's services (`domain.tier_services`), as the programme holds them
    services: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProgrammeState:
    """What a database holds of the programme: enough to say what exists and what to do next."""

    programme_id: int | None
    name: str | None
    currency: str | None
    merchant_code: str | None
    merchant_name: str | None
    tiers: tuple[TierSpec, ...]
    stores: int
    members: int


@dataclass(frozen=True)
class ProgrammeInit:
    """The programme after `init_programme`, and which of its parts this call created."""

    state: ProgrammeState
    created: tuple[str, ...]  # of "programme", "tiers", "merchant"


# Codes for the usual Chinese tier names; other names get a slug of their letters, or tier1, tier2 ….
KNOWN_TIER_CODES = {
    "普通": "normal",
    "普卡": "normal",
    "银卡": "silver",
    "金卡": "gold",
    "白金": "platinum",
    "铂金": "platinum",
    "钻石": "diamond",
    "黑卡": "black",
}


def tier_code_for(name: str, position: int) -> str:
    """A stable code for a tier named `name` at `position` (0 = lowest) when none is given."""
    known = KNOWN_TIER_CODES.get(name.strip())
    if known:
        return known
    slug = re.sub(r"[^a-z0-9]+", "-", name.strip().lower()).strip("-")[:40]
    return slug or f"tier{position + 1}"


def ladder(rows: Sequence[tuple[str, str, int, int, int]]) -> tuple[TierSpec, ...]:
    """`DEFAULT_TIERS`-style rows as tier specs (the rank is the position)."""
    return tuple(TierSpec(code, name, threshold, mult) for code, name, _rank, threshold, mult in rows)


def validate_ladder(specs: Sequence[TierSpec]) -> tuple[TierSpec, ...]:
    """A ladder every member can stand on: starts at 0 spend, rises strictly, unique names and codes."""
    specs = tuple(specs)
    if not specs:
        raise InvalidInput.field("tiers", "a programme needs at least one tier", "TIERS_INVALID")
    if len(specs) > MAX_TIERS:
        raise InvalidInput.field(
            "tiers", "at most {limit} tiers", "TIERS_INVALID", {"limit": MAX_TIERS, "count": len(specs)}
        )
    for spec in specs:
        values = {"tier": spec.name, "code": spec.code}
        if not spec.name.strip() or len(spec.name) > 100:
            raise InvalidInput.field(
                "tiers", "tier name {tier!r} must be 1 to 100 characters", "TIERS_INVALID", values
            )
        if not _TIER_CODE.match(spec.code):
            raise InvalidInput.field(
                "tiers",
                "tier code {code!r} must be lower-case letters, digits, _ or - (at most 40)",
                "TIERS_INVALID",
                values,
            )
        if spec.threshold_minor < 0:
            raise InvalidInput.field(
                "tiers", "tier {tier!r}: qualifying spend cannot be negative", "TIERS_INVALID", values
            )
        if not 0 <= spec.multiplier_pct <= 1000:
            raise InvalidInput.field(
                "tiers", "tier {tier!r}: multiplier must be 0 to 1000 percent", "TIERS_INVALID", values
            )
    if specs[0].threshold_minor != 0:
        raise InvalidInput.field(
            "tiers",
            "the first tier ({tier!r}) must need no spend (0), so that every member has a tier",
            "TIERS_INVALID",
            {"tier": specs[0].name},
        )
    for lower, upper in itertools.pairwise(specs):
        if upper.threshold_minor <= lower.threshold_minor:
            raise InvalidInput.field(
                "tiers",
                "tier {tier!r} must need more spend than {lower!r} before it",
                "TIERS_INVALID",
                {"tier": upper.name, "lower": lower.name},
            )
    names = [spec.name for spec in specs]
    codes = [spec.code for spec in specs]
    for position, spec in enumerate(specs):
        if spec.name in names[:position]:
            raise InvalidInput.field(
                "tiers", "tier name {tier!r} is used twice", "TIERS_INVALID", {"tier": spec.name}
            )
        if spec.code in codes[:position]:
            raise InvalidInput.field(
                "tiers", "tier code {code!r} is used twice", "TIERS_INVALID", {"code": spec.code}
            )
    return specs


def validate_currency(currency: str) -> str:
    """An ISO 4217 code Babel knows (so amounts can be shown with their currency)."""
    from babel.numbers import list_currencies

    code = currency.strip().upper()
    if code not in list_currencies():
        raise InvalidInput.field(
            "currency",
            "unknown currency {currency!r} (ISO 4217, e.g. CNY)",
            "CURRENCY_INVALID",
            {"currency": currency},
        )
    return code


class Rules(TypedDict, total=False):
    """A programme's earning and redemption rules (the `programmes` columns of the same names)."""

    points_per_unit: int
    excluded_categories: Sequence[str]
    points_per_currency_unit: int
    redeem_cap_pct: int
    min_redeem_balance: int
    return_window_days: int
    expiry_days: int
    tier_window_days: int
    downgrade_policy: str
    downgrade_grace_days: int


# The rules a programme starts with: `init_programme` uses them, `ensure_programme` takes any in their place.
DEFAULT_RULES: Rules = {
    "points_per_unit": 1,
    "excluded_categories": ("tobacco", "gift_card"),
    "points_per_currency_unit": 100,
    "redeem_cap_pct": 50,
    "min_redeem_balance": 0,
    "return_window_days": 7,
    "expiry_days": 365,
    "tier_window_days": 365,
    "downgrade_policy": "one_step",
    "downgrade_grace_days": 0,
}


def _ensure_core(
    conn: Connection,
    now: datetime,
    *,
    rules: Rules,
    tier_specs: Sequence[TierSpec],
    currency: str,
    merchant_name: str,
) -> tuple[int, int, tuple[str, ...]]:
    """Programme, tiers and default merchant, each made only if absent: (programme id, merchant id, made)."""
    created: list[str] = []
    pid = conn.execute(select(programmes.c.id).where(programmes.c.code == PROGRAMME_CODE)).scalar()
    if pid is None:
        pid = conn.execute(
            insert(programmes)
            .values(
                code=PROGRAMME_CODE,
                name=PROGRAMME_NAME,
                currency=currency,
                created_at=now,
                **{**rules, "excluded_categories": list(rules["excluded_categories"])},
            )
            .returning(programmes.c.id)
        ).scalar_one()
        created.append("programme")
    if conn.execute(select(tiers.c.id).limit(1)).first() is None:
        conn.execute(
            insert(tiers),
            [
                {
                    "code": t.code,
                    "name": t.name,
                    "rank": rank,
                    "threshold_minor": t.threshold_minor,
                    "multiplier_pct": t.multiplier_pct,
                    "programme_id": pid,
                }
                for rank, t in enumerate(tier_specs)
            ],
        )
        created.append("tiers")
    mid = conn.execute(select(merchants.c.id).where(merchants.c.code == MERCHANT_CODE)).scalar()
    if mid is None:
        mid = _create_merchant(
            conn, MerchantIn(code=MERCHANT_CODE, name=merchant_name, currency=currency), now, pid
        )
        created.append("merchant")
    return int(pid), int(mid), tuple(created)


def ensure_programme(
    ctx: Context,
    *,
    tier_ladder: tuple[tuple[str, str, int, int, int], ...] = DEFAULT_TIERS,
    **rules: Unpack[Rules],
) -> ProgrammeIds:
    """Create the default programme, merchant 'DEFAULT', store 'S001' and tiers if absent.

    `tier_ladder` rows are (code, name, rank, qualifying spend threshold in minor units, multiplier %);
    a rule given (`expiry_days=60`, …) replaces its `DEFAULT_RULES` value.
    """
    unknown = rules.keys() - DEFAULT_RULES.keys()
    if unknown:
        raise TypeError(f"ensure_programme() got unknown rules: {', '.join(sorted(unknown))}")
    now = ctx.now()
    ctx.invalidate()
    with ctx.engine.begin() as conn:
        pid, mid, _created = _ensure_core(
            conn,
            now,
            rules={**DEFAULT_RULES, **rules},
            tier_specs=ladder(tier_ladder),
            currency=ctx.settings.currency,
            merchant_name=MERCHANT_NAME,
        )
        sid = conn.execute(select(stores.c.id).where(stores.c.code == "S001")).scalar()
        if sid is None:
            sid = conn.execute(
                insert(stores)
                .values(
                    merchant_id=mid,
                    code="S001",
                    name="总店",
                    city="上海",
                    timezone=ctx.settings.timezone,
                    created_at=now,
                )
                .returning(stores.c.id)
            ).scalar_one()
    return ProgrammeIds(programme_id=pid, merchant_id=mid, store_id=int(sid))


def programme_state(ctx: Context) -> ProgrammeState:
    """The programme, its tiers and merchant, and how many stores and members the database holds."""
    with ctx.engine.connect() as conn:
        prog = conn.execute(
            select(programmes.c.id, programmes.c.name, programmes.c.currency).where(
                programmes.c.code == PROGRAMME_CODE
            )
        ).first()
        merchant = conn.execute(
            select(merchants.c.code, merchants.c.name).order_by(merchants.c.id).limit(1)
        ).first()
        rungs = conn.execute(
            select(
                tiers.c.code, tiers.c.name, tiers.c.threshold_minor, tiers.c.multiplier_pct, tiers.c.services
            ).order_by(tiers.c.rank)
        ).all()
        n_stores = conn.execute(select(func.count()).select_from(stores)).scalar_one()
        n_members = conn.execute(select(func.count()).select_from(members)).scalar_one()
    return ProgrammeState(
        programme_id=int(prog.id) if prog else None,
        name=str(prog.name) if prog else None,
        currency=str(prog.currency) if prog else None,
        merchant_code=str(merchant.code) if merchant else None,
        merchant_name=str(merchant.name) if merchant else None,
        tiers=tuple(
            TierSpec(
                str(r.code),
                str(r.name),
                int(r.threshold_minor),
                int(r.multiplier_pct),
                tuple(r.services or ()),
            )
            for r in rungs
        ),
        stores=int(n_stores),
        members=int(n_members),
    )


def init_programme(
    ctx: Context,
    *,
    chain_name: str | None = None,
    currency: str | None = None,
    tier_specs: Sequence[TierSpec] | None = None,
) -> ProgrammeInit:
    """Create the programme, its tier ladder and the chain's merchant where absent (no store).

    None means the default (the demo's ladder, the configured currency, merchant 默认商户). A part that
    exists is kept as it is; a value given explicitly that differs from it is a `Conflict` naming the
    field, since this call never changes a programme members may already be earning in.
    """
    wanted_currency = validate_currency(currency) if currency is not None else None
    wanted_tiers = validate_ladder(tier_specs) if tier_specs is not None else None
    if chain_name is not None and not 1 <= len(chain_name.strip()) <= 200:
        raise InvalidInput.field("name", "the chain's name must be 1 to 200 characters", "NAME_INVALID")
    before = programme_state(ctx)
    _refuse_changes(before, chain_name, wanted_currency, wanted_tiers)
    ctx.invalidate()
    with ctx.engine.begin() as conn:
        _pid, _mid, created = _ensure_core(
            conn,
            ctx.now(),
            rules=DEFAULT_RULES,
            tier_specs=wanted_tiers or ladder(DEMO_TIERS),
            currency=wanted_currency or ctx.settings.currency,
            merchant_name=(chain_name or MERCHANT_NAME).strip(),
        )
    return ProgrammeInit(state=programme_state(ctx), created=created)


def _refuse_changes(
    state: ProgrammeState, chain_name: str | None, currency: str | None, specs: tuple[TierSpec, ...] | None
) -> None:
    if currency is not None and state.currency is not None and currency != state.currency:
        raise Conflict(
            "PROGRAMME_EXISTS",
            "the programme exists with currency {existing}, not {wanted}",
            {"field": "currency", "existing": state.currency, "wanted": currency},
        )
    if specs is not None and state.tiers and specs != state.tiers:
        raise Conflict(
            "PROGRAMME_EXISTS",
            "the programme exists with other tiers ({existing})",
            {"field": "tiers", "existing": " / ".join(t.name for t in state.tiers)},
        )
    if (
        chain_name is not None
        and state.merchant_name is not None
        and chain_name.strip() != state.merchant_name
    ):
        raise Conflict(
            "PROGRAMME_EXISTS",
            "the programme exists for the chain {existing!r}, not {wanted!r}",
            {"field": "name", "existing": state.merchant_name, "wanted": chain_name},
        )
