"""The member clusters page (`/console/analytics/clusters`): the members grouped by behaviour.

What the last run found, from `services.clusters`: why this k (the silhouette of every candidate k,
as a chart with its table), then each cluster as a card (size, share, a few telling figures, its
description for a marketer) and a table of every cluster's mean features beside all members'. A
refresh runs as a job (the member-clusters job, optionally with k forced) whose progress the page
follows, as the analytics page does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from loyalty.i18n import formats, marker, translator
from loyalty.services import clusters as clusters_service
from loyalty.services import jobs as jobs_service
from loyalty.web.console.analytics_view import BLUE, Chart
from loyalty.web.console.jobs import start_choosing, with_job
from loyalty.web.pages import ConsoleRoute, StaffForm, StaffPage

_ = translator("web")
N_ = marker("web")

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

PATH = "/console/analytics/clusters"
#: the k a user may force (the criterion's range)
FORCED_K = tuple(range(2, 9))


@dataclass
class Measure:
    """One row of the comparison table: a raw feature, its label and how it is written."""

    key: str
    label: str
    show: Callable[[float | None], str]


@dataclass
class Card:
    number: int
    description: str
    members: str
    share: str
    facts: list[tuple[str, str]]
    traits: list[tuple[str, bool]]


@dataclass
class ClustersView:
    run: clusters_service.StoredRun | None
    reason: str = ""
    chart: Chart | None = None
    cards: list[Card] = field(default_factory=list)
    headers: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)


def _measures(run: clusters_service.StoredRun, locale: str) -> list[Measure]:
    def num(digits: int) -> Callable[[float | None], str]:
        return lambda v: "–" if v is None else formats.number(round(v, digits), locale, digits)

    def pct(v: float | None) -> str:
        return "–" if v is None else formats.percent(v, locale)

    def cash(v: float | None) -> str:
        return "–" if v is None else formats.money(round(v), run.currency, locale)

    rows = [
        Measure("recency_days", _("Days since the last purchase"), num(0)),
        Measure("visit_days", _("Visit days"), num(1)),
        Measure("ticket_minor", _("Spend per purchase"), cash),
        Measure("spend_minor", _("Spend in all"), cash),
        Measure("online_share", _("Online share (mini-program, delivery included)"), pct),
        Measure("discount_share", _("Share of spend on discounted lines"), pct),
        Measure("gap_mean_days", _("Days between visits"), num(0)),
        Measure("gap_cv", _("Irregularity of visits (0: steady)"), num(2)),
        Measure("tenure_days", _("Days as a member"), num(0)),
    ]
    rows += [Measure(f"cat:{c}", _("Share of {category}", category=c), pct) for c in run.categories]
    return rows


def _chart(run: clusters_service.StoredRun, locale: str) -> Chart:
    title = _("Silhouette of each k: the highest is chosen")
    labels = [f"k={s.k}" for s in run.scores]
    silhouette = _("Silhouette")
    spec: dict[str, Any] = {
        "kind": "bar",
        "title": title,
        "labels": labels,
        "series": [
            {"label": silhouette, "data": [round(s.silhouette, 4) for s in run.scores], "color": BLUE}
        ],
        "x": _("Number of clusters"),
        "y": silhouette,
    }
    chosen = next((i for i, s in enumerate(run.scores) if s.k == run.k), None)
    if chosen is not None:
        spec["marker"] = {"index": chosen, "label": _("chosen")}
    rows = [
        [
            label,
            formats.number(round(s.silhouette, 3), locale, 3),
            formats.number(round(s.inertia, 3), locale, 3),
            _("chosen") if s.k == run.k else "",
        ]
        for label, s in zip(labels, run.scores, strict=True)
    ]
    return Chart("silhouette", title, spec, [_("Number of clusters"), silhouette, _("Inertia"), ""], rows)


def clusters_view(run: clusters_service.StoredRun | None, locale: str) -> ClustersView:
    """The page's view of the last run, in `locale`."""
    from loyalty.analytics.clusters import column_name, describe

    view = ClustersView(run)
    if run is None:
        return view
    view.reason = run.reason(locale)
    view.chart = _chart(run, locale)
    measures = _measures(run, locale)
    facts = [m for m in measures if m.key in ("visit_days", "ticket_minor", "recency_days", "online_share")]
    for p in run.profiles:
        view.cards.append(
            Card(
                number=p.cluster,
                description=describe(p.traits, locale),
                members=formats.number(p.members, locale),
                share=formats.percent(p.share, locale),
                facts=[(m.label, m.show(p.means.get(m.key))) for m in facts],
                traits=[(column_name(t.feature, locale), t.high) for t in p.traits],
            )
        )
    view.headers = [
        _("Measure"),
        *[_("Cluster {number}", number=p.cluster) for p in run.profiles],
        _("All members"),
    ]
    view.rows = [
        [
            _("Members"),
            *[formats.number(p.members, locale) for p in run.profiles],
            formats.number(run.members, locale),
        ],
        *[
            [m.label, *[m.show(p.means.get(m.key)) for p in run.profiles], m.show(run.overall.get(m.key))]
            for m in measures
        ],
    ]
    return view


@router.get("/analytics/clusters")
def clusters_page(page: StaffPage) -> Response:
    """The last run's clusters, why its k, and the refresh (running: its progress; or the last one)."""
    page.require("analytics:read")
    run = clusters_service.last_run(page.ctx)
    values = {"view": clusters_view(run, page.locale), "run": run, "forced_k": FORCED_K}
    return with_job(page, "console/clusters.html", jobs_service.MEMBER_CLUSTERS, values)


@router.post("/analytics/clusters/refresh")
def refresh(page: StaffPage, form: StaffForm) -> Response:
    """Cluster the members again (a job), with k forced when one is chosen; the page follows it."""
    return start_choosing(
        page,
        form,
        jobs_service.MEMBER_CLUSTERS,
        PATH,
        field="k",
        choices=FORCED_K,
        param="k",
        refused=_("Choose k from 2 to 8, or the best by silhouette."),
    )
