"""A draft programme run over past days of sales before it is published: what it would have given.

`simulate` takes a rules document as `yaml_io.validate` reads it (checked whole, nothing written)
and the business days to replay (in the programme's time zone; at most `MAX_DAYS`), reads the
members' sales posted on those days, and earns them through the same engine as a live sale
(`frames.earn_lines`) twice: once as they were earned (the points stored on each line) and once by
the draft's rules in place of the programme's. It answers the totals side by side, what each draft
rule gave and on how many sales (an exclusion shows as lower base points), the days, and the sales
the draft changes most.

A replay sees each sale as it was posted: its lines' amounts after any coupon, the member's tier
then (`purchases.tier_code`) and their birthday now. The draft's limits count from zero over the
replayed days (their room is read, never taken), and purchase numbers count the stored history, so
a "first purchase" rule sees the sales as they happened.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import Connection, select

from loyalty.bootstrap import Context
from loyalty.db.core_tables import members, purchase_lines, purchases, stores
from loyalty.db.stored_time import epoch_us
from loyalty.domain.errors import InvalidInput
from loyalty.services.catalogue import catalogue_of
from loyalty.services.common import read
from loyalty.services.earning_rules import book, yaml_io
from loyalty.services.earning_rules.frames import (
    SaleColumns,
    draft_rules,
    earn_lines,
    needs_birthdays,
    stored_date,
)

#: the longest replay: a quarter
MAX_DAYS = 92
#: the changed sales listed, largest change first
CHANGED_SHOWN = 20


@dataclass(frozen=True)
class RuleEffect:
    """What one draft rule gave over the replayed sales."""

    code: str
    name: str
    kind: str
    sales: int
    points: int


@dataclass(frozen=True)
class DayEffect:
    day: date
    sales: int
    points_actual: int
    points_draft: int


@dataclass(frozen=True)
class SaleChange:
    purchase_id: int
    order_id: str
    store_id: int
    member_id: int
    occurred_at: datetime
    amount_minor: int
    points_actual: int
    points_draft: int


@dataclass(frozen=True)
class Simulation:
    """The draft's effect on the replayed days, beside what the sales earned."""

    programme: str
    currency: str
    start: date
    end: date
    store_id: int | None
    sales: int
    spend_minor: int
    points_actual: int
    points_draft: int
    base_points: int  # of the draft's points, what the base rate (and tier) gives
    rules: list[RuleEffect]
    days: list[DayEffect]
    changed: list[SaleChange]


def simulate(
    ctx: Context, document: Any, start: date, end: date, *, store_id: int | None = None
) -> Simulation:
    """Replay the members' sales of business days `start`…`end` (at `store_id` only, when given)
    under the draft `document` (RULE_INVALID naming each bad field; SIMULATION_INVALID for the days)."""
    today = ctx.now().astimezone(ZoneInfo(ctx.settings.timezone)).date()
    for field, day in (("from", start), ("to", end)):
        if day > today:
            raise InvalidInput.field(field, "a simulation replays days already past", "SIMULATION_INVALID")
    if end < start:
        raise InvalidInput.field("to", "the period must not end before it starts", "SIMULATION_INVALID")
    if (end - start).days + 1 > MAX_DAYS:
        raise InvalidInput.field(
            "from", "a simulation replays at most {max} days", "SIMULATION_INVALID", {"max": MAX_DAYS}
        )
    checked = yaml_io.validate(ctx, document)
    zone = ZoneInfo(ctx.settings.timezone)
    since = datetime.combine(start, time(), zone)
    until = datetime.combine(end + timedelta(days=1), time(), zone)
    catalogue = catalogue_of(ctx)
    with read(ctx) as conn:
        sold = _sales(conn, since, until, store_id)
        store_rows = {s.id: catalogue.store(conn, s.id) for s in _stores(conn, {r.store_id for r in sold})}
        ladder = catalogue.tiers(conn)
        pid = book.programme_id_of(conn, checked.programme)
        draft = draft_rules(checked.specs, pid, {s.code: s.id for s in _stores(conn, None)})
        by_code = {t.code: t for t in ladder.ranked}
        lines = _lines(conn, [r.id for r in sold])
        sale_at = {r.id: i for i, r in enumerate(sold)}
        line_sale = np.array([sale_at[ln.purchase_id] for ln in lines], dtype=np.int64)
        columns = SaleColumns(
            programme_id=np.array([store_rows[r.store_id].programme.id for r in sold], dtype=np.int64),
            store_id=np.array([r.store_id for r in sold], dtype=np.int64),
            occurred_us=np.array([epoch_us(r.occurred_at) for r in sold], dtype=np.int64),
            zone=[store_rows[r.store_id].timezone for r in sold],
            channel=[r.channel for r in sold],
            tier_code=[r.tier_code or "" for r in sold],
            points_per_unit=np.array(
                [store_rows[r.store_id].programme.points_per_unit for r in sold], dtype=np.int64
            ),
            multiplier_pct=np.array(
                [by_code[r.tier_code].multiplier_pct if r.tier_code in by_code else 100 for r in sold],
                dtype=np.int64,
            ),
            member=np.ones(len(sold), dtype=bool),
            birthday=[stored_date(r.birthday) if needs_birthdays(draft) else None for r in sold],
            member_id=np.array([r.member_id for r in sold], dtype=np.int64),
        )
        excluded = np.array(
            [
                ln.category is not None
                and ln.category in store_rows[sold[line_sale[i]].store_id].programme.excluded_categories
                for i, ln in enumerate(lines)
            ],
            dtype=bool,
        )
        earned = earn_lines(
            draft,
            columns,
            line_sale,
            np.array([ln.amount_minor for ln in lines], dtype=np.int64),
            [ln.category for ln in lines],
            [ln.sku for ln in lines],
            excluded,
            brand=[ln.brand for ln in lines],
            limits=conn,
            write=False,
        )
    return _answer(checked, ctx, start, end, store_id, sold, lines, line_sale, draft, earned)


def _answer(
    checked: yaml_io.Checked,
    ctx: Context,
    start: date,
    end: date,
    store_id: int | None,
    sold: list[Any],
    lines: list[Any],
    line_sale: Any,
    draft: tuple[Any, ...],
    earned: Any,
) -> Simulation:
    n = len(sold)
    draft_line = earned.line_points
    actual_line = np.array([ln.points for ln in lines], dtype=np.int64)
    draft_sale = np.bincount(line_sale, weights=draft_line, minlength=n).astype(np.int64)
    actual_sale = np.bincount(line_sale, weights=actual_line, minlength=n).astype(np.int64)
    index_of = {rule.id: i for i, rule in enumerate(earned.rules)}
    effects = []
    for rule in draft:  # every draft rule, those that gave nothing too
        chosen = earned.entry_rule == index_of.get(rule.id, -1)
        touched = (
            np.unique(line_sale[earned.entry_line[chosen]]) if chosen.any() else np.array([], dtype=np.int64)
        )
        points = int(earned.entry_points[chosen].sum())
        effects.append(RuleEffect(rule.spec.code, rule.spec.name, rule.spec.kind, len(touched), points))
    zone = ZoneInfo(ctx.settings.timezone)
    days: dict[date, list[int]] = defaultdict(lambda: [0, 0, 0])
    for i, r in enumerate(sold):
        day = days[r.occurred_at.astimezone(zone).date()]
        day[0] += 1
        day[1] += int(actual_sale[i])
        day[2] += int(draft_sale[i])
    order = np.argsort(-np.abs(draft_sale - actual_sale), kind="stable")[:CHANGED_SHOWN]
    changed = [
        SaleChange(
            sold[i].id,
            sold[i].order_id,
            sold[i].store_id,
            sold[i].member_id,
            sold[i].occurred_at,
            int(sold[i].total_minor),
            int(actual_sale[i]),
            int(draft_sale[i]),
        )
        for i in order.tolist()
        if draft_sale[i] != actual_sale[i]
    ]
    return Simulation(
        programme=checked.programme,
        currency=ctx.settings.currency,
        start=start,
        end=end,
        store_id=store_id,
        sales=n,
        spend_minor=int(sum(int(r.total_minor) for r in sold)),
        points_actual=int(actual_sale.sum()),
        points_draft=int(draft_sale.sum()),
        base_points=int(earned.base.sum()),
        rules=effects,
        days=[DayEffect(d, v[0], v[1], v[2]) for d, v in sorted(days.items())],
        changed=changed,
    )


def _sales(conn: Connection, since: datetime, until: datetime, store_id: int | None) -> list[Any]:
    query = (
        select(
            purchases.c.id,
            purchases.c.order_id,
            purchases.c.store_id,
            purchases.c.member_id,
            purchases.c.occurred_at,
            purchases.c.channel,
            purchases.c.tier_code,
            purchases.c.total_minor,
            members.c.birthday,
        )
        .join(members, members.c.id == purchases.c.member_id)
        .where(purchases.c.occurred_at >= since, purchases.c.occurred_at < until)
        .order_by(purchases.c.occurred_at, purchases.c.id)
    )
    if store_id is not None:
        query = query.where(purchases.c.store_id == store_id)
    return list(conn.execute(query).all())


def _lines(conn: Connection, purchase_ids: list[int]) -> list[Any]:
    out: list[Any] = []
    for i in range(0, len(purchase_ids), 5_000):  # bound the IN list
        chunk = purchase_ids[i : i + 5_000]
        out += conn.execute(
            select(
                purchase_lines.c.purchase_id,
                purchase_lines.c.line_no,
                purchase_lines.c.sku,
                purchase_lines.c.category,
                purchase_lines.c.brand,
                purchase_lines.c.amount_minor,
                purchase_lines.c.points,
            )
            .where(purchase_lines.c.purchase_id.in_(chunk))
            .order_by(purchase_lines.c.purchase_id, purchase_lines.c.line_no)
        ).all()
    return out


def _stores(conn: Connection, ids: set[int] | None) -> list[Any]:
    query = select(stores.c.id, stores.c.code)
    if ids is not None:
        query = query.where(stores.c.id.in_(sorted(ids)))
    return list(conn.execute(query).all())
