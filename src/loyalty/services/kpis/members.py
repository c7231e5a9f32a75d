"""Members of a scope: how many there were before the range, who signed up on each business day, and
who among them is active.

A member counts from the day they registered, at the store they registered at, for as long as their
membership is active: merged duplicates and deactivated (or erased) members are left out of every
count, past days included, since the tables keep their status, not its history.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, case, func, literal, literal_column, select

from loyalty.db.core_tables import members, purchases
from loyalty.services.kpis.local_days import as_date
from loyalty.services.kpis.periods import day_start
from loyalty.services.kpis.scope import Scope, Zone

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

    One look-up per member in the purchases-by-member index (a member's latest sales before the end),
    the members read once for every zone (the end of each member's own zone's range).
    """
    ends = {z.name: day_start(scope.calendar.last + timedelta(days=1), z.name) for z in scope.zones}
    at = purchases.c.occurred_at.type

    def end(z: Zone, back: int = 0) -> Any:
        return literal(ends[z.name] - timedelta(days=back), at)

    bought = (  # a constant selected: the purchases-by-member index answers it alone
        select(literal_column("1"))
        .where(
            purchases.c.member_id == members.c.id,
            purchases.c.occurred_at >= scope.by_member_zone(lambda z: end(z, active_days)),
            purchases.c.occurred_at < scope.by_member_zone(end),
        )
        .exists()
    )
    total, active = conn.execute(
        select(func.count(), func.coalesce(func.sum(case((bought, 1), else_=0)), 0)).where(
            scope.members_within(lambda z: members.c.created_at < ends[z.name]), members.c.status == ACTIVE
        )
    ).one()
    return int(total), int(active)
