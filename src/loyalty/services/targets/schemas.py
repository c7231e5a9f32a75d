"""What the targets' use cases hand back: plans, a month's follow-up, the league table and the alerts.

Money is in minor units of the plan's `currency` (`sales`, `member_sales`: net sales, refunds taken
off on the day of the return); `new_members` counts sign-ups. Rates are Decimals (0.4375 is 43.75 %),
None where there is nothing to divide by (no target).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict

Metric = Literal["sales", "member_sales", "new_members"]
METRICS: tuple[Metric, ...] = ("sales", "member_sales", "new_members")
#: the metrics counted in money (the others count members)
MONEY_METRICS = frozenset({"sales", "member_sales"})
#: how a chain target may be broken down (`auto`: last year's month, else the trailing 12 months,
#: else an equal split; see `plans.break_down`)
BREAKDOWN_METHODS = ("auto", "last_year", "trailing_12", "equal")
#: whether a store's month is over, under way or still to come, in the store's time zone
MonthState = Literal["past", "current", "future"]
#: how the month-end figure was forecast: `final` (the month is over), `weekday` (the mean of each
#: weekday over the store's recent weeks), `linear` (the pace so far; too little history for the
#: weekdays), `none` (nothing to go by)
ForecastMethod = Literal["final", "weekday", "linear", "none"]
AlertKind = Literal["behind", "forecast"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StoreRef(_Model):
    id: int
    code: str
    name: str
    timezone: str
    region: str | None


class StoreTarget(_Model):
    """One store's target in a plan."""

    store: StoreRef
    target: int
    #: the store's figure in the basis period its share came from (None: equal split, by hand)
    basis: int | None
    #: its share of the chain's target (basis over the stores' basis; None when typed by hand)
    share: Decimal | None
    by_hand: bool


class Plan(_Model):
    """One version of a month's targets for one metric. Never changed: a new version replaces it."""

    id: int
    month: str
    metric: Metric
    method: Literal["last_year", "trailing_12", "equal", "manual"]
    #: why the method was chosen where a fallback was taken (a stable code, see docs/targets.md)
    reason: str | None
    chain_target: int
    currency: str | None
    step: int
    basis_start: date | None
    basis_end: date | None
    note: str | None
    created_at: datetime
    created_by: str
    creator_name: str | None
    superseded_at: datetime | None
    replaced_by: int | None
    stores: list[StoreTarget]


class AlertRules(_Model):
    """When a store is flagged as behind: its progress trails the time elapsed by more than
    `behind_points` percentage points, or its forecast falls below `forecast_pct` % of its target."""

    behind_points: int
    forecast_pct: int
    #: when and by whom the chain last changed them (None: the defaults)
    updated_at: datetime | None = None
    updated_by: str | None = None


class Standing(_Model):
    """A store's (region's, chain's) month for one metric, against its target and against time."""

    metric: Metric
    target: int | None
    actual: int
    #: actual against target
    progress: Decimal | None
    #: the share of the month gone (for a region or the chain: the stores' mean, weighted by target)
    elapsed: Decimal
    #: progress less time elapsed, in percentage points (positive: ahead of time)
    ahead_points: Decimal | None
    #: target less actual: what is still to do (negative once beaten)
    gap: int | None
    #: actual less the target's share for the time elapsed (negative: behind the time line)
    pace_gap: int | None
    forecast: int | None
    #: forecast against target
    forecast_ratio: Decimal | None
    #: what each remaining day must bring to reach the target (None: nothing left, or no target)
    needed_per_day: int | None


class Alert(_Model):
    """A store behind its target: which rule it broke and the figures that show it."""

    store: StoreRef
    metric: Metric
    kind: AlertKind
    target: int
    actual: int
    progress: Decimal
    elapsed: Decimal
    forecast: int | None
    forecast_ratio: Decimal | None
    #: the rule's line: points behind time, or the forecast's percentage of the target
    threshold: int


class StoreProgress(_Model):
    """One store's month: how far through it is (its zone), and each metric's standing."""

    store: StoreRef
    state: MonthState
    days: int
    elapsed: Decimal
    #: the store's business day the figures run to (its today, or the month's last day)
    through: date | None
    forecast_method: ForecastMethod
    standings: list[Standing]


class GroupProgress(_Model):
    """A region's (or the chain's) month: its stores' figures added up."""

    region: str | None
    stores: int
    standings: list[Standing]


class Progress(_Model):
    """A month's targets followed: each store, each region and (chain-wide callers) the chain, with
    the alerts raised under the chain's rules."""

    month: str
    as_of: datetime
    currency: str
    #: the metrics with a plan this month, and their plans (current versions)
    plans: list[Plan]
    rules: AlertRules
    #: the weeks the weekday forecast reads before each store's today
    forecast_weeks: int
    stores: list[StoreProgress]
    regions: list[GroupProgress]
    chain: GroupProgress | None
    alerts: list[Alert]


class LeagueRow(_Model):
    """A store's place in the league: ranked by points ahead of (or behind) the time elapsed."""

    rank: int | None
    store: StoreRef
    state: MonthState
    standing: Standing
    behind: bool


class League(_Model):
    month: str
    metric: Metric
    as_of: datetime
    currency: str | None
    #: stores with a target, ranked (a store manager sees their stores' rows, with their ranks)
    ranked: int
    rows: list[LeagueRow]
