"""A month's targets followed day by day: each store against its target and against the time elapsed
in its zone, a forecast to the month's end, regions' and the chain's totals, and the league table.

A store's actual is what the KPIs count (`targets.figures`) on its business days of the month so far,
today's included. Its forecast is the actual plus, for what is left of the month, the mean of each
weekday over the `FORECAST_WEEKS` weeks before today (`weekday`); a store open too briefly for every
weekday to occur since it opened carries its pace so far on (`linear`). A month over is `final`.

A region or the chain adds its stores up: targets, actuals and forecasts (none if a store has none);
its time elapsed is its stores' weighted by target, so its points ahead are those of the total.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal

from sqlalchemy import Connection

from loyalty.bootstrap import Context
from loyalty.db.target_tables import target_plans
from loyalty.domain.targets import Month, forecast, linear_forecast, weekday_rates
from loyalty.services.common import read
from loyalty.services.kpis.schemas import RATE_PLACES, rate
from loyalty.services.targets.alerts import raised, rules_in
from loyalty.services.targets.clock import MonthClock, month_clock
from loyalty.services.targets.figures import store_figures
from loyalty.services.targets.inputs import Site, check_metric, currency, parse_month, sites, visible
from loyalty.services.targets.plans import plans_where
from loyalty.services.targets.schemas import (
    METRICS,
    MONEY_METRICS,
    ForecastMethod,
    GroupProgress,
    League,
    LeagueRow,
    Metric,
    Plan,
    Progress,
    Standing,
    StoreProgress,
)

#: the weeks before today whose weekdays the forecast averages
FORECAST_WEEKS = 8
_POINTS = Decimal("0.01")


@dataclass(frozen=True)
class _Figure:
    """One metric's month at a store (or a group), before it is shown: `due` is the target's share for
    the time elapsed, unrounded."""

    target: int | None
    actual: int
    forecast: int | None
    elapsed: Decimal
    due: Decimal | None


@dataclass(frozen=True)
class _Followed:
    site: Site
    clock: MonthClock
    method: ForecastMethod
    figures: dict[Metric, _Figure]


def month_progress(
    ctx: Context,
    month: str,
    *,
    store_ids: Collection[int] | None = None,
    region: str | None = None,
    metrics: Collection[Metric] | None = None,
) -> Progress:
    """`month` followed for the stores of `region` among `store_ids` (None: all; a store manager's
    stores), for `metrics` (default: those with a plan, else all). The chain's totals only for a caller
    of the whole chain (neither given)."""
    m = parse_month(month)
    chosen = None if metrics is None else [check_metric(x) for x in metrics]
    now = ctx.now()
    with read(ctx) as conn:
        every = sites(conn)
        shown = visible(every, store_ids, region)
        plans = _plans(conn, m)
        kinds = chosen or [k for k in METRICS if k in plans] or list(METRICS)
        followed = [_follow(conn, m, site, kinds, plans, now) for site in shown]
        rules = rules_in(conn)
        money = currency(conn, ctx)
    stores = [_store(f, kinds) for f in followed]
    regions = sorted({s.ref.region for s in shown if s.ref.region is not None})
    groups = [_group(r, [f for f in followed if f.site.ref.region == r], kinds, m) for r in regions]
    whole = store_ids is None and region is None
    ids = {s.id for s in shown}
    return Progress(
        month=str(m),
        as_of=now,
        currency=money,
        plans=[_only(plans[k], ids) for k in kinds if k in plans],
        rules=rules,
        forecast_weeks=FORECAST_WEEKS,
        stores=stores,
        regions=groups,
        chain=_group(None, followed, kinds, m) if whole else None,
        alerts=[a for p in stores for s in p.standings for a in raised(p.store, p.state, s, rules)],
    )


def league(
    ctx: Context,
    month: str,
    metric: str = "sales",
    *,
    store_ids: Collection[int] | None = None,
    region: str | None = None,
) -> League:
    """The stores of the chain (of `region`) ranked by points ahead of the time elapsed, best first
    (equal points share a rank); stores without a target follow unranked. With `store_ids` only those
    stores' rows are shown, with their ranks among all."""
    kind = check_metric(metric)
    whole = month_progress(ctx, month, region=region, metrics=[kind])
    behind = {a.store.id for a in whole.alerts}
    rows = sorted(
        ((p, p.standings[0]) for p in whole.stores),
        key=lambda ps: (ps[1].ahead_points is None, -(ps[1].ahead_points or 0), ps[0].store.code),
    )
    out, rank = [], 0
    for i, (p, s) in enumerate(rows):
        if s.ahead_points is not None and (i == 0 or rows[i - 1][1].ahead_points != s.ahead_points):
            rank = i + 1
        out.append(
            LeagueRow(
                rank=rank if s.ahead_points is not None else None,
                store=p.store,
                state=p.state,
                standing=s,
                behind=p.store.id in behind,
            )
        )
    return League(
        month=whole.month,
        metric=kind,
        as_of=whole.as_of,
        currency=whole.currency if kind in MONEY_METRICS else None,
        ranked=sum(1 for r in out if r.rank is not None),
        rows=[r for r in out if store_ids is None or r.store.id in store_ids],
    )


def _plans(conn: Connection, m: Month) -> dict[Metric, Plan]:
    found = plans_where(conn, target_plans.c.month == m.first, target_plans.c.superseded_at.is_(None))
    return {p.metric: p for p in found}


def _only(plan: Plan, ids: set[int]) -> Plan:
    """`plan` with the rows of the stores shown only."""
    return plan.model_copy(update={"stores": [t for t in plan.stores if t.store.id in ids]})


def _follow(
    conn: Connection, m: Month, site: Site, kinds: list[Metric], plans: dict[Metric, Plan], now: datetime
) -> _Followed:
    """The store's clock, its forecast method and its figures for each metric."""
    clock = month_clock(m, site.ref.timezone, now)
    window = _window(site, clock)
    if clock.state == "past":
        first, last = m.first, m.last
    else:
        last = clock.today if clock.state == "current" else clock.today - timedelta(days=1)
        first = window[0] if window else clock.today
        first = min(first, m.first) if clock.state == "current" else first
    days = store_figures(conn, site, first, last, kinds)
    method: ForecastMethod = "final" if clock.state == "past" else "weekday"
    each = {}
    for k in kinds:
        actual = sum(v for d, v in days[k].items() if m.first <= d <= last) if clock.through else 0
        rates = weekday_rates(days[k], window) if window else None
        if clock.state == "past":
            ahead: int | None = actual
        elif rates is not None:
            ahead = forecast(actual, rates, clock.still_to_come())
        else:
            ahead = linear_forecast(actual, clock.elapsed_days, m.days)
            method = "linear" if ahead is not None else "none"
        target = (
            next((t.target for t in plans[k].stores if t.store.id == site.id), None) if k in plans else None
        )
        each[k] = _Figure(
            target, actual, ahead, clock.elapsed, None if target is None else target * clock.elapsed
        )
    return _Followed(site, clock, method, each)


def _window(site: Site, clock: MonthClock) -> list[date]:
    """The days before the store's today the forecast reads, since it opened (none once the month is
    over)."""
    if clock.state == "past":
        return []
    first = max(clock.today - timedelta(days=7 * FORECAST_WEEKS), site.opened)
    return [first + timedelta(days=i) for i in range((clock.today - first).days)]


def _store(f: _Followed, kinds: list[Metric]) -> StoreProgress:
    clock = f.clock
    remaining = Decimal(clock.days) - clock.elapsed_days
    return StoreProgress(
        store=f.site.ref,
        state=clock.state,
        days=clock.days,
        elapsed=clock.elapsed.quantize(RATE_PLACES, rounding=ROUND_HALF_EVEN),
        through=clock.through,
        forecast_method=f.method,
        standings=[_standing(k, f.figures[k], remaining) for k in kinds],
    )


def _group(region: str | None, members: list[_Followed], kinds: list[Metric], m: Month) -> GroupProgress:
    standings = []
    for k in kinds:
        figs = [f.figures[k] for f in members]
        planned = [f for f in figs if f.target is not None]
        target = sum(f.target or 0 for f in planned) if planned else None
        due = sum((f.due or Decimal(0) for f in planned), Decimal(0)) if planned else None
        if target:
            elapsed = (due or Decimal(0)) / target
        else:
            elapsed = sum((f.elapsed for f in figs), Decimal(0)) / max(len(figs), 1)
        forecasts = [f.forecast for f in figs]
        ahead = None if None in forecasts or not figs else sum(f or 0 for f in forecasts)
        actual = sum(f.actual for f in figs)
        fig = _Figure(target, actual, ahead, elapsed, due)
        standings.append(_standing(k, fig, Decimal(m.days) * (1 - elapsed)))
    return GroupProgress(region=region, stores=len(members), standings=standings)


def _standing(metric: Metric, f: _Figure, remaining: Decimal) -> Standing:
    """One metric's standing; `remaining`: the days of the month still to come."""
    elapsed = f.elapsed.quantize(RATE_PLACES, rounding=ROUND_HALF_EVEN)
    progress = rate(f.actual, f.target) if f.target else None
    gap = None if f.target is None else f.target - f.actual
    needed = None
    if gap is not None and remaining > 0:
        needed = int((Decimal(max(gap, 0)) / remaining).to_integral_value(rounding=ROUND_CEILING))
    return Standing(
        metric=metric,
        target=f.target,
        actual=f.actual,
        progress=progress,
        elapsed=elapsed,
        ahead_points=None if progress is None else ((progress - elapsed) * 100).quantize(_POINTS),
        gap=gap,
        pace_gap=None if f.due is None else f.actual - int(f.due.to_integral_value(rounding=ROUND_HALF_EVEN)),
        forecast=f.forecast,
        forecast_ratio=None if f.forecast is None or not f.target else rate(f.forecast, f.target),
        needed_per_day=needed,
    )
