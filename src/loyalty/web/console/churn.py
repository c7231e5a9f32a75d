"""The churn page (`/console/analytics/churn`) and a member's churn risk on the member 360° page.

What the last run found, from `services.churn`: how well the churn model ranks the members on an
out-of-time validation beside 1 − P(alive) and the days since the last purchase (the AUCs, and the ROC
curves as a chart with its table), the features it leans on, the next purchase date's error beside the
member's own rhythm, then the members at risk to call back, most value at risk first, their phones
masked as every member list masks them. A refresh runs as a job (the churn-model job, optionally with
another horizon) whose progress the page follows, as the analytics page does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from loyalty.api.security import mask_phone
from loyalty.api.views import sees_pii
from loyalty.i18n import formats, translator
from loyalty.services import churn as churn_service
from loyalty.services import jobs as jobs_service
from loyalty.web.console.analytics_view import BLUE, ORANGE, Chart
from loyalty.web.console.jobs import start_choosing, with_job
from loyalty.web.pages import ConsoleRoute, Page, StaffForm, StaffPage

_ = translator("web")

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

PATH = "/console/analytics/churn"
#: the horizons a user may choose (days without a purchase that count as churn)
HORIZONS = (30, 60, 90, 120, 180)
#: members at risk listed
LISTED = 20
#: features listed with their importance (the API gives them all)
TOP_FEATURES = 10
#: the ROC chart's lines: the model, 1 − P(alive), recency, and the coin's diagonal
GREEN = "#2e7d32"
GREY = "#6b7785"


@dataclass
class AtRiskRow:
    member_id: int
    name: str
    phone: str
    churn: str
    p_alive: str
    next_purchase: str
    recency: str
    yearly: str
    value: str


@dataclass
class ChurnView:
    run: churn_service.StoredRun | None
    problem: str = ""
    aucs: list[tuple[str, str]] = field(default_factory=list)
    verdict: str = ""
    chart: Chart | None = None
    importances: list[tuple[str, str]] = field(default_factory=list)
    next_purchase: str = ""
    at_risk_total: int = 0
    at_risk: list[AtRiskRow] = field(default_factory=list)


def _auc(value: float | None, locale: str) -> str:
    return "–" if value is None else formats.number(round(value, 3), locale, 3)


def _roc_chart(run: churn_service.StoredRun, locale: str) -> Chart:
    from loyalty.analytics.churn import SCORES, words

    title = _("ROC curves on the validation members: higher is better")
    fpr_label = _("Share of stayers flagged (false-positive rate)")
    tpr_label = _("Share of churners found (true-positive rate)")
    colours = {"model": BLUE, "p_alive": ORANGE, "recency": GREEN}
    present = [s for s in SCORES if run.roc and run.roc[0].get(s) is not None]
    labels = [formats.percent(p["fpr"], locale, 0) for p in run.roc]
    series = [
        {
            "label": words.score_name(s, locale),
            "data": [p.get(s) for p in run.roc],
            "color": colours[s],
        }
        for s in present
    ]
    chance = _("Chance (a coin)")
    series.append({"label": chance, "data": [p["fpr"] for p in run.roc], "color": GREY})
    spec: dict[str, Any] = {
        "kind": "line",
        "title": title,
        "labels": labels,
        "series": series,
        "x": fpr_label,
        "y": tpr_label,
    }
    headers = [fpr_label, *[words.score_name(s, locale) for s in present]]
    rows = [
        [label, *[formats.percent(p.get(s) or 0.0, locale) for s in present]]
        for label, p in zip(labels, run.roc, strict=True)
    ]
    return Chart("roc", title, spec, headers, rows)


def churn_view(
    run: churn_service.StoredRun | None, risky: churn_service.AtRisk | None, page: Page
) -> ChurnView:
    """The page's view of the last run and its members at risk, in the page's language."""
    from loyalty.analytics.churn import SCORES, words

    locale = page.locale
    view = ChurnView(run)
    if run is None:
        return view
    view.problem = run.problem_text(locale)
    if run.validated:
        view.aucs = [(words.score_name(s, locale), _auc(run.aucs.get(s), locale)) for s in SCORES]
        model, alive = run.aucs.get("model"), run.aucs.get("p_alive")
        if model is not None and alive is not None:
            view.verdict = (
                _(
                    "The churn model ranks the members better than P(alive): AUC {model} against {alive}.",
                    model=_auc(model, locale),
                    alive=_auc(alive, locale),
                )
                if model > alive
                else _(
                    "P(alive) ranks the members as well as the churn model or better: AUC {alive} against "
                    "{model}.",
                    model=_auc(model, locale),
                    alive=_auc(alive, locale),
                )
            )
        if run.roc:
            view.chart = _roc_chart(run, locale)
        view.importances = [
            (words.feature_name(i.feature, locale), formats.number(round(i.importance, 4), locale, 4))
            for i in run.importances[:TOP_FEATURES]
        ]
        check = run.next_purchase
        if check is not None and check.model_error_days is not None and check.rhythm_error_days is not None:
            view.next_purchase = _(
                "On those members the next purchase date was off by {model} days on average, the member's "
                "own rhythm (last purchase + their mean gap) by {rhythm} days.",
                model=formats.number(round(check.model_error_days, 1), locale, 1),
                rhythm=formats.number(round(check.rhythm_error_days, 1), locale, 1),
            )
    if risky is not None:
        view.at_risk_total = risky.total
        for m in risky.members:
            s = m.scores
            view.at_risk.append(
                AtRiskRow(
                    member_id=s.member_id,
                    name=m.name,
                    phone=(m.phone if sees_pii(page.staff, m.registration_store_id) else mask_phone(m.phone))
                    or "–",
                    churn=formats.percent(s.churn_probability, locale),
                    p_alive="–" if s.p_alive is None else formats.percent(s.p_alive, locale),
                    next_purchase="–"
                    if s.next_purchase_on is None
                    else formats.day(s.next_purchase_on, locale),
                    recency=formats.number(s.recency_days, locale),
                    yearly=formats.money(s.yearly_spend_minor, run.currency, locale),
                    value=formats.money(s.value_at_risk_minor, run.currency, locale),
                )
            )
    return view


@router.get("/analytics/churn")
def churn_page(page: StaffPage) -> Response:
    """The last churn run: AUC beside P(alive)'s, the ROC curves, the members at risk, the refresh."""
    page.require("analytics:read")
    run = churn_service.last_run(page.ctx)
    risky = churn_service.at_risk(page.ctx, limit=LISTED) if run is not None else None
    values = {"view": churn_view(run, risky, page), "run": run, "horizons": HORIZONS}
    return with_job(page, "console/churn.html", jobs_service.CHURN_MODEL, values)


@router.post("/analytics/churn/refresh")
def refresh(page: StaffPage, form: StaffForm) -> Response:
    """Train, check and score again (a job), with the chosen horizon; the page follows it."""
    return start_choosing(
        page,
        form,
        jobs_service.CHURN_MODEL,
        PATH,
        field="horizon",
        choices=HORIZONS,
        param="horizon_days",
        refused=_("Choose a horizon of 30, 60, 90, 120 or 180 days."),
    )


def member_churn_shown(page: Page, member_id: int) -> dict[str, Any] | None:
    """The member's churn risk and next purchase date for the 360° page (readers of the analytics
    only; None: not scored)."""
    if not page.can("analytics:read"):
        return None
    found = churn_service.member_churn_scores(page.ctx, member_id)
    s, run = found.scores, found.run
    if s is None or run is None:
        return None
    locale = page.locale
    return {
        "churn": formats.percent(s.churn_probability, locale),
        "horizon": run.horizon_days,
        "high": s.churn_probability >= churn_service.AT_RISK,
        "next_purchase": None if s.next_purchase_on is None else formats.day(s.next_purchase_on, locale),
    }
