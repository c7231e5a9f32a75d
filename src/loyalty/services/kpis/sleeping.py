"""Sleeping members to call back (RFM 激活): high past value, and no purchase for `active_days` days.

High value comes from the stored RFM scores where any are stored (`loyalty analytics refresh`: the
four "important" groups, whose spend was above the mean when scored), ordered by lifetime value;
otherwise from the tier, which every member holds: a tier above the programme's first is earned by
spend over the tier window, so those members are the high spenders of the last year, ordered by tier
then by spend. Either way the silence is read live from the purchases (a member who bought since the
last scoring is not asleep), with one look-up per candidate in the purchases-by-member index.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, literal_column, select
from sqlalchemy.sql.elements import ColumnElement

from loyalty.analytics.segments import BINARY_SEGMENTS
from loyalty.db.analytics_tables import member_scores
from loyalty.db.core_tables import members, purchases, tiers
from loyalty.services.kpis.members import ACTIVE
from loyalty.services.kpis.schemas import Sleeping, SleepingMember
from loyalty.services.kpis.scope import Scope

#: the RFM codes of the high-value groups (重要价值/发展/保持/挽留客户)
HIGH_VALUE_CODES = tuple(sorted(code for code, s in BINARY_SEGMENTS.items() if s.high_value))


def sleeping_members(conn: Connection, scope: Scope, active_days: int, limit: int) -> Sleeping:
    """The scope's sleeping high-value members at the end of the range, at most `limit` of them."""
    end = scope.end_at
    since = end - timedelta(days=active_days)
    if conn.execute(select(member_scores.c.member_id).limit(1)).first() is not None:
        return _from_scores(conn, scope, end, since, limit)
    return _from_tiers(conn, scope, end, since, limit)


def _silent(end: datetime, since: datetime, member_id: Any = members.c.id) -> list[ColumnElement[bool]]:
    """The scope's members (active, registered by `end`) without a purchase in [since, end).

    The look-up is keyed by `member_id`, the column of the table whose other conditions should be
    checked first: a member's scores' (pass `member_scores.c.member_id`), so that only the
    high-value members are looked up (SQLite checks a condition at the table it names). It selects
    a constant, so the purchases-by-member index answers it alone."""
    later = purchases.alias("later")
    recent = (
        select(literal_column("1"))
        .where(later.c.member_id == member_id, later.c.occurred_at >= since, later.c.occurred_at < end)
        .exists()
    )
    return [members.c.status == ACTIVE, members.c.created_at < end, ~recent]


def _from_scores(conn: Connection, scope: Scope, end: datetime, since: datetime, limit: int) -> Sleeping:
    asleep = (
        select(
            members.c.id,
            member_scores.c.segment,
            member_scores.c.rfm_code,
            member_scores.c.p_alive,
            member_scores.c.clv_minor,
            func.count().over().label("total"),
        )
        .join(member_scores, member_scores.c.member_id == members.c.id)
        .where(
            scope.all_members(),
            member_scores.c.rfm_code.in_(HIGH_VALUE_CODES),
            *_silent(end, since, member_scores.c.member_id),
        )
        .order_by(
            member_scores.c.clv_minor.desc().nulls_last(),
            member_scores.c.monetary_minor.desc(),
            members.c.id,
        )
        .limit(limit if limit > 0 else 1)
    )
    rows = conn.execute(asleep).all()
    chosen = rows if limit > 0 else []
    history = _history(conn, [int(r.id) for r in chosen], end)
    return Sleeping(
        rule="scores",
        total=int(rows[0].total) if rows else 0,
        members=[
            _member(history[int(r.id)], end, r.segment, r.rfm_code, r.p_alive, r.clv_minor) for r in chosen
        ],
    )


def _from_tiers(conn: Connection, scope: Scope, end: datetime, since: datetime, limit: int) -> Sleeping:
    first = select(func.min(tiers.c.rank)).scalar_subquery()
    net = func.coalesce(func.sum(purchases.c.total_minor - purchases.c.refunded_minor), 0)
    asleep = (
        select(members.c.id, net.label("spend"), func.count().over().label("total"))
        .select_from(
            members.join(tiers, tiers.c.id == members.c.tier_id).outerjoin(
                purchases, and_(purchases.c.member_id == members.c.id, purchases.c.occurred_at < end)
            )
        )
        .where(scope.all_members(), tiers.c.rank > first, *_silent(end, since))
        .group_by(members.c.id, tiers.c.rank)
        .order_by(tiers.c.rank.desc(), net.desc(), members.c.id)
        .limit(limit if limit > 0 else 1)
    )
    rows = conn.execute(asleep).all()
    chosen = rows if limit > 0 else []
    history = _history(conn, [int(r.id) for r in chosen], end)
    return Sleeping(
        rule="tier",
        total=int(rows[0].total) if rows else 0,
        members=[_member(history[int(r.id)], end, None, None, None, None) for r in chosen],
    )


def _history(conn: Connection, ids: list[int], end: datetime) -> dict[int, Any]:
    """Name, phone, store, tier, last purchase, purchase count and net spend up to `end` of a few members."""
    if not ids:
        return {}
    bought = (
        select(
            purchases.c.member_id,
            func.max(purchases.c.occurred_at).label("last"),
            func.count().label("purchases"),
            func.sum(purchases.c.total_minor - purchases.c.refunded_minor).label("spend"),
        )
        .where(purchases.c.member_id.in_(ids), purchases.c.occurred_at < end)
        .group_by(purchases.c.member_id)
        .subquery()
    )
    rows = conn.execute(
        select(
            members.c.id,
            members.c.name,
            members.c.phone,
            members.c.registration_store_id,
            tiers.c.code.label("tier_code"),
            tiers.c.name.label("tier_name"),
            bought.c.last,
            func.coalesce(bought.c.purchases, 0).label("purchases"),
            func.coalesce(bought.c.spend, 0).label("spend"),
        )
        .select_from(
            members.join(tiers, tiers.c.id == members.c.tier_id).outerjoin(
                bought, bought.c.member_id == members.c.id
            )
        )
        .where(members.c.id.in_(ids))
    ).all()
    return {int(r.id): r for r in rows}


def _member(
    row: Any, end: datetime, segment: str | None, rfm_code: str | None, p_alive: Any, clv: Any
) -> SleepingMember:
    last = row.last
    return SleepingMember(
        member_id=int(row.id),
        name=str(row.name),
        phone=str(row.phone),
        registration_store_id=row.registration_store_id,
        tier_code=str(row.tier_code),
        tier_name=str(row.tier_name),
        last_purchase_at=last,
        days_since_purchase=(end - last).days if last is not None else None,
        purchases=int(row.purchases),
        net_spend_minor=int(row.spend),
        segment=segment,
        rfm_code=rfm_code,
        p_alive=float(p_alive) if p_alive is not None else None,
        clv_minor=int(clv) if clv is not None else None,
    )
