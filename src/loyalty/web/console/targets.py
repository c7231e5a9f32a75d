"""The target tracking page (`/console/targets`): a month's targets for one metric, each store's target,
actual to date, % achieved against % of its month gone, forecast to the month's end and standing, the
regions' and the chain's, the league table (by points ahead of time) and the stores behind, highlighted.

What to show is chosen with a GET form (month, metric, region; no personal data). Reading is
`kpis:read`, as the dashboard: a store manager sees their own stores (their places in the league with
their ranks among all), chain-wide roles the chain. For admins (`targets:write`), a form sets the
month's plan (the chain's target and how to break it down, ticked to confirm, as it replaces the plan
in force), another changes one store's target, and a third the alert thresholds (when a store counts as
behind); all CSRF-checked, through `services.targets` as the API's `/api/v1/targets`, audited as the
user's, and confirmed by a message once done.
"""

from __future__ import annotations

from typing import Annotated, Any, cast
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from starlette.datastructures import FormData
from starlette.responses import Response

from loyalty.domain.errors import DomainError, InvalidInput, NotFound
from loyalty.i18n import formats, translator
from loyalty.services import targets
from loyalty.services.targets import Metric
from loyalty.web.console import forms, views
from loyalty.web.console.targets_view import BREAKDOWNS, METHOD_NAMES, METRIC_NAMES, targets_view
from loyalty.web.pages import ConsoleRoute, Page, StaffForm, StaffPage

_ = translator("web")

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

PATH = "/console/targets"
#: the fields of the page's forms, whose errors show beside them
FIELDS = {
    "month",
    "metric",
    "region",
    "chain_target",
    "method",
    "step",
    "note",
    "confirm",
    "store",
    "target",
    "behind_points",
    "forecast_pct",
}


def _text(form: FormData, name: str, limit: int = 200) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def _here(month: str, metric: str) -> str:
    return f"{PATH}?{urlencode({'month': month, 'metric': metric})}"


def _render(
    page: Page,
    month: str,
    metric: str,
    region: str | None = None,
    *,
    errors: dict[str, str] | None = None,
    given: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    """The page for `month` and `metric` (of `region`), with `errors` beside the fields they name."""
    errors = dict(errors or {})
    mine = views.my_stores(page)
    chain_wide = page.staff.store_ids is None
    values: dict[str, Any] = {
        "month": month,
        "metric": metric,
        "region": region or "",
        "metrics": METRIC_NAMES,
        "methods": METHOD_NAMES,
        "breakdowns": BREAKDOWNS,
        "regions": sorted({s.region for s in mine if s.region}) if chain_wide else [],
        "stores": mine,
        "chain_wide": chain_wide,
        "editable": page.can("targets:write"),
        "money": metric in {"sales", "member_sales"},
        "currency": page.ctx.settings.currency,
        "zone": page.ctx.settings.timezone,
        "errors": errors,
        "given": given or {},
        "progress": None,
        "plan": None,
        "plan_total": "",
        "view": None,
    }
    if metric not in METRIC_NAMES:
        errors["metric"] = _("Choose net sales, members' net sales or new members.")
    if not errors or set(errors) - {"month", "metric", "region"}:
        try:
            ids = page.staff.store_ids
            chosen = cast("list[Metric]", [metric])  # the service refuses another, naming `metric`
            progress = targets.month_progress(page.ctx, month, store_ids=ids, region=region, metrics=chosen)
            league = targets.league(page.ctx, month, metric, store_ids=ids, region=region)
        except InvalidInput as exc:
            errors.update(forms.field_errors(exc, page.locale, {"month", "metric"}))
        except NotFound as exc:
            if exc.code != "REGION_NOT_FOUND":
                raise
            errors["region"] = exc.localized(page.locale)
        else:
            values["progress"] = progress
            plan = next(iter(progress.plans), None)
            values["plan"] = plan
            if plan is not None:  # the stores shown: a store manager's, a region's, or the chain's
                total = sum(t.target for t in plan.stores)
                values["plan_total"] = _figure(metric, total, plan.currency, page.locale)
            values["view"] = targets_view(progress, league, metric, page.locale)
    if errors and status == 200:
        status = 422
    return page.html("console/targets.html", values, status=status)


@router.get("/targets")
def targets_page(
    page: StaffPage,
    month: Annotated[str | None, Query(max_length=20)] = None,
    metric: Annotated[str, Query(max_length=20)] = "sales",
    region: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """The month's tracking page (this month by default) for the chosen metric."""
    page.require("kpis:read")
    chain_wide = page.staff.store_ids is None
    return _render(
        page, month or targets.this_month(page.ctx), metric, (region or None) if chain_wide else None
    )


def _units(metric: str, text: str, field: str, errors: dict[str, str], currency: str) -> int | None:
    """An amount typed in the metric's unit: money in minor units, members as a whole number."""
    if metric in {"sales", "member_sales"}:
        return forms.amount(text, currency, field, errors)
    if not text:
        errors[field] = _("Enter a whole number.")
        return None
    return forms.whole(text, field, errors, low=0, high=10**15)


def _plan_id(text: str) -> int | None:
    return int(text) if text.isdigit() and len(text) <= 10 else None


@router.post("/targets/plan")
def set_plan(page: StaffPage, form: StaffForm) -> Response:
    """Set the month's plan: the chain's target broken down to the stores (ticked to confirm, as it
    replaces the plan in force; audited)."""
    page.require("targets:write")
    names = ("month", "metric", "chain_target", "method", "step", "note", "confirm", "replaces")
    given = {name: _text(form, name, 600 if name == "note" else 40) for name in names}
    month, metric = given["month"] or targets.this_month(page.ctx), given["metric"] or "sales"
    errors: dict[str, str] = {}
    currency = page.ctx.settings.currency
    total = _units(metric, given["chain_target"], "chain_target", errors, currency)
    step = _units(metric, given["step"], "step", errors, currency) if given["step"] else 1
    if given["method"] not in BREAKDOWNS:
        errors["method"] = _("Choose how to break the target down.")
    if given["confirm"] != "yes":
        errors["confirm"] = _("Tick the box to replace the month's targets.")
    if errors or total is None or step is None:
        return _render(page, month, metric, errors=errors, given=given, status=422)
    try:
        plan = targets.set_plan(
            page.ctx,
            month,
            metric,
            total,
            page.staff.to_actor(),
            method=given["method"],
            step=step,
            note=given["note"] or None,
            replaces=_plan_id(given["replaces"]),
        )
    except DomainError as exc:
        return _render(
            page, month, metric, errors=forms.field_errors(exc, page.locale, FIELDS), given=given, status=422
        )
    shown = _figure(plan.metric, plan.chain_target, plan.currency, page.locale)
    message = _(
        "Targets for {month} set: {total} shared among {stores} stores ({method}).",
        month=plan.month,
        total=shown,
        stores=len(plan.stores),
        method=_(METHOD_NAMES[plan.method]),
    )
    return page.redirect(_here(plan.month, plan.metric), flash=message)


@router.post("/targets/store")
def set_store_target(page: StaffPage, form: StaffForm) -> Response:
    """Change one store's target for the month (a new plan, the others as they were; audited)."""
    page.require("targets:write")
    given = {name: _text(form, name, 40) for name in ("month", "metric", "store", "target", "replaces")}
    month, metric = given["month"] or targets.this_month(page.ctx), given["metric"] or "sales"
    errors: dict[str, str] = {}
    store = next((s for s in views.my_stores(page) if str(s.id) == given["store"]), None)
    if store is None:
        errors["store"] = _("Choose a store.")
    target = _units(metric, given["target"], "target", errors, page.ctx.settings.currency)
    if errors or store is None or target is None:
        return _render(page, month, metric, errors=errors, given=given, status=422)
    try:
        plan = targets.edit_targets(
            page.ctx,
            month,
            metric,
            {store.id: target},
            page.staff.to_actor(),
            replaces=_plan_id(given["replaces"]),
        )
    except DomainError as exc:
        found = forms.field_errors(exc, page.locale, FIELDS)
        shown = {("target" if k.isdigit() or k == "targets" else k): v for k, v in found.items()}
        return _render(page, month, metric, errors=shown, given=given, status=422)
    message = _(
        "{store}'s target for {month} is now {target}.",
        store=store.name,
        month=plan.month,
        target=_figure(metric, target, plan.currency, page.locale),
    )
    return page.redirect(_here(plan.month, plan.metric), flash=message)


def _figure(metric: str, value: int, currency: str | None, locale: str) -> str:
    if metric in {"sales", "member_sales"} and currency is not None:
        return formats.money(value, currency, locale)
    return formats.number(value, locale)


def _threshold(text: str, field: str, errors: dict[str, str], high: int) -> int | None:
    """A typed threshold as a whole number, or None with the error beside `field` (the range is the
    service's to check, so the page and the API refuse the same values alike)."""
    try:
        return int(text)
    except ValueError:
        errors[field] = _("Type a whole number from 0 to {high}.", high=high)
        return None


@router.post("/targets/alert-rules")
def set_alert_rules(page: StaffPage, form: StaffForm) -> Response:
    """Change when a store counts as behind: its progress trailing the time gone by more than
    `behind_points` points, or its forecast under `forecast_pct` % of its target (audited)."""
    page.require("targets:write")
    given = {name: _text(form, name, 20) for name in ("month", "metric", "behind_points", "forecast_pct")}
    month, metric = given["month"] or targets.this_month(page.ctx), given["metric"] or "sales"
    errors: dict[str, str] = {}
    behind = _threshold(given["behind_points"], "behind_points", errors, 100)
    forecast = _threshold(given["forecast_pct"], "forecast_pct", errors, 200)
    if errors or behind is None or forecast is None:
        return _render(page, month, metric, errors=errors, given=given, status=422)
    try:
        rules = targets.set_alert_rules(
            page.ctx, page.staff.to_actor(), behind_points=behind, forecast_pct=forecast
        )
    except DomainError as exc:
        return _render(
            page, month, metric, errors=forms.field_errors(exc, page.locale, FIELDS), given=given, status=422
        )
    message = _(
        "A store now counts as behind when it trails the time gone by more than {points} points "
        "or its forecast falls below {pct} % of its target.",
        points=rules.behind_points,
        pct=rules.forecast_pct,
    )
    return page.redirect(_here(month, metric), flash=message)
