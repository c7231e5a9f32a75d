"""Members of a scope: how many there were before the range, who signed up on each business day, and
who among them is active.

A member counts from the day they registered, at the store they registered at, for as long as their
membership is active: merged duplicates and deactivated (or erased) members are left out of every
count, past days included, since the tables keep their status, not its history.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from sqlalchemy import Connection, case, exists, func, select

from loyalty.db.core_tables import members, purchases
from loyalty.services.kpis.local_days import as_date
from loyalty.services.kpis.periods import day_start
from loyalty.services.kpis.scope import Scope

ACTIVE = "active"


def sign_ups(conn: Connection, scope: Scope) -> tuple[int, dict[date, int]]:
    """(members registered before the range, new members on each business day of the range)."""
    before = 0
    days: dict[date, int] = defaultdict(int)
    for zone in scope.zones:
        joined = (
            select(
                case(
                    (members.c.created_at < zone.lo, None),
                    else_=scope.day(members.c.created_at, zone),
                ).label("day")
            )
            .where(scope.members_of(zone), members.c.status == ACTIVE, members.c.created_at < zone.hi)
            .subquery()
        )
        for day, count in conn.execute(select(joined.c.day, func.count()).group_by(joined.c.day)):
            if day is None:
                before += int(count)
            else:
                days[as_date(day)] += int(count)
    return before, dict(days)


def active_members(conn: Connection, scope: Scope, active_days: int) -> tuple[int, int]:
    """(members at the end of the range, those of them with a purchase anywhere in the chain in the
    `active_days` days up to it), each zone's members at the end of the range there.

    One look-up per member in the purchases-by-member index (a member's latest sales before the end).
    """
    total = active = 0
    for zone in scope.zones:
        end = day_start(scope.calendar.last + timedelta(days=1), zone.name)
        bought = exists().where(
            purchases.c.member_id == members.c.id,
            purchases.c.occurred_at >= end - timedelta(days=active_days),
            purchases.c.occurred_at < end,
        )
        n, a = conn.execute(
            select(func.count(), func.coalesce(func.sum(case((bought, 1), else_=0)), 0)).where(
                scope.members_of(zone), members.c.status == ACTIVE, members.c.created_at < end
            )
        ).one()
        total += int(n)
        active += int(a)
    return total, active
