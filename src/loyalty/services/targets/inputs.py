"""What every targets use case reads and checks first: the month and metric asked for, and the stores.

Bad input is refused before anything is read or written, with one error code (`TARGET_INVALID`) and
the field named, so the API, the CLI and the console can point at it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select

from loyalty.bootstrap import Context
from loyalty.db.core_tables import stores
from loyalty.domain.errors import InvalidInput, NotFound
from loyalty.domain.targets import Month
from loyalty.services.common import default_programme
from loyalty.services.kpis.periods import today_in
from loyalty.services.kpis.schemas import StoreRef as KpiStore
from loyalty.services.targets.schemas import METRICS, Metric, StoreRef

CODE = "TARGET_INVALID"
#: months a plan may be set for or followed in (the basis reaches a year back)
MIN_YEAR, MAX_YEAR = 1900, 9998


def parse_month(text: object) -> Month:
    """'2026-03' → Month, or TARGET_INVALID naming `month`."""
    try:
        month = Month.parse(text) if isinstance(text, str) else None
    except ValueError:
        month = None
    if month is None or not MIN_YEAR <= month.year <= MAX_YEAR:
        raise InvalidInput.field(
            "month", "month must be a month such as 2026-03, not {month!r}", CODE, {"month": str(text)[:40]}
        )
    return month


def this_month(ctx: Context) -> str:
    """The month under way in the chain's time zone ("2026-03"): what the pages and commands follow
    when no month is given."""
    return str(Month.of(today_in(ctx.settings.timezone, ctx.now())))


def check_metric(metric: object) -> Metric:
    if metric not in METRICS:
        raise InvalidInput.field(
            "metric", "metric must be one of {choices}", CODE, {"choices": ", ".join(METRICS)}
        )
    return metric


def check_int(field: str, value: object, low: int, high: int) -> int:
    """`value` as a whole number in [low, high], or TARGET_INVALID naming `field`."""
    if type(value) is not int or not low <= value <= high:
        raise InvalidInput.field(
            field,
            "{field} must be a whole number from {low} to {high}",
            CODE,
            {"field": field, "low": low, "high": high},
        )
    return value


@dataclass(frozen=True)
class Site:
    """A store as the targets use it: its reference, and the business day it opened (its zone's)."""

    ref: StoreRef
    opened: date

    @property
    def id(self) -> int:
        return self.ref.id

    @property
    def kpi(self) -> KpiStore:
        """The store as the KPI queries take it."""
        return KpiStore(id=self.ref.id, code=self.ref.code, name=self.ref.name, timezone=self.ref.timezone)


def sites(conn: Connection) -> list[Site]:
    """Every store of the chain, in id order."""
    rows = conn.execute(
        select(
            stores.c.id, stores.c.code, stores.c.name, stores.c.timezone, stores.c.region, stores.c.created_at
        ).order_by(stores.c.id)
    ).all()
    return [
        Site(
            StoreRef(id=r.id, code=r.code, name=r.name, timezone=r.timezone, region=r.region),
            _local_day(r.created_at, r.timezone),
        )
        for r in rows
    ]


def visible(every: list[Site], store_ids: Collection[int] | None, region: str | None) -> list[Site]:
    """The stores of `region` (all when None; REGION_NOT_FOUND when none is in it) among `store_ids`
    (an actor's stores; all when None)."""
    chosen = every
    if region is not None:
        chosen = [s for s in chosen if s.ref.region == region]
        if not chosen:
            raise NotFound("REGION_NOT_FOUND", "no store is in region {region}", {"region": region})
    if store_ids is not None:
        chosen = [s for s in chosen if s.id in store_ids]
    return chosen


def currency(conn: Connection, ctx: Context) -> str:
    """The chain's currency (the programme's; the configured one before there is a programme)."""
    try:
        return default_programme(conn).currency
    except NotFound:
        return ctx.settings.currency


def _local_day(at: datetime, zone: str) -> date:
    return at.astimezone(ZoneInfo(zone)).date()
