"""Whose figures a report shows (one store, or the chain) and over which stretch of UTC time per zone.

A chain's stores may keep different time zones: each zone's stores are queried over the UTC instants
of the report's business days in that zone, and their daily figures added up by business day.
Members belong to the store they registered at; the chain's scope also holds members registered at no
store, whose days are the programme's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, case, or_, select
from sqlalchemy.sql.elements import ColumnElement

from loyalty.db.core_tables import members, stores
from loyalty.services.kpis.local_days import local_day
from loyalty.services.kpis.periods import Calendar, day_start
from loyalty.services.kpis.schemas import StoreRef


@dataclass(frozen=True)
class Zone:
    """The scope's stores keeping one time zone, and the UTC instants [lo, hi) of the report there."""

    name: str
    store_ids: tuple[int, ...]
    #: members registered at no store count here (the programme's zone, chain-wide reports only)
    unassigned: bool
    lo: datetime
    hi: datetime


@dataclass(frozen=True)
class Scope:
    store: StoreRef | None
    calendar: Calendar
    #: the zone the report's own instants (its end, the sleeping list's silence) are taken in
    zone: str
    zones: tuple[Zone, ...]
    dialect: str
    #: the whole chain's (every store, and members of no store), not one store's or one region's
    chain: bool = False

    @property
    def end_at(self) -> datetime:
        """The instant the report's last business day ends, in its own zone."""
        return day_start(self.calendar.last + timedelta(days=1), self.zone)

    def day(self, column: Any, zone: Zone) -> ColumnElement[Any]:
        """The business day of `column` (an instant in [zone.lo, zone.hi)) in `zone`."""
        return local_day(column, zone.name, self.calendar.first, self.calendar.last, self.dialect)

    def members_of(self, zone: Zone) -> ColumnElement[bool]:
        """The members of `zone`'s stores (and those of no store where the zone holds them)."""
        held = members.c.registration_store_id.in_(zone.store_ids)
        return or_(held, members.c.registration_store_id.is_(None)) if zone.unassigned else held

    def by_member_zone(self, value: Callable[[Zone], Any]) -> Any:
        """`value(zone)` for the zone of each member's store, as one expression: a CASE on the
        member's store where the scope keeps several zones, so a query of members reads them once
        rather than once a zone."""
        if len(self.zones) == 1:
            return value(self.zones[0])
        whens = [(self.members_of(z), value(z)) for z in self.zones[:-1]]
        return case(*whens, else_=value(self.zones[-1]))

    def members_within(self, bound: Callable[[Zone], ColumnElement[bool]]) -> ColumnElement[bool]:
        """The scope's members, each held to `bound` of their own store's zone."""
        return or_(*[and_(self.members_of(z), bound(z)) for z in self.zones])

    def all_members(self) -> ColumnElement[bool]:
        """The scope's members, whatever their zone."""
        ids = [i for z in self.zones for i in z.store_ids]
        held = members.c.registration_store_id.in_(ids)
        return or_(held, members.c.registration_store_id.is_(None)) if self.chain else held


def make_scope(
    stores: Sequence[StoreRef],
    store: StoreRef | None,
    calendar: Calendar,
    zone: str,
    dialect: str,
    *,
    chain: bool | None = None,
) -> Scope:
    """The scope of one store's report (`store`), of a region's (`stores` its stores, `chain` False)
    or of the chain's (`store` None: every store of `stores`, and members of no store in `zone`, the
    programme's)."""
    whole = store is None if chain is None else chain
    chosen = [store] if store is not None else list(stores)
    by_zone: dict[str, list[int]] = {}
    for s in chosen:
        by_zone.setdefault(s.timezone, []).append(s.id)
    if whole:
        by_zone.setdefault(zone, [])
    zones = tuple(
        Zone(
            name=name,
            store_ids=tuple(ids),
            unassigned=whole and name == zone,
            lo=day_start(calendar.first, name),
            hi=day_start(calendar.last + timedelta(days=1), name),
        )
        for name, ids in sorted(by_zone.items())
    )
    return Scope(store=store, calendar=calendar, zone=zone, zones=zones, dialect=dialect, chain=whole)


_STORE_REFS = select(stores.c.id, stores.c.code, stores.c.name, stores.c.timezone).order_by(stores.c.id)


def store_refs(conn: Connection) -> list[StoreRef]:
    """Every store a report may cover (its id, code, name and time zone), in id order."""
    return [StoreRef.model_validate(r._asdict()) for r in conn.execute(_STORE_REFS)]
