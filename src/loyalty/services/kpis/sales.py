"""Sales, refunds and repeat buyers of a scope, read from `purchases` and `returns` in set-based SQL.

Receipts are by far the most rows, so each bucket (day, week or month) of each time zone is one
range of `ix_purchases_store_occurred` (store, time of sale; member, total, points and staff ride
in the index) summed without a sort, the buckets' sums joined by UNION ALL into one statement: the UTC
bounds of a zone's business days are worked out here, exactly, daylight saving time included.
Refunds are few: they are grouped by business day (`kpis.local_days`) in one pass.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, and_, bindparam, case, func, literal_column, or_, select, union_all
from sqlalchemy.sql.elements import ColumnElement

from loyalty.db.core_tables import members, purchases, returns
from loyalty.services.kpis.local_days import as_date
from loyalty.services.kpis.periods import day_start
from loyalty.services.kpis.scope import Scope

#: the most arms of one UNION ALL (SQLite refuses more than 500 by default)
ARMS_PER_STATEMENT = 400


@dataclass
class Receipts:
    """A stretch's receipts (money in minor units)."""

    tickets: int = 0
    member_tickets: int = 0
    sales_minor: int = 0
    member_sales_minor: int = 0
    points_issued: int = 0


@dataclass
class Refunds:
    """A stretch's refunds, and the points they took back."""

    refunds_minor: int = 0
    member_refunds_minor: int = 0
    points_reversed: int = 0


def bucket_receipts(conn: Connection, scope: Scope) -> dict[date, Receipts]:
    """The scope's receipts in each bucket of its calendar (by the bucket's first day), at the store
    that made them, on that store's business days."""
    zones = [z for z in scope.zones if z.store_ids]
    buckets = scope.calendar.buckets
    params: dict[str, Any] = {}
    for z, zone in enumerate(zones):
        params[f"s{z}"] = list(zone.store_ids)
        for k, bucket in enumerate(buckets):
            params[f"lo{z}_{k}"] = day_start(bucket.start, zone.name)
            params[f"hi{z}_{k}"] = day_start(bucket.end + timedelta(days=1), zone.name)
    out: dict[date, Receipts] = defaultdict(Receipts)
    for statement in _receipts_statements(len(zones), len(buckets)):
        for k, tickets, members_, total, members_total, points in conn.execute(statement, params):
            r = out[buckets[int(k)].start]
            r.tickets += int(tickets)
            r.member_tickets += int(members_)
            r.sales_minor += int(total)
            r.member_sales_minor += int(members_total)
            r.points_issued += int(points)
    return dict(out)


@lru_cache(maxsize=128)
def _receipts_statements(zones: int, buckets: int) -> tuple[Any, ...]:
    """The receipts' statements for `zones` zones of `buckets` buckets: one arm per (zone, bucket),
    at most `ARMS_PER_STATEMENT` arms a statement. Built once per shape, so a page pays neither for
    building nor for keying the statement again; the stores and bounds are bound parameters (zone z's
    stores `s{z}`, its bucket k `lo{z}_{k}` … `hi{z}_{k}`)."""
    member = purchases.c.member_id.is_not(None)
    arms = [
        select(  # counting and FILTER rather than sums of CASEs: a seventh less work per receipt
            literal_column(str(k)).label("k"),
            func.count(),
            func.count(purchases.c.member_id),
            func.coalesce(func.sum(purchases.c.total_minor), 0),
            func.coalesce(func.sum(purchases.c.total_minor).filter(member), 0),
            func.coalesce(func.sum(purchases.c.points_earned), 0),
        ).where(
            purchases.c.store_id.in_(bindparam(f"s{z}", expanding=True)),
            purchases.c.occurred_at >= bindparam(f"lo{z}_{k}"),
            purchases.c.occurred_at < bindparam(f"hi{z}_{k}"),
        )
        for z in range(zones)
        for k in range(buckets)
    ]
    return tuple(_union(chunk) for chunk in _chunks(arms, ARMS_PER_STATEMENT))


def _union(arms: list[Any]) -> Any:
    return arms[0] if len(arms) == 1 else union_all(*arms)


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def daily_refunds(conn: Connection, scope: Scope) -> dict[date, Refunds]:
    """The refunds the scope's stores paid on each business day (a member's when the sale was)."""
    out: dict[date, Refunds] = defaultdict(Refunds)
    member = purchases.c.member_id.is_not(None)
    for zone in scope.zones:
        if not zone.store_ids:
            continue
        back = (
            select(
                scope.day(returns.c.occurred_at, zone).label("day"),
                case((member, 1), else_=0).label("member"),
                returns.c.refund_minor,
                returns.c.points_reversed,
            )
            .join(purchases, purchases.c.id == returns.c.purchase_id)
            .where(
                returns.c.store_id.in_(zone.store_ids),
                returns.c.occurred_at >= zone.lo,
                returns.c.occurred_at < zone.hi,
            )
            .subquery()
        )
        for day, refunds, member_refunds, reversed_ in conn.execute(
            select(
                back.c.day,
                func.sum(back.c.refund_minor),
                func.sum(back.c.member * back.c.refund_minor),
                func.sum(back.c.points_reversed),
            ).group_by(back.c.day)
        ):
            d = out[as_date(day)]
            d.refunds_minor += int(refunds)
            d.member_refunds_minor += int(member_refunds)
            d.points_reversed += int(reversed_)
    return dict(out)


def repeat_buyers(conn: Connection, scope: Scope) -> tuple[int, int]:
    """(members who bought in the scope's stores over the range, those who bought there twice or more).

    One query over every zone, so a member who bought in two zones' stores counts once. A store's, or
    the chain's over a short range, reads the stores' days and counts them by member; the chain's over
    a long range reads the purchases-by-member index instead, already in member order, so its many
    receipts need no sort (`_chain_range`). On SQLite that long range is asked member by member
    (`_seek_each_member`): two look-ups in the index per member beat reading a year of receipts.
    """
    zones = [z for z in scope.zones if z.store_ids]
    if not zones:
        return 0, 0
    long = (scope.calendar.last - scope.calendar.first).days >= LONG_RANGE_DAYS
    if scope.chain and long and conn.dialect.name == "sqlite":
        return _seek_each_member(conn, scope)
    within = _chain_range(scope) if scope.chain and long else or_(*_ranges(scope))
    per_member = (
        select(purchases.c.member_id, func.count().label("n"))
        .where(purchases.c.member_id.is_not(None), within)
        .group_by(purchases.c.member_id)
        .subquery()
    )
    buyers, repeat = conn.execute(
        select(func.count(), func.coalesce(func.sum(case((per_member.c.n >= 2, 1), else_=0)), 0)).select_from(
            per_member
        )
    ).one()
    return int(buyers), int(repeat)


#: from how many days a chain's repeat buyers are read in member order (see `repeat_buyers`)
LONG_RANGE_DAYS = 92


def _seek_each_member(conn: Connection, scope: Scope) -> tuple[int, int]:
    """The chain's (buyers, repeat buyers) over a long range, for SQLite: each member's first sale in
    the range and, if any, their second, each one seek in the purchases-by-member index (the members
    taken in id order, so the seeks walk the index forwards). Grouping a year of receipts by member
    reads every one of them; this reads two per member. The same condition as `_chain_range`: only
    the sales in the hours where the zones' stretches differ are checked for their store."""
    p = purchases.alias("p")
    within = _chain_range(scope, p)
    first = (
        select(literal_column("1")).where(p.c.member_id == members.c.id, within).correlate(members).exists()
    )
    second = (
        select(literal_column("1"))
        .where(p.c.member_id == members.c.id, within)
        .order_by(p.c.occurred_at)
        .limit(1)
        .offset(1)
        .correlate(members)
        .scalar_subquery()
    )
    each = select(second.label("second")).select_from(members).where(first).order_by(members.c.id).subquery()
    buyers, repeat = conn.execute(select(func.count(), func.count(each.c.second))).one()
    return int(buyers), int(repeat)


def _ranges(scope: Scope, table: Any = purchases) -> list[ColumnElement[bool]]:
    """Each zone's stores over that zone's stretch of UTC time."""
    return [
        and_(
            table.c.store_id.in_(zone.store_ids),
            table.c.occurred_at >= zone.lo,
            table.c.occurred_at < zone.hi,
        )
        for zone in scope.zones
        if zone.store_ids
    ]


def _chain_range(scope: Scope, table: Any = purchases) -> ColumnElement[bool]:
    """Every store's sales over its zone's stretch, said by time alone where the zones' stretches
    overlap (a few hours apart at each end): only the sales in those hours are checked for their store,
    so the rest are read from the purchases-by-member index without the table."""
    zones = [z for z in scope.zones if z.store_ids]
    at = table.c.occurred_at
    if len(zones) == 1:
        return and_(at >= zones[0].lo, at < zones[0].hi)
    outer_lo, outer_hi = min(z.lo for z in zones), max(z.hi for z in zones)
    inner_lo, inner_hi = max(z.lo for z in zones), min(z.hi for z in zones)
    return and_(
        at >= outer_lo,
        at < outer_hi,
        or_(and_(at >= inner_lo, at < inner_hi), *_ranges(scope, table)),
    )
