"""The recommender's page (`/console/analytics/recommendations`) and a member's recommendations on the
member 360° page.

The page shows what the last refresh learnt from and how well it predicts: on a time-split holdout
(the last four weeks), precision@10, recall@10, MAP@10 and coverage of the blend the members are
shown beside ALS alone, item neighbours and popularity, as a chart with its table, and the blend's
shape the holdout chose. A refresh runs as a job (the recommendations job) whose progress the page
follows, as the analytics page does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from loyalty.i18n import formats, translator
from loyalty.services import jobs as jobs_service
from loyalty.services import recommendations as service
from loyalty.web.console.analytics_view import BLUE, ORANGE, Chart
from loyalty.web.console.jobs import start_job, with_job
from loyalty.web.pages import ConsoleRoute, Page, StaffForm, StaffPage

_ = translator("web")

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

PATH = "/console/analytics/recommendations"
#: items shown on the member page
MEMBER_ITEMS = 8


@dataclass
class RecommenderView:
    run: service.StoredRun | None
    chart: Chart | None = None
    headers: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    shape: str = ""
    settings: list[tuple[str, str]] = field(default_factory=list)


def _figures(run: service.StoredRun, locale: str) -> tuple[Chart, list[str], list[list[str]]]:
    from loyalty.analytics.recommend import model_name

    ev = run.evaluation
    assert ev is not None
    k = ev.k
    names = [model_name(m.name, locale) for m in ev.models]
    title = _("Precision and recall at {k} of each model on the holdout", k=k)
    spec: dict[str, Any] = {
        "kind": "bar",
        "title": title,
        "labels": names,
        "series": [
            {
                "label": f"P@{k}",
                "data": [round(m.scores.precision, 4) for m in ev.models],
                "color": BLUE,
            },
            {"label": f"R@{k}", "data": [round(m.scores.recall, 4) for m in ev.models], "color": ORANGE},
        ],
        "x": _("Model"),
        "y": _("Share"),
    }

    def num(v: float) -> str:
        return formats.number(round(v, 4), locale, 4)

    headers = [_("Model"), f"P@{k}", f"R@{k}", f"MAP@{k}", _("Coverage"), _("Training (s)")]
    rows = [
        [
            name,
            num(m.scores.precision),
            num(m.scores.recall),
            num(m.scores.map),
            formats.percent(m.scores.coverage, locale),
            formats.number(round(m.seconds, 2), locale, 2),
        ]
        for name, m in zip(names, ev.models, strict=True)
    ]
    chart = Chart("holdout", title, spec, headers[:3], [r[:3] for r in rows])
    return chart, headers, rows


def recommender_view(run: service.StoredRun | None, locale: str) -> RecommenderView:
    """The page's view of the last refresh, in `locale`."""
    view = RecommenderView(run)
    if run is None:
        return view
    s = run.settings
    alpha, cf, half, share = (format(v, "g") for v in (s.alpha, s.cf_weight, s.history_half, s.content_share))
    view.settings = [
        (_("Factors (ALS)"), str(s.factors)),
        (_("Regularisation"), format(s.regularization, "g")),
        (_("Iterations"), str(s.iterations)),
        (_("Confidence"), _("1 + {alpha} × log(1 + purchases)", alpha=alpha)),
        (_("Popular over the last"), _("{days} days", days=s.popular_days)),
        (_("Not recommended again within"), _("{days} days", days=s.exclude_days)),
        (_("Seed"), str(s.seed)),
    ]
    view.shape = _(
        "Collaborative filtering gets {cf} × h / (h + {half}) of the weight, h being the distinct items "
        "a member bought; content {share} of the rest, popularity what remains.",
        cf=cf,
        half=half,
        share=share,
    )
    if run.evaluation is not None:
        view.chart, view.headers, view.rows = _figures(run, locale)
    return view


@router.get("/analytics/recommendations")
def recommendations_page(page: StaffPage) -> Response:
    """The last refresh's figures on its holdout, and the refresh (running: its progress)."""
    page.require("analytics:read")
    run = service.last_run(page.ctx)
    values = {"view": recommender_view(run, page.locale), "run": run}
    return with_job(page, "console/recommendations.html", jobs_service.RECOMMENDATIONS, values)


@router.post("/analytics/recommendations/refresh")
def refresh(page: StaffPage, form: StaffForm) -> Response:
    """Train the recommender again (a job); the page follows it."""
    return start_job(page, jobs_service.RECOMMENDATIONS, PATH)


def member_recommendations_shown(page: Page, member_id: int) -> dict[str, Any] | None:
    """The member's recommendations for the 360° page (None before the first refresh)."""
    from loyalty.analytics.recommend import reason

    found = service.member_recommendations(page.ctx, member_id, MEMBER_ITEMS)
    if found.source == "none":
        return None
    return {
        "source": found.source,
        "computed_at": found.computed_at,
        "items": [
            {
                "label": i.label,
                "score": formats.number(round(i.score, 2), page.locale, 2),
                "reason": i.reason,
                "why": reason(i.reason, page.locale),
            }
            for i in found.items
        ],
    }
