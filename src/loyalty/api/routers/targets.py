"""Store targets: a month's plan per metric (the chain's target broken down to its stores, or stores'
targets typed by hand), its history, the month followed day by day against the time elapsed in each
store's zone, the league table, the behind-target alerts and their thresholds (`services.targets`).

Reading is `kpis:read`, as the KPIs the targets are counted from: store managers see their own stores
only (their rows of a plan, their stores' progress without the chain's totals, their places in the
league with their ranks among all). Setting and changing targets and the alert thresholds is
`targets:write` (the chain's: admins), audited in the write's transaction. Stores are named by code;
a bad month, metric, amount or store is a 4xx naming its field (`path.month`, `targets.SH01`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from loyalty.api.deps import CtxDep, requires
from loyalty.api.security import Principal
from loyalty.api.target_views import (
    AlertOut,
    AlertRulesIn,
    AlertRulesOut,
    LeagueOut,
    Metric,
    PlanIn,
    PlanOut,
    ProgressOut,
    StoreCode,
    TargetsIn,
    alert_view,
    league_view,
    plan_view,
    progress_view,
    rules_view,
    units,
)
from loyalty.domain.errors import InvalidInput, NotFound, field_error
from loyalty.services import merchants, targets

router = APIRouter(tags=["targets"])

Reader = Annotated[Principal, Depends(requires("kpis:read"))]
Writer = Annotated[Principal, Depends(requires("targets:write"))]

MonthPath = Annotated[
    str,
    Path(
        pattern=r"^[0-9]{4}-[0-9]{2}$",
        description="The calendar month, e.g. 2026-03 (each store counts it in its zone).",
    ),
]
MetricPath = Annotated[Metric, Path(description="sales, member_sales (net, in money) or new_members.")]
RegionQuery = Annotated[
    str | None,
    Query(min_length=1, max_length=64, description="Only this region's stores (e.g. 华东)."),
]
StoreQuery = Annotated[StoreCode | None, Query(description="Only this store (its code).")]
MetricsQuery = Annotated[
    list[Metric] | None,
    Query(description="The metrics to follow (repeatable); default: those with a plan, else all."),
]


def _renamed(exc: InvalidInput, rename: Callable[[str], str]) -> InvalidInput:
    """A service's InvalidInput with its fields named as this API names them (`path.month`)."""
    details = dict(exc.details or {})
    details["errors"] = [{**e, "field": rename(str(e.get("field", "")))} for e in details.get("errors") or []]
    return InvalidInput(exc.code, exc.template, details)


def _where(query: set[str], codes: Mapping[int, str] | None = None) -> Callable[[str], str]:
    """The API's name of a service's field: the month and metric of the path, the `query` parameters,
    a store's target by its code (`targets.SH01`); a body field as it is."""

    def rename(field: str) -> str:
        if field == "month" or (field == "metric" and "metric" not in query):
            return f"path.{field}"
        if field in query:
            return f"query.{field}"
        head, _, sid = field.partition(".")
        if head == "targets" and codes is not None and sid.isdigit() and int(sid) in codes:
            return f"targets.{codes[int(sid)]}"
        return field

    return rename


def _call(call: Callable[[], Any], rename: Callable[[str], str]) -> Any:
    """`call()`, a service's bad field named as the API names it, an unknown region as `query.region`."""
    try:
        return call()
    except InvalidInput as exc:
        raise _renamed(exc, rename) from exc
    except NotFound as exc:
        if exc.code != "REGION_NOT_FOUND":
            raise
        details = dict(exc.details or {})
        details["errors"] = [field_error("query.region", exc.template, exc.details)]
        raise NotFound(exc.code, exc.template, details) from exc


def _scope(ctx: Any, caller: Principal, store: str | None) -> frozenset[int] | None:
    """The stores the caller reads: theirs (None: every store), or the one `store` names among them."""
    if store is None:
        return caller.store_ids
    found = next((s for s in merchants.list_stores(ctx) if s.code == store), None)
    if found is None:
        values = {"code": store}
        template = "no store has the code {code}"
        raise NotFound(
            "STORE_NOT_FOUND", template, {**values, "errors": [field_error("query.store", template, values)]}
        )
    caller.require_store(found.id)
    return frozenset({found.id})


def _typed(ctx: Any, metric: str, typed: Mapping[str, str]) -> tuple[dict[int, int], dict[int, str]]:
    """Targets typed by store code as {store id: units}, and the codes by id (for the errors)."""
    by_code = {s.code: s.id for s in merchants.list_stores(ctx)}
    currency = ctx.settings.currency
    out: dict[int, int] = {}
    for code, amount in typed.items():
        if code not in by_code:
            raise InvalidInput.field(
                f"targets.{code}", "no store has the code {code}", "TARGET_INVALID", {"code": code}
            )
        out[by_code[code]] = units(metric, amount, currency, f"targets.{code}")
    return out, {by_code[code]: code for code in typed}


# --- plans ------------------------------------------------------------------------------------------


@router.put("/targets/{month}/plans/{metric}", response_model=PlanOut)
def set_plan(month: MonthPath, metric: MetricPath, body: PlanIn, caller: Writer, ctx: CtxDep) -> PlanOut:
    """Set the month's plan for the metric: the chain's target shared among the stores by `method`
    (stores in `targets` typed by hand first); the plan it replaces is kept as history. Audited."""
    currency = ctx.settings.currency
    chain_target = units(metric, body.chain_target, currency, "chain_target")
    step = units(metric, body.step, currency, "step") if body.step is not None else 1
    typed, codes = _typed(ctx, metric, body.targets)
    plan = _call(
        lambda: targets.set_plan(
            ctx,
            month,
            metric,
            chain_target,
            caller.to_actor(),
            method=body.method,
            step=step,
            targets=typed,
            note=body.note,
            replaces=body.replaces,
        ),
        _where(set(), codes),
    )
    return plan_view(plan)


@router.patch("/targets/{month}/plans/{metric}", response_model=PlanOut)
def edit_targets(
    month: MonthPath, metric: MetricPath, body: TargetsIn, caller: Writer, ctx: CtxDep
) -> PlanOut:
    """Set some stores' targets by hand: a new plan with the others' as they were and the chain's target
    their sum (without a plan yet, the stores given are the plan). Audited."""
    typed, codes = _typed(ctx, metric, body.targets)
    plan = _call(
        lambda: targets.edit_targets(
            ctx, month, metric, typed, caller.to_actor(), note=body.note, replaces=body.replaces
        ),
        _where(set(), codes),
    )
    return plan_view(plan)


@router.get("/targets/{month}/plans/{metric}", response_model=PlanOut)
def current_plan(month: MonthPath, metric: MetricPath, caller: Reader, ctx: CtxDep) -> PlanOut:
    """The plan in force (404 TARGET_PLAN_NOT_FOUND when none was set); store managers: their rows."""
    plan = _call(lambda: targets.current_plan(ctx, month, metric), _where(set()))
    return plan_view(plan, caller.store_ids)


@router.get("/targets/{month}/plans/{metric}/history", response_model=list[PlanOut])
def plan_history(month: MonthPath, metric: MetricPath, caller: Reader, ctx: CtxDep) -> list[PlanOut]:
    """Every version of the plan, the current one first, with who set it and when."""
    plans = _call(lambda: targets.plan_history(ctx, month, metric), _where(set()))
    return [plan_view(p, caller.store_ids) for p in plans]


# --- the month followed -----------------------------------------------------------------------------


def _progress(
    ctx: Any,
    caller: Principal,
    month: str,
    metric: list[Metric] | None,
    region: str | None,
    store: str | None,
) -> targets.Progress:
    """The month's progress for the stores the caller may see (of `store` or `region` when asked)."""
    ids = _scope(ctx, caller, store)
    found: targets.Progress = _call(
        lambda: targets.month_progress(ctx, month, store_ids=ids, region=region, metrics=metric),
        _where({"metric", "region"}),
    )
    return found


@router.get("/targets/{month}/progress", response_model=ProgressOut)
def month_progress(
    month: MonthPath,
    caller: Reader,
    ctx: CtxDep,
    metric: MetricsQuery = None,
    region: RegionQuery = None,
    store: StoreQuery = None,
) -> ProgressOut:
    """Each store's month against its target and its time elapsed, with a forecast to the month's end;
    each region's and (chain-wide roles, no store or region asked) the chain's; the alerts raised."""
    found = _progress(ctx, caller, month, metric, region, store)
    return progress_view(found)


@router.get("/targets/{month}/league", response_model=LeagueOut)
def league(
    month: MonthPath,
    caller: Reader,
    ctx: CtxDep,
    metric: Annotated[Metric, Query(description="The metric the stores are ranked on.")] = "sales",
    region: RegionQuery = None,
) -> LeagueOut:
    """The stores (of `region`) ranked by points ahead of the time elapsed, best first; stores without
    a target follow unranked. Store managers see their stores' rows, ranked among all."""
    found = _call(
        lambda: targets.league(ctx, month, metric, store_ids=caller.store_ids, region=region),
        _where({"metric", "region"}),
    )
    return league_view(found)


@router.get("/targets/{month}/alerts", response_model=list[AlertOut])
def alerts(
    month: MonthPath,
    caller: Reader,
    ctx: CtxDep,
    metric: MetricsQuery = None,
    region: RegionQuery = None,
    store: StoreQuery = None,
) -> list[AlertOut]:
    """The stores behind their targets so far, under the chain's alert rules."""
    found = _progress(ctx, caller, month, metric, region, store)
    return [alert_view(a, found.currency) for a in found.alerts]


# --- the alert rules --------------------------------------------------------------------------------


@router.get("/targets/alert-rules", response_model=AlertRulesOut)
def alert_rules(caller: Reader, ctx: CtxDep) -> AlertRulesOut:
    """When a store is flagged as behind: progress trailing time by more than `behind_points` points,
    or a forecast below `forecast_pct` % of its target."""
    return rules_view(targets.alert_rules(ctx))


@router.put("/targets/alert-rules", response_model=AlertRulesOut)
def set_alert_rules(body: AlertRulesIn, caller: Writer, ctx: CtxDep) -> AlertRulesOut:
    """Change the thresholds given (the others stay); audited."""
    return rules_view(
        targets.set_alert_rules(
            ctx, caller.to_actor(), behind_points=body.behind_points, forecast_pct=body.forecast_pct
        )
    )
