"""The programme's earning rules, versioned: defined, changed and retired without rewriting history.

A definition is checked whole before anything is written (`domain.programme.rules.parse_rule`, then
the stores and tiers it names must exist), so a rule that cannot work is refused when it is defined,
never at sale time. Changing a rule writes version n + 1 in force from its `effective_from` and closes
version n there; a start in the past is refused (a sale already posted keeps the points it was
given, and a late import is earned by the versions that were in force at each sale's time). Retiring
a rule closes its current version. Every change is audited in its transaction.

The versions are read by the posting routines through the catalogue (`RuleBook`, kept per process and
dropped by `Context.invalidate` on every change here).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, insert, select, update

from loyalty.bootstrap import Context
from loyalty.db.core_tables import programmes, stores, tiers
from loyalty.db.programme_tables import earning_rules
from loyalty.db.stored_time import epoch_us
from loyalty.domain.actors import SYSTEM, Actor
from loyalty.domain.channels import CHANNELS
from loyalty.domain.errors import InvalidInput, NotFound, field_error
from loyalty.domain.programme.engine import Rule
from loyalty.domain.programme.rules import Conditions, RuleSpec, parse_rule
from loyalty.services import audit


@dataclass(frozen=True)
class RuleVersion:
    """One stored version of a rule, as the API, the CLI and the console show it."""

    id: int
    programme_id: int
    version: int
    spec: RuleSpec
    effective_from: datetime
    effective_to: datetime | None
    created_at: datetime
    created_by: str

    def in_force(self, at: datetime) -> bool:
        return self.effective_from <= at and (self.effective_to is None or at < self.effective_to)


@dataclass(frozen=True)
class RuleBook:
    """Every version of every rule, compiled for the engine; `for_programmes` picks a sale's."""

    rules: tuple[Rule, ...]
    #: `for_programmes`' answers, kept: every sale and quote asks (the book is replaced on a change)
    _picked: dict[frozenset[int], tuple[Rule, ...]] = field(default_factory=dict, compare=False, repr=False)

    def __bool__(self) -> bool:
        return bool(self.rules)

    def for_programmes(self, programme_ids: set[int]) -> tuple[Rule, ...]:
        key = frozenset(programme_ids)
        picked = self._picked.get(key)
        if picked is None:
            picked = self._picked[key] = tuple(r for r in self.rules if r.programme_id in key)
        return picked


def _version(row: Any) -> RuleVersion:
    return RuleVersion(
        id=row.id,
        programme_id=row.programme_id,
        version=row.version,
        spec=parse_rule(row.definition),
        effective_from=row.effective_from,
        effective_to=row.effective_to,
        created_at=row.created_at,
        created_by=row.created_by,
    )


def read_book(conn: Connection) -> RuleBook:
    """All versions, compiled (stores named by code resolved to ids)."""
    store_ids = {code: sid for sid, code in conn.execute(select(stores.c.id, stores.c.code))}
    compiled = []
    for row in conn.execute(select(earning_rules).order_by(earning_rules.c.id)):
        v = _version(row)
        compiled.append(
            Rule(
                id=v.id,
                version=v.version,
                programme_id=v.programme_id,
                spec=v.spec,
                store_ids=frozenset(store_ids[c] for c in v.spec.when.stores if c in store_ids),
                effective_from_us=epoch_us(v.effective_from),
                effective_to_us=None if v.effective_to is None else epoch_us(v.effective_to),
            )
        )
    return RuleBook(tuple(compiled))


def programme_id_of(conn: Connection, code: str | None) -> int:
    """The programme named `code`, or the first one (what a chain with one programme runs)."""
    query = select(programmes.c.id).order_by(programmes.c.id).limit(1)
    if code is not None:
        query = select(programmes.c.id).where(programmes.c.code == code)
    found = conn.execute(query).scalar()
    if found is None:
        raise NotFound("PROGRAMME_NOT_FOUND", "no programme {code}", {"code": code or ""})
    return int(found)


def list_rules(
    ctx: Context, *, programme: str | None = None, at: datetime | None = None, history: bool = False
) -> list[RuleVersion]:
    """The rules in force at `at` (now by default), or every version with `history`."""
    with ctx.engine.connect() as conn:
        pid = programme_id_of(conn, programme)
        rows = conn.execute(
            select(earning_rules)
            .where(earning_rules.c.programme_id == pid)
            .order_by(earning_rules.c.priority, earning_rules.c.code, earning_rules.c.version)
        ).all()
    versions = [_version(r) for r in rows]
    if history:
        return versions
    when = at or ctx.now()
    return [v for v in versions if v.in_force(when)]


def check_references(conn: Connection, when: Conditions, prefix: str = "") -> None:
    """Refuse a rule or an offer naming a store or a tier the chain does not have (naming the field)."""
    errors = []
    if when.stores:
        known = set(conn.execute(select(stores.c.code).where(stores.c.code.in_(when.stores))).scalars())
        for code in sorted(when.stores - known):
            errors.append(("when.stores", "no store has the code {value}", code))
    if when.tiers:
        known = set(conn.execute(select(tiers.c.code).where(tiers.c.code.in_(when.tiers))).scalars())
        for code in sorted(when.tiers - known):
            errors.append(("when.tiers", "no tier has the code {value}", code))
    for name in sorted(set(getattr(when, "channels", ())) - set(CHANNELS)):  # sales are stored by code
        errors.append(
            ("when.channels", "no channel is called {value} (store, online, mini_program, delivery)", name)
        )
    if errors:
        entries = [field_error(f"{prefix}{f}", m, {"value": v}) for f, m, v in errors]
        raise InvalidInput(
            "RULE_INVALID",
            "the rule cannot work: {field}: {reason}",
            {"field": entries[0]["field"], "reason": entries[0]["message"], "errors": entries},
        )


def _current(conn: Connection, pid: int, code: str, *, lock: bool = False) -> Any:
    query = (
        select(earning_rules)
        .where(and_(earning_rules.c.programme_id == pid, earning_rules.c.code == code))
        .order_by(earning_rules.c.version.desc())
        .limit(1)
    )
    return conn.execute(query.with_for_update() if lock else query).first()


#: how far ahead a change may be scheduled: a season's programme, not a date typed a century out
MAX_AHEAD = timedelta(days=180)


def check_start(ctx: Context, effective_from: datetime | None) -> datetime:
    """When a change given `effective_from` starts (now when None); RULE_BACKDATED for the past."""
    return _start(ctx, effective_from)


def _start(ctx: Context, effective_from: datetime | None) -> datetime:
    now = ctx.now()
    if effective_from is None:
        return now
    if effective_from.tzinfo is None:
        raise InvalidInput.field("effective_from", "needs a time zone (e.g. 2026-12-08T00:00:00+08:00)")
    if effective_from < now:
        raise InvalidInput.field(
            "effective_from",
            "is in the past: a change never rewrites the points of sales already made",
            "RULE_BACKDATED",
        )
    if effective_from > now + MAX_AHEAD:
        raise InvalidInput.field(
            "effective_from",
            "is more than {days} days ahead: schedule a change closer to its start",
            "RULE_TOO_FAR_AHEAD",
            {"days": MAX_AHEAD.days},
        )
    return effective_from


def define_rules(
    ctx: Context,
    raw_rules: list[dict[str, Any]],
    *,
    programme: str | None = None,
    effective_from: datetime | None = None,
    actor: Actor | None = None,
    retire: Sequence[str] = (),
) -> list[RuleVersion]:
    """Define (or change) each rule of `raw_rules` from `effective_from`: all of them or none.

    A rule whose definition is the same as its version in force is left as it is. The rules named in
    `retire` end at the same time, in the same transaction (a programme imported whole, which no
    longer has them).
    """
    specs = []
    codes: set[str] = set()
    for i, raw in enumerate(raw_rules):
        prefix = f"rules[{i}]." if len(raw_rules) > 1 else ""
        spec = parse_rule(raw, prefix)
        if spec.code in codes:
            raise InvalidInput.field(
                f"{prefix}code", "names a rule twice ({value})", values={"value": spec.code}
            )
        codes.add(spec.code)
        specs.append((prefix, spec))
    start = _start(ctx, effective_from)
    ctx.invalidate()
    try:
        with ctx.engine.begin() as conn:
            pid = programme_id_of(conn, programme)
            return write_rules(conn, ctx, pid, specs, start, actor or SYSTEM, retire)
    finally:
        ctx.invalidate()


def write_rules(
    conn: Connection,
    ctx: Context,
    pid: int,
    specs: Sequence[tuple[str, RuleSpec]],
    start: datetime,
    actor: Actor,
    retire: Sequence[str] = (),
) -> list[RuleVersion]:
    """`define_rules` inside the caller's transaction (a whole programme imported with its offers):
    each (field prefix, rule) checked and written from `start`, the rules of `retire` ended there. The
    caller drops the catalogue (`Context.invalidate`) before and after."""
    written: list[RuleVersion] = []
    for prefix, spec in specs:
        check_references(conn, spec.when, prefix)
        written.extend(_write_version(conn, ctx, pid, spec, start, actor))
    for code in retire:
        _retire(conn, ctx, pid, code, start, actor)
    return written


def _write_version(
    conn: Connection, ctx: Context, pid: int, spec: RuleSpec, start: datetime, actor: Actor
) -> list[RuleVersion]:
    current = _current(conn, pid, spec.code, lock=True)
    definition = spec.as_dict()
    if current is not None and current.definition == definition and current.effective_to is None:
        return []
    if current is not None and (current.effective_to is None or current.effective_to > start):
        if current.effective_from > start:
            raise InvalidInput.field(
                "effective_from",
                "rule {code} has a version starting later ({at}): change that one instead",
                "RULE_BACKDATED",
                {"code": spec.code, "at": current.effective_from.isoformat()},
            )
        conn.execute(update(earning_rules).where(earning_rules.c.id == current.id).values(effective_to=start))
    version = 1 if current is None else current.version + 1
    values = {
        "programme_id": pid,
        "code": spec.code,
        "version": version,
        "name": spec.name,
        "kind": spec.kind,
        "priority": spec.priority,
        "definition": definition,
        "effective_from": start,
        "effective_to": None,
        "created_at": ctx.now(),
        "created_by": actor.id,
    }
    new_id = conn.execute(insert(earning_rules).values(**values).returning(earning_rules.c.id)).scalar_one()
    before = None if current is None else {"version": current.version, "definition": current.definition}
    audit.record(
        conn,
        actor,
        "earning_rule.define",
        "earning_rule",
        spec.code,
        before,
        {"version": version, "definition": definition, "effective_from": start},
        at=ctx.now(),
    )
    row = conn.execute(select(earning_rules).where(earning_rules.c.id == new_id)).one()
    return [_version(row)]


def retire_rule(
    ctx: Context,
    code: str,
    *,
    programme: str | None = None,
    at: datetime | None = None,
    actor: Actor | None = None,
) -> RuleVersion:
    """End rule `code` at `at` (now by default): sales from then on are earned without it."""
    end = _start(ctx, at)
    ctx.invalidate()
    try:
        with ctx.engine.begin() as conn:
            pid = programme_id_of(conn, programme)
            row = _retire(conn, ctx, pid, code, end, actor or SYSTEM)
    finally:
        ctx.invalidate()
    return _version(row)


def _retire(conn: Connection, ctx: Context, pid: int, code: str, end: datetime, actor: Actor) -> Any:
    """Close rule `code`'s current version at `end` (audited); its row as it is then."""
    current = _current(conn, pid, code, lock=True)
    if current is None or (current.effective_to is not None and current.effective_to <= end):
        raise NotFound("RULE_NOT_FOUND", "no rule {code} is in force", {"code": code})
    conn.execute(
        update(earning_rules)
        .where(earning_rules.c.id == current.id)
        .values(effective_to=max(end, current.effective_from))
    )
    audit.record(
        conn,
        actor,
        "earning_rule.retire",
        "earning_rule",
        code,
        {"version": current.version, "effective_to": current.effective_to},
        {"version": current.version, "effective_to": end},
        at=ctx.now(),
    )
    return conn.execute(select(earning_rules).where(earning_rules.c.id == current.id)).one()
