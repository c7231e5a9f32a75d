"""The analyst's figures, read from what the last analytics refresh stored.

* the eight RFM groups of the binary scheme (`analytics.segments.BINARY_SEGMENTS`): members, share,
  spend, CLV and mean P(alive) per group, with each group's name and recommended action;
* the CLV and P(alive) distributions (histograms);
* the model's calibration/holdout check, kept by the refresh in `analytics_refreshes`.

Everything is aggregated in SQL over `member_scores` (a handful of GROUP BYs, the same statements on
SQLite and PostgreSQL), so a page costs milliseconds however many members are scored. Money stays in
integer minor units here; the entry points format or convert it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, case, func, select

from loyalty.analytics.segments import BINARY_SEGMENTS, Segment
from loyalty.db.analytics_tables import analytics_refreshes, member_scores
from loyalty.services.common import read

if TYPE_CHECKING:
    from loyalty.bootstrap import Context

#: P(alive) in tenths: [0, 0.1), [0.1, 0.2) … [0.9, 1]
P_ALIVE_BINS = 10
#: about this many CLV bins up to the 99th percentile, then one open bin for the rest
CLV_BINS = 10
#: calibration-frequency buckets of the holdout check: 0 … 6 repeat purchases, then 7 or more
TOP_BUCKET = 7


@dataclass(frozen=True)
class Group:
    """One of the eight RFM groups as the last refresh left it."""

    rfm_code: str
    segment: Segment
    members: int
    share: float
    spend_minor: int
    clv_minor: int | None
    mean_p_alive: float | None

    @property
    def spend_per_member_minor(self) -> int | None:
        return round(self.spend_minor / self.members) if self.members else None

    @property
    def clv_per_member_minor(self) -> int | None:
        return round(self.clv_minor / self.members) if self.members and self.clv_minor is not None else None


@dataclass(frozen=True)
class Bin:
    """Members with a value in [lo, hi): `lo` None below the first edge, `hi` None above the last."""

    lo: float | None
    hi: float | None
    members: int


@dataclass(frozen=True)
class Refresh:
    """The last refresh's row: when, which model, and the model's calibration/holdout check."""

    computed_at: datetime
    model: str
    members: int
    currency: str
    calibration_end: date | None
    holdout_weeks: float | None
    holdout: list[dict[str, Any]]
    tracking: list[dict[str, Any]]
    params: dict[str, Any]
    problem: str | None


@dataclass
class Overview:
    """What the analyst's page, `GET /api/v1/analytics/*` and `loyalty analytics figures` show."""

    currency: str
    members: int = 0
    scored_at: datetime | None = None
    model: str | None = None
    refresh: Refresh | None = None
    groups: list[Group] = field(default_factory=list)
    clv: list[Bin] = field(default_factory=list)
    without_clv: int = 0
    p_alive: list[Bin] = field(default_factory=list)
    without_p_alive: int = 0

    @property
    def never_ran(self) -> bool:
        """No member has scores: analytics was never refreshed here (or found no purchases)."""
        return self.members == 0


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def latest_refresh(conn: Connection) -> Refresh | None:
    row = conn.execute(select(analytics_refreshes).order_by(analytics_refreshes.c.id.desc()).limit(1)).first()
    if row is None:
        return None
    return Refresh(
        computed_at=row.computed_at,
        model=row.model,
        members=row.members,
        currency=row.currency,
        calibration_end=row.calibration_end,
        holdout_weeks=row.holdout_weeks,
        holdout=list(row.holdout or []),
        tracking=list(row.tracking or []),
        params=dict(row.params or {}),
        problem=row.problem,
    )


def _currency(conn: Connection, refresh: Refresh | None) -> str:
    if refresh is not None:
        return refresh.currency
    from loyalty.analytics.currency import database_currency
    from loyalty.analytics.errors import AnalyticsError

    try:
        return database_currency(conn)
    except AnalyticsError:
        from loyalty.config import get_settings

        return get_settings().currency


@dataclass(frozen=True)
class _Counts:
    """What the groups' scan finds besides the groups: members with a CLV and with a P(alive)."""

    members: int
    with_clv: int
    with_p_alive: int
    scored_at: datetime | None
    model: str | None


def _groups(conn: Connection) -> tuple[list[Group], _Counts]:
    s = member_scores.c
    rows = conn.execute(
        select(
            s.rfm_code,
            func.count(),
            func.coalesce(func.sum(s.monetary_minor), 0),
            func.sum(s.clv_minor),
            func.avg(s.p_alive),
            func.max(s.computed_at),
            func.max(s.model),
            func.count(s.clv_minor),
            func.count(s.p_alive),
        ).group_by(s.rfm_code)
    ).all()
    found = {str(r[0]): r for r in rows}
    total = sum(int(r[1]) for r in rows)
    groups = []
    for code, segment in BINARY_SEGMENTS.items():
        r = found.get(code)
        n = int(r[1]) if r is not None else 0
        groups.append(
            Group(
                rfm_code=code,
                segment=segment,
                members=n,
                share=n / total if total else 0.0,
                spend_minor=int(r[2]) if r is not None else 0,
                clv_minor=int(r[3]) if r is not None and r[3] is not None else None,
                mean_p_alive=float(r[4]) if r is not None and r[4] is not None else None,
            )
        )
    counts = _Counts(
        members=total,
        with_clv=sum(int(r[7]) for r in rows),
        with_p_alive=sum(int(r[8]) for r in rows),
        scored_at=_aware(max((r[5] for r in rows if r[5] is not None), default=None)),
        model=max((str(r[6]) for r in rows if r[6] is not None), default=None),
    )
    return groups, counts


def _ladder(column: Any, edges: list[float]) -> Any:
    """The bin of `column`: 0 below edges[1], i in [edges[i], edges[i+1]), the last at or above
    edges[-1], -1 for NULL (a CASE ladder: the same SQL on both backends, unlike floor() or
    width_bucket())."""
    steps = [(column.is_(None), -1)] + [(column < edge, i) for i, edge in enumerate(edges[1:])]
    return case(*steps, else_=len(edges) - 1)


def nice_step(span: float, bins: int, least: float) -> float:
    """A round bin width (1, 2 or 5 × a power of ten, at least `least`) giving about `bins` bins."""
    raw = max(span / bins, least)
    power = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * power >= raw:
            return float(m * power)
    return float(10 * power)


def _clv_edges(conn: Connection, with_clv: int, currency: str) -> list[float]:
    """Round bin edges from 0 up to the 99th percentile of CLV (a few whales do not flatten the rest)."""
    from loyalty.analytics.currency import minor_exponent

    s = member_scores.c
    at = (with_clv - 1) * 99 // 100  # the percentile by an ordered offset: portable
    p99 = conn.execute(
        select(s.clv_minor).where(s.clv_minor.is_not(None)).order_by(s.clv_minor).offset(at).limit(1)
    )
    top = float(p99.scalar_one())
    step = nice_step(max(top, 1.0), CLV_BINS, float(10 ** minor_exponent(currency)))
    count = max(1, math.ceil(top / step)) if top > 0 else 1
    return [i * step for i in range(count + 1)]


def _distributions(conn: Connection, counts: _Counts, currency: str) -> tuple[list[Bin], list[Bin]]:
    """The CLV and P(alive) histograms, counted together in one pass over the scores."""
    s = member_scores.c
    clv_edges = _clv_edges(conn, counts.with_clv, currency) if counts.with_clv else [0.0]
    p_edges = [i / P_ALIVE_BINS for i in range(P_ALIVE_BINS)]
    clv_bin, p_bin = (
        _ladder(s.clv_minor, clv_edges).label("clv_bin"),
        _ladder(s.p_alive, p_edges).label("p_bin"),
    )
    clv_n = [0] * len(clv_edges)
    p_n = [0] * len(p_edges)
    for c, p, n in conn.execute(select(clv_bin, p_bin, func.count()).group_by(clv_bin, p_bin)).tuples():
        if c >= 0:
            clv_n[int(c)] += int(n)
        if p >= 0:
            p_n[int(p)] += int(n)
    clv: list[Bin] = []
    if counts.with_clv:
        last = len(clv_edges) - 1
        clv = [Bin(None if i == 0 else clv_edges[i], clv_edges[i + 1], clv_n[i]) for i in range(last)]
        if clv_n[last]:
            clv.append(Bin(clv_edges[last], None, clv_n[last]))
    p_alive = [Bin(p_edges[i], (i + 1) / P_ALIVE_BINS, p_n[i]) for i in range(P_ALIVE_BINS)]
    return clv, p_alive


def overview(ctx: Context) -> Overview:
    """Every figure of the last refresh (an empty overview, `never_ran`, when there is none)."""
    with read(ctx) as conn:
        refresh = latest_refresh(conn)
        currency = _currency(conn, refresh)
        groups, counts = _groups(conn)
        out = Overview(
            currency=currency,
            members=counts.members,
            scored_at=counts.scored_at,
            model=counts.model,
            refresh=refresh,
            groups=groups,
            without_clv=counts.members - counts.with_clv,
            without_p_alive=counts.members - counts.with_p_alive,
        )
        if counts.members:
            out.clv, out.p_alive = _distributions(conn, counts, currency)
    return out


def bucket_label(bucket: int) -> str:
    """A holdout bucket as the chart names it: "0" … "6", "7+"."""
    return f"{bucket}+" if bucket >= TOP_BUCKET else str(bucket)
