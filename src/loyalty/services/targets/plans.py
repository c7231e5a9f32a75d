"""A month's targets for one metric: the chain's target broken down to its stores, or typed by hand.

`set_plan` shares the chain's target among the stores in proportion to a basis (their figures in the
same month last year, or over the trailing 12 whole months), or equally, in multiples of `step`, by the
largest remainder method (`domain.targets.apportion`), so the stores' targets add up to the chain's
exactly. Stores whose target is typed by hand (`targets`) are taken off first and the rest shared among
the others. `auto` takes last year's month, else the trailing 12 months (reason `NO_LAST_YEAR`), else an
equal split (`NO_HISTORY`); a store with nothing in the basis gets 0 (type a new store's by hand).

`edit_targets` changes some stores' targets by hand; the chain's target becomes their sum. Either way a
new plan is written and the current one kept as history (`superseded_at`, `replaced_by`), in the same
transaction as its audit row.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update
from sqlalchemy.exc import IntegrityError

from loyalty.bootstrap import Context
from loyalty.db.auth_tables import staff_users
from loyalty.db.target_tables import store_targets, target_plans
from loyalty.domain.actors import Actor
from loyalty.domain.errors import Conflict, InvalidInput, NotFound
from loyalty.domain.targets import Month, apportion
from loyalty.services import audit
from loyalty.services.common import read
from loyalty.services.kpis.periods import today_in
from loyalty.services.kpis.schemas import rate
from loyalty.services.targets.figures import store_total
from loyalty.services.targets.inputs import CODE, Site, check_int, check_metric, currency, parse_month, sites
from loyalty.services.targets.schemas import BREAKDOWN_METHODS, MONEY_METRICS, Metric, Plan, StoreTarget

#: the largest target (minor units or members) and step a plan takes
MAX_TARGET = 10**15
MAX_NOTE = 500


def set_plan(
    ctx: Context,
    month: str,
    metric: str,
    chain_target: int,
    actor: Actor,
    *,
    method: str = "auto",
    step: int = 1,
    targets: Mapping[int, int] | None = None,
    note: str | None = None,
    replaces: int | None = None,
) -> Plan:
    """Break the chain's target for `month` down to its stores and make it the current plan.

    `targets` are stores' targets typed by hand, taken off the chain's target before the rest is shared.
    `replaces`: the plan id the caller saw as current (TARGET_PLAN_CHANGED when another is current).
    TARGET_INVALID names the bad field.
    """
    m, kind = parse_month(month), check_metric(metric)
    if method not in BREAKDOWN_METHODS:
        raise InvalidInput.field(
            "method", "method must be one of {choices}", CODE, {"choices": ", ".join(BREAKDOWN_METHODS)}
        )
    step = check_int("step", step, 1, MAX_TARGET)
    total = check_int("chain_target", chain_target, 0, MAX_TARGET)
    if total % step:
        raise InvalidInput.field(
            "chain_target", "the chain's target must be a multiple of step ({step})", CODE, {"step": step}
        )
    _check_note(note)
    with read(ctx) as conn:
        every = _stores(conn)
        fixed = _checked_targets(targets or {}, every, step)
        if sum(fixed.values()) > total:
            raise InvalidInput.field(
                "targets",
                "the targets typed by hand add up to {fixed}, more than the chain's target {total}",
                CODE,
                {"fixed": sum(fixed.values()), "total": total},
            )
        rest = [s for s in every if s.id not in fixed]
        today = today_in(ctx.settings.timezone, ctx.now())
        shared = _share(conn, m, kind, method, rest, total - sum(fixed.values()), step, today)
        cur = currency(conn, ctx) if kind in MONEY_METRICS else None
    used, reason, start, end, rows = shared
    rows.update({sid: (target, None, True) for sid, target in fixed.items()})
    head = {"method": used, "reason": reason, "basis_start": start, "basis_end": end, "step": step}
    head |= {"currency": cur, "note": note}
    return _write(
        ctx, m, kind, actor, head, rows, (replaces,) if replaces is not None else None, "targets.plan.set"
    )


def edit_targets(
    ctx: Context,
    month: str,
    metric: str,
    targets: Mapping[int, int],
    actor: Actor,
    *,
    note: str | None = None,
    replaces: int | None = None,
) -> Plan:
    """Set some stores' targets by hand: a new plan (`manual`) with the other stores' targets as they
    were and the chain's target their sum. Without a current plan, the stores given are the plan.
    TARGET_PLAN_CHANGED when the plan changed since it was read (or is not `replaces`)."""
    m, kind = parse_month(month), check_metric(metric)
    _check_note(note)
    if not targets:
        raise InvalidInput.field("targets", "give at least one store's target", CODE)
    with read(ctx) as conn:
        every = _stores(conn)
        old = _current(conn, m, kind)
        based_on = old.id if old is not None else None
        if replaces is not None and replaces != based_on:
            raise _changed(based_on, replaces)
        step = old.step if old is not None else 1
        fixed = _checked_targets(targets, every, step)
        cur = currency(conn, ctx) if kind in MONEY_METRICS else None
    rows = {t.store.id: (t.target, t.basis, t.by_hand) for t in (old.stores if old is not None else [])}
    rows.update({sid: (target, None, True) for sid, target in fixed.items()})
    if sum(r[0] for r in rows.values()) > MAX_TARGET:
        raise InvalidInput.field(
            "targets", "the stores' targets add up to more than {max}", CODE, {"max": MAX_TARGET}
        )
    head: dict[str, Any] = {"method": "manual", "reason": None, "step": step, "currency": cur, "note": note}
    head |= {"basis_start": old.basis_start, "basis_end": old.basis_end} if old is not None else {}
    return _write(ctx, m, kind, actor, head, rows, (based_on,), "targets.plan.edit")


def current_plan(ctx: Context, month: str, metric: str) -> Plan:
    """The plan in force for `month` and `metric` (TARGET_PLAN_NOT_FOUND when none was set)."""
    m, kind = parse_month(month), check_metric(metric)
    with read(ctx) as conn:
        found = _current(conn, m, kind)
    if found is None:
        raise NotFound(
            "TARGET_PLAN_NOT_FOUND",
            "no {metric} targets are set for {month}",
            {"metric": kind, "month": str(m)},
        )
    return found


def plan_history(ctx: Context, month: str, metric: str) -> list[Plan]:
    """Every version of `month`'s `metric` plan, the newest (the current one) first."""
    m, kind = parse_month(month), check_metric(metric)
    with read(ctx) as conn:
        return plans_where(conn, target_plans.c.month == m.first, target_plans.c.metric == kind)


def plans_where(conn: Connection, *where: Any) -> list[Plan]:
    """The plans matching `where`, newest first, each with its stores."""
    heads = conn.execute(select(target_plans).where(*where).order_by(target_plans.c.id.desc())).all()
    if not heads:
        return []
    every = {s.id: s for s in _stores(conn)}
    rows: dict[int, list[Row[Any]]] = {h.id: [] for h in heads}
    for r in conn.execute(
        select(store_targets)
        .where(store_targets.c.plan_id.in_(list(rows)))
        .order_by(store_targets.c.store_id)
    ):
        rows[r.plan_id].append(r)
    return [_plan(h, rows[h.id], every) for h in heads]


def _current(conn: Connection, m: Month, metric: str) -> Plan | None:
    found = plans_where(
        conn,
        target_plans.c.month == m.first,
        target_plans.c.metric == metric,
        target_plans.c.superseded_at.is_(None),
    )
    return found[0] if found else None


def _stores(conn: Connection) -> list[Site]:
    every = sites(conn)
    if not every:
        raise Conflict("TARGET_NO_STORES", "the chain has no store to set targets for")
    return every


def _check_note(note: str | None) -> None:
    if note is not None and len(note) > MAX_NOTE:
        raise InvalidInput.field("note", "a note must be at most {max} characters", CODE, {"max": MAX_NOTE})


def _checked_targets(targets: Mapping[int, int], every: list[Site], step: int) -> dict[int, int]:
    known = {s.id for s in every}
    out = {}
    for sid, target in targets.items():
        field = f"targets.{sid}"
        if type(sid) is not int or sid not in known:
            raise InvalidInput.field(
                field, "store {store_id} does not exist", CODE, {"store_id": str(sid)[:40]}
            )
        out[sid] = check_int(field, target, 0, MAX_TARGET)
        if target % step:
            raise InvalidInput.field(
                field, "a target must be a multiple of step ({step})", CODE, {"step": step}
            )
    return out


_Rows = dict[int, tuple[int, int | None, bool]]


def _share(
    conn: Connection,
    m: Month,
    metric: Metric,
    method: str,
    rest: list[Site],
    total: int,
    step: int,
    today: date,
) -> tuple[str, str | None, date | None, date | None, _Rows]:
    """(method used, reason, basis period, {store: (target, basis, by hand)}) of `total` shared in
    multiples of `step` among the stores `rest`."""
    if not rest:
        if total:
            raise InvalidInput.field(
                "chain_target",
                "every store's target is typed by hand; they add up to less than the chain's target",
                CODE,
            )
        return "manual", None, None, None, {}
    periods = {"last_year": _last_year(m), "trailing_12": _trailing(m, today)}
    reason = None
    chosen = method
    if method == "auto":
        chosen, reason = "equal", "NO_HISTORY"
        for name, why in (("last_year", None), ("trailing_12", "NO_LAST_YEAR")):
            basis = _basis(conn, rest, metric, *periods[name])
            if sum(basis.values()) > 0:
                chosen, reason = name, why
                break
    if chosen == "equal":
        parts = apportion(total, {s.id: 1 for s in rest}, step)
        return "equal", reason, None, None, {sid: (t, None, False) for sid, t in parts.items()}
    start, end = periods[chosen]
    basis = _basis(conn, rest, metric, start, end)
    if sum(basis.values()) <= 0:
        if total == 0:
            return chosen, reason, start, end, {sid: (0, b, False) for sid, b in basis.items()}
        raise InvalidInput.field(
            "method",
            "no store had any {metric} from {start} to {end}: choose another method",
            CODE,
            {"metric": metric, "start": start.isoformat(), "end": end.isoformat()},
        )
    parts = apportion(total, basis, step)
    return chosen, reason, start, end, {sid: (parts[sid], basis[sid], False) for sid in basis}


def _last_year(m: Month) -> tuple[date, date]:
    before = m.shift(-12)
    return before.first, before.last


def _trailing(m: Month, today: date) -> tuple[date, date]:
    """The 12 whole months before `m`, or before this month where `m` is still to come."""
    last = min(m.shift(-1), Month.of(today).shift(-1))
    return last.shift(-11).first, last.last


def _basis(conn: Connection, rest: list[Site], metric: Metric, start: date, end: date) -> dict[int, int]:
    """Each store's figure over [start, end] (a store that lost more than it sold weighs 0)."""
    return {s.id: max(0, store_total(conn, s, start, end, metric)) for s in rest}


def _write(
    ctx: Context,
    m: Month,
    metric: Metric,
    actor: Actor,
    head: dict[str, Any],
    rows: _Rows,
    expect: tuple[int | None] | None,
    action: str,
) -> Plan:
    """Write the plan, superseding the current one (which must be `expect[0]` where given), and audit
    it, in one transaction."""
    now = ctx.now()
    who = f"{actor.kind}:{actor.id}"
    try:
        with ctx.engine.begin() as conn:
            old = conn.execute(
                select(target_plans.c.id)
                .where(
                    target_plans.c.month == m.first,
                    target_plans.c.metric == metric,
                    target_plans.c.superseded_at.is_(None),
                )
                .with_for_update()
            ).scalar()
            if expect is not None and old != expect[0]:
                raise _changed(old, expect[0])
            before = _summary(conn, old)
            if old is not None:
                conn.execute(update(target_plans).where(target_plans.c.id == old).values(superseded_at=now))
            plan_id = conn.execute(
                insert(target_plans)
                .values(
                    month=m.first,
                    metric=metric,
                    chain_target=sum(r[0] for r in rows.values()),
                    created_at=now,
                    created_by=who,
                    creator_name=_name(conn, actor),
                    **head,
                )
                .returning(target_plans.c.id)
            ).scalar_one()
            conn.execute(
                insert(store_targets),
                [
                    {"plan_id": plan_id, "store_id": sid, "target": t, "basis": b, "by_hand": h}
                    for sid, (t, b, h) in sorted(rows.items())
                ],
            )
            if old is not None:
                conn.execute(update(target_plans).where(target_plans.c.id == old).values(replaced_by=plan_id))
            audit.record(conn, actor, action, "target_plan", plan_id, before, _summary(conn, plan_id), at=now)
            return plans_where(conn, target_plans.c.id == plan_id)[0]
    except IntegrityError as exc:  # another plan became current meanwhile
        raise _changed(None, expect[0] if expect else None) from exc


def _changed(current: int | None, replaces: int | None) -> Conflict:
    return Conflict(
        "TARGET_PLAN_CHANGED",
        "the targets were changed meanwhile (plan {current} is current, not {replaces}): reload them",
        {"current": current, "replaces": replaces},
    )


def _summary(conn: Connection, plan_id: int | None) -> dict[str, Any] | None:
    """A plan as the audit log keeps it."""
    if plan_id is None:
        return None
    head = conn.execute(select(target_plans).where(target_plans.c.id == plan_id)).one()
    stores = conn.execute(
        select(store_targets.c.store_id, store_targets.c.target).where(store_targets.c.plan_id == plan_id)
    )
    keep = ("month", "metric", "method", "chain_target", "currency", "step", "reason", "note")
    return {**{k: getattr(head, k) for k in keep}, "stores": {str(s): t for s, t in stores}}


def _name(conn: Connection, actor: Actor) -> str | None:
    """A staff member's display name (else username): kept with the plan, as it was when they set it."""
    if actor.kind != "staff" or not actor.id.isdigit():
        return None
    row = conn.execute(
        select(staff_users.c.display_name, staff_users.c.username).where(staff_users.c.id == int(actor.id))
    ).first()
    return None if row is None else str(row.display_name or row.username)


def _plan(head: Row[Any], rows: list[Row[Any]], every: dict[int, Site]) -> Plan:
    shared = sum(r.basis for r in rows if r.basis is not None and not r.by_hand)
    return Plan(
        id=head.id,
        month=str(Month.of(head.month)),
        metric=head.metric,
        method=head.method,
        reason=head.reason,
        chain_target=head.chain_target,
        currency=head.currency,
        step=head.step,
        basis_start=head.basis_start,
        basis_end=head.basis_end,
        note=head.note,
        created_at=head.created_at,
        created_by=head.created_by,
        creator_name=head.creator_name,
        superseded_at=head.superseded_at,
        replaced_by=head.replaced_by,
        stores=[
            StoreTarget(
                store=every[r.store_id].ref,
                target=r.target,
                basis=r.basis,
                share=None if r.basis is None or r.by_hand else rate(r.basis, shared),
                by_hand=r.by_hand,
            )
            for r in rows
        ],
    )
