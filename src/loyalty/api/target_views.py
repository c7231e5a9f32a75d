"""The store targets API's wire models: a month's plan for a metric, its follow-up (stores, regions,
the chain), the league table, the alerts and their rules.

Figures are in the metric's unit, as the KPIs put them on the wire: money (`sales`, `member_sales`)
as `{"amount": "3000.00", "currency": "CNY"}`, new members as whole numbers. Rates are decimal strings
(0.4375 is 43.75 %), points ahead of time a decimal string of percentage points ("-16.67"); null
where there is nothing to divide by (no target). Inputs take the same units: amounts as decimal
strings in the currency's units, members as whole numbers written the same way ("120").
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from loyalty.api.schemas import DbId, Money, PositiveDecimalString, aware, money
from loyalty.domain.errors import InvalidInput
from loyalty.services import targets
from loyalty.services.targets.inputs import CODE
from loyalty.services.targets.plans import MAX_NOTE
from loyalty.services.targets.schemas import MONEY_METRICS

Metric = Literal["sales", "member_sales", "new_members"]
#: a figure of a metric: money for sales and member sales, a count for new members
Figure = Money | int
StoreCode = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]
Amount = Annotated[
    PositiveDecimalString,
    Field(
        description="In the metric's unit: money in the currency's units (\"300000.00\"), "
        'members as a whole number ("120").'
    ),
]
#: the most stores whose targets one request types by hand
MAX_TARGETS = 1000


def figure(metric: str, value: int, currency: str | None) -> Figure:
    """A metric's figure on the wire: money with its currency, or a count."""
    if metric in MONEY_METRICS and currency is not None:
        return money(value, currency)
    return value


def _optional(metric: str, value: int | None, currency: str | None) -> Figure | None:
    return None if value is None else figure(metric, value, currency)


def units(metric: str, text: str, currency: str, field: str) -> int:
    """An amount typed in the metric's unit as the service counts it: minor units of `currency` for
    money, members for `new_members` (a fraction of a member is refused naming `field`)."""
    from loyalty.api.schemas import minor_of

    if metric in MONEY_METRICS:
        return minor_of(text, currency, field)
    value = Decimal(text)
    if value != value.to_integral_value():
        raise InvalidInput.field(field, "members are counted in whole numbers, not {value}", CODE,
                                 {"value": text})  # fmt: skip
    return int(value)


# --- what comes in ----------------------------------------------------------------------------------


class PlanIn(BaseModel):
    """A month's plan for the metric: the chain's target, broken down to its stores by `method`;
    stores typed by hand (`targets`, by store code) are taken off first and the rest shared."""

    model_config = ConfigDict(extra="forbid")

    chain_target: Amount
    method: Literal["auto", "last_year", "trailing_12", "equal"] = Field(
        default="auto",
        description="How to share the target: by each store's share of the same month last year, of "
        "the trailing 12 months, equally, or `auto` (last year, else the trailing 12 months, else equally).",
    )
    step: Amount | None = Field(
        default=None,
        description='Each store\'s target a multiple of this (e.g. "100.00"); default: the smallest unit.',
    )
    targets: dict[StoreCode, Amount] = Field(
        default_factory=dict,
        max_length=MAX_TARGETS,
        description='Store code → target typed by hand, e.g. {"SH01": "50000.00"}.',
    )
    note: str | None = Field(default=None, max_length=MAX_NOTE)
    replaces: DbId | None = Field(
        default=None,
        description="The id of the plan the caller saw as current: 409 TARGET_PLAN_CHANGED when "
        "another is current now.",
    )


class TargetsIn(BaseModel):
    """Some stores' targets typed by hand: a new plan with the others' as they were, the chain's
    target their sum."""

    model_config = ConfigDict(extra="forbid")

    targets: dict[StoreCode, Amount] = Field(
        min_length=1,
        max_length=MAX_TARGETS,
        description='Store code → target, e.g. {"SH01": "52000.00"}.',
    )
    note: str | None = Field(default=None, max_length=MAX_NOTE)
    replaces: DbId | None = Field(
        default=None, description="The id of the plan the caller saw as current (see PlanIn)."
    )


class AlertRulesIn(BaseModel):
    """The thresholds to change (the others stay)."""

    model_config = ConfigDict(extra="forbid")

    behind_points: int | None = Field(
        default=None, ge=0, le=100, description="Alert when progress trails time by more points than this."
    )
    forecast_pct: int | None = Field(
        default=None, ge=0, le=200, description="Alert when the forecast falls below this % of the target."
    )


# --- what goes out ----------------------------------------------------------------------------------


class StoreRefOut(BaseModel):
    id: int
    code: str
    name: str
    timezone: str
    region: str | None


class StoreTargetOut(BaseModel):
    store: StoreRefOut
    target: Figure
    basis: Figure | None = Field(
        description="The store's figure over the basis period (null: by hand, equal)."
    )
    share: Decimal | None = Field(description="Its share of the basis (null when typed by hand or equal).")
    by_hand: bool


class PlanOut(BaseModel):
    """One version of a month's targets for a metric (a store manager sees their stores' rows)."""

    id: int
    month: str = Field(examples=["2026-03"])
    metric: Metric
    method: Literal["last_year", "trailing_12", "equal", "manual"]
    reason: str | None = Field(description="Why `auto` fell back: NO_LAST_YEAR, NO_HISTORY.")
    chain_target: Figure
    currency: str | None
    step: Figure
    basis_start: date | None
    basis_end: date | None
    note: str | None
    created_at: datetime
    created_by: str
    creator_name: str | None
    superseded_at: datetime | None
    replaced_by: int | None
    stores: list[StoreTargetOut]


class AlertRulesOut(BaseModel):
    behind_points: int
    forecast_pct: int
    updated_at: datetime | None
    updated_by: str | None


class StandingOut(BaseModel):
    """A metric's month against its target and against the time elapsed."""

    metric: Metric
    target: Figure | None
    actual: Figure
    progress: Decimal | None = Field(description="Actual against target.")
    elapsed: Decimal = Field(description="The share of the month gone.")
    ahead_points: Decimal | None = Field(description="Progress less time elapsed, in percentage points.")
    gap: Figure | None = Field(description="Still to do: target less actual (negative once beaten).")
    pace_gap: Figure | None = Field(description="Actual less the target's share for the time elapsed.")
    forecast: Figure | None = Field(description="Forecast to the month's end.")
    forecast_ratio: Decimal | None
    needed_per_day: Figure | None = Field(description="What each remaining day must bring.")


class StoreProgressOut(BaseModel):
    store: StoreRefOut
    state: Literal["past", "current", "future"]
    days: int
    elapsed: Decimal
    through: date | None = Field(description="The store's business day the figures run to.")
    forecast_method: Literal["final", "weekday", "linear", "none"]
    standings: list[StandingOut]


class GroupProgressOut(BaseModel):
    region: str | None
    stores: int
    standings: list[StandingOut]


class AlertOut(BaseModel):
    """A store behind its target: the rule it broke (`behind` time, or a `forecast` short) and why."""

    store: StoreRefOut
    metric: Metric
    kind: Literal["behind", "forecast"]
    target: Figure
    actual: Figure
    progress: Decimal
    elapsed: Decimal
    forecast: Figure | None
    forecast_ratio: Decimal | None
    threshold: int = Field(description="The rule's line: points behind time, or % of the target.")


class ProgressOut(BaseModel):
    """A month followed: each store, each region and (chain-wide roles) the chain."""

    month: str
    as_of: datetime
    currency: str
    plans: list[PlanOut]
    rules: AlertRulesOut
    forecast_weeks: int
    stores: list[StoreProgressOut]
    regions: list[GroupProgressOut]
    chain: GroupProgressOut | None
    alerts: list[AlertOut]


class LeagueRowOut(BaseModel):
    rank: int | None = Field(description="By points ahead of time, best first; null without a target.")
    store: StoreRefOut
    state: Literal["past", "current", "future"]
    standing: StandingOut
    behind: bool = Field(description="Whether the store raised an alert.")


class LeagueOut(BaseModel):
    month: str
    metric: Metric
    as_of: datetime
    currency: str | None
    ranked: int
    rows: list[LeagueRowOut]


# --- the service's models on the wire --------------------------------------------------------------


def store_ref(
    s: targets.StoreTarget | targets.StoreProgress | targets.Alert | targets.LeagueRow,
) -> StoreRefOut:
    return StoreRefOut(**s.store.model_dump())


def plan_view(plan: targets.Plan, store_ids: frozenset[int] | None = None) -> PlanOut:
    """`plan` on the wire, with only the rows of `store_ids` (None: every store's)."""
    m, cur = plan.metric, plan.currency
    return PlanOut(
        id=plan.id,
        month=plan.month,
        metric=m,
        method=plan.method,
        reason=plan.reason,
        chain_target=figure(m, plan.chain_target, cur),
        currency=cur,
        step=figure(m, plan.step, cur),
        basis_start=plan.basis_start,
        basis_end=plan.basis_end,
        note=plan.note,
        created_at=aware(plan.created_at),
        created_by=plan.created_by,
        creator_name=plan.creator_name,
        superseded_at=aware(plan.superseded_at) if plan.superseded_at else None,
        replaced_by=plan.replaced_by,
        stores=[
            StoreTargetOut(
                store=store_ref(t),
                target=figure(m, t.target, cur),
                basis=_optional(m, t.basis, cur),
                share=t.share,
                by_hand=t.by_hand,
            )
            for t in plan.stores
            if store_ids is None or t.store.id in store_ids
        ],
    )


def rules_view(rules: targets.AlertRules) -> AlertRulesOut:
    return AlertRulesOut(
        behind_points=rules.behind_points,
        forecast_pct=rules.forecast_pct,
        updated_at=aware(rules.updated_at) if rules.updated_at else None,
        updated_by=rules.updated_by,
    )


def standing_view(s: targets.Standing, currency: str | None) -> StandingOut:
    m = s.metric
    return StandingOut(
        metric=m,
        target=_optional(m, s.target, currency),
        actual=figure(m, s.actual, currency),
        progress=s.progress,
        elapsed=s.elapsed,
        ahead_points=s.ahead_points,
        gap=_optional(m, s.gap, currency),
        pace_gap=_optional(m, s.pace_gap, currency),
        forecast=_optional(m, s.forecast, currency),
        forecast_ratio=s.forecast_ratio,
        needed_per_day=_optional(m, s.needed_per_day, currency),
    )


def alert_view(a: targets.Alert, currency: str | None) -> AlertOut:
    m = a.metric
    return AlertOut(
        store=store_ref(a),
        metric=m,
        kind=a.kind,
        target=figure(m, a.target, currency),
        actual=figure(m, a.actual, currency),
        progress=a.progress,
        elapsed=a.elapsed,
        forecast=_optional(m, a.forecast, currency),
        forecast_ratio=a.forecast_ratio,
        threshold=a.threshold,
    )


def progress_view(p: targets.Progress) -> ProgressOut:
    cur = p.currency
    ids = frozenset(s.store.id for s in p.stores)
    return ProgressOut(
        month=p.month,
        as_of=aware(p.as_of),
        currency=cur,
        plans=[plan_view(plan, ids) for plan in p.plans],
        rules=rules_view(p.rules),
        forecast_weeks=p.forecast_weeks,
        stores=[
            StoreProgressOut(
                store=store_ref(s),
                state=s.state,
                days=s.days,
                elapsed=s.elapsed,
                through=s.through,
                forecast_method=s.forecast_method,
                standings=[standing_view(x, cur) for x in s.standings],
            )
            for s in p.stores
        ],
        regions=[
            GroupProgressOut(
                region=g.region, stores=g.stores, standings=[standing_view(x, cur) for x in g.standings]
            )
            for g in p.regions
        ],
        chain=(
            GroupProgressOut(
                region=None,
                stores=p.chain.stores,
                standings=[standing_view(x, cur) for x in p.chain.standings],
            )
            if p.chain is not None
            else None
        ),
        alerts=[alert_view(a, cur) for a in p.alerts],
    )


def league_view(league: targets.League) -> LeagueOut:
    cur = league.currency
    return LeagueOut(
        month=league.month,
        metric=league.metric,
        as_of=aware(league.as_of),
        currency=cur,
        ranked=league.ranked,
        rows=[
            LeagueRowOut(
                rank=r.rank,
                store=store_ref(r),
                state=r.state,
                standing=standing_view(r.standing, cur),
                behind=r.behind,
            )
            for r in league.rows
        ],
    )
