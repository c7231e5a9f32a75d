"""What the target tracking page shows, made from a month's follow-up (`services.targets`) in the page's
language: each store's line (target, actual to date, % achieved against % of the month gone, forecast,
standing), the regions' and the chain's, the league table, the alerts in words, and a chart of
progress against time (JSON for `static/dashboard.js`, with a table saying the same).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal

from loyalty.i18n import formats, marker, translator
from loyalty.services.targets import Alert, League, Progress, Standing
from loyalty.web.console.charts import AMBER, BRAND, Chart

_ = translator("web")
N_ = marker("web")

#: the page's names of the metrics
METRIC_NAMES = {
    "sales": N_("Net sales"),
    "member_sales": N_("Members' net sales"),
    "new_members": N_("New members"),
}
#: how a plan's targets were made
METHOD_NAMES = {
    "last_year": N_("shares of the same month last year"),
    "trailing_12": N_("shares of the trailing 12 months"),
    "equal": N_("an equal split"),
    "manual": N_("typed by hand"),
}
#: the breakdowns an admin may ask for
BREAKDOWNS = {
    "auto": N_("Last year's month, else the last 12 months, else equally"),
    "last_year": N_("Each store's share of the same month last year"),
    "trailing_12": N_("Each store's share of the last 12 months"),
    "equal": N_("Equally"),
}
MONEY = frozenset({"sales", "member_sales"})


@dataclass
class Line:
    """One store's (region's, the chain's) month for the metric, as shown."""

    key: str
    name: str
    target: str
    actual: str
    achieved: str
    elapsed: str
    ahead: str
    forecast: str
    forecast_ratio: str
    needed: str
    #: on track, behind time, forecast short, no target
    standing: str
    #: the alerts the store raised (highlighted)
    behind: bool = False
    region: str = ""


@dataclass
class Place:
    rank: str
    code: str
    name: str
    achieved: str
    ahead: str
    standing: str
    behind: bool


@dataclass
class TargetsView:
    metric_name: str
    stores: list[Line]
    groups: list[Line]
    league: list[Place]
    ranked: int
    alerts: list[str]
    chart: Chart | None


def _figure(metric: str, value: int | None, currency: str, locale: str) -> str:
    if value is None:
        return "—"
    if metric in MONEY:
        return formats.money(value, currency, locale)
    return formats.number(value, locale)


def _rate(value: Decimal | None, locale: str) -> str:
    return "—" if value is None else formats.percent(float(value), locale)


def _points(value: Decimal | None, locale: str) -> str:
    if value is None:
        return "—"
    shown = formats.number(abs(value), locale, 2)
    return f"+{shown}" if value > 0 else f"−{shown}" if value < 0 else shown


def _standing(s: Standing, kinds: set[str]) -> str:
    if s.target is None or not s.target:
        return _("No target")
    if "behind" in kinds and "forecast" in kinds:
        return _("Behind time, forecast short")
    if "behind" in kinds:
        return _("Behind time")
    if "forecast" in kinds:
        return _("Forecast short")
    return _("On track")


def _line(
    key: str, name: str, s: Standing, currency: str, locale: str, kinds: set[str] | None, region: str = ""
) -> Line:
    """A line of the table; `kinds`: the alerts the store raised (None: a group, which the rules do not
    judge)."""
    m = s.metric
    return Line(
        key=key,
        name=name,
        target=_figure(m, s.target, currency, locale),
        actual=_figure(m, s.actual, currency, locale),
        achieved=_rate(s.progress, locale),
        elapsed=_rate(s.elapsed, locale),
        ahead=_points(s.ahead_points, locale),
        forecast=_figure(m, s.forecast, currency, locale),
        forecast_ratio=_rate(s.forecast_ratio, locale),
        needed=_figure(m, s.needed_per_day, currency, locale),
        standing="—" if kinds is None else _standing(s, kinds),
        behind=bool(kinds),
        region=region,
    )


def alert_words(a: Alert, currency: str, locale: str) -> str:
    """An alert as a sentence: which store, which rule, the figures that show it."""
    m = a.metric
    if a.kind == "behind":
        return _(
            "{store}: {metric} {achieved} of the target {target} with {elapsed} of the month gone, "
            "more than {points} points behind time.",
            store=a.store.name,
            metric=_(METRIC_NAMES[m]),
            achieved=_rate(a.progress, locale),
            target=_figure(m, a.target, currency, locale),
            elapsed=_rate(a.elapsed, locale),
            points=a.threshold,
        )
    return _(
        "{store}: {metric} forecast {forecast}, {ratio} of the target {target}, under {pct} %.",
        store=a.store.name,
        metric=_(METRIC_NAMES[m]),
        forecast=_figure(m, a.forecast, currency, locale),
        ratio=_rate(a.forecast_ratio, locale),
        target=_figure(m, a.target, currency, locale),
        pct=a.threshold,
    )


def _chart(lines: list[Line], progress: Progress, metric: str, locale: str) -> Chart | None:
    """Each store's % achieved beside its % of the month gone, as a bar chart (stores with a target)."""
    shown = [
        (line, s)
        for line, sp in zip(lines, progress.stores, strict=True)
        for s in sp.standings
        if s.metric == metric and s.progress is not None
    ]
    if not shown:
        return None
    labels = [line.name for line, _s in shown]
    spec = json.dumps(
        {
            "kind": "bars",
            "locale": locale,
            "currency": progress.currency,
            "labels": labels,
            "bars": [
                {
                    "label": _("Achieved (% of target)"),
                    "data": [
                        str(((s.progress or Decimal(0)) * 100).quantize(Decimal("0.1"))) for _l, s in shown
                    ],
                    "color": BRAND,
                },
                {
                    "label": _("Month gone (%)"),
                    "data": [str((s.elapsed * 100).quantize(Decimal("0.1"))) for _l, s in shown],
                    "color": AMBER,
                },
            ],
            "y": "%",
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return Chart(
        "progress",
        _("Progress against the time gone"),
        spec,
        [_("Store"), _("Achieved"), _("Month gone")],
        [[line.name, line.achieved, line.elapsed] for line, _s in shown],
    )


def targets_view(progress: Progress, league: League, metric: str, locale: str) -> TargetsView:
    cur = progress.currency
    kinds: dict[int, set[str]] = {}
    for a in progress.alerts:
        if a.metric == metric:
            kinds.setdefault(a.store.id, set()).add(a.kind)
    stores = []
    for sp in progress.stores:
        s = next(x for x in sp.standings if x.metric == metric)
        name = sp.store.name if sp.store.name == sp.store.code else f"{sp.store.name} ({sp.store.code})"
        stores.append(
            _line(
                str(sp.store.id), name, s, cur, locale, kinds.get(sp.store.id, set()), sp.store.region or ""
            )
        )
    groups = []
    for g in progress.regions:
        s = next(x for x in g.standings if x.metric == metric)
        groups.append(_line(f"region-{g.region}", _("Region {name}", name=g.region), s, cur, locale, None))
    if progress.chain is not None:
        s = next(x for x in progress.chain.standings if x.metric == metric)
        groups.append(_line("chain", _("Whole chain"), s, cur, locale, None))
    places = []
    for r in league.rows:
        places.append(
            Place(
                rank="—" if r.rank is None else formats.number(r.rank, locale),
                code=r.store.code,
                name=r.store.name,
                achieved=_rate(r.standing.progress, locale),
                ahead=_points(r.standing.ahead_points, locale),
                standing=_standing(r.standing, kinds.get(r.store.id, set())),
                behind=r.behind,
            )
        )
    return TargetsView(
        metric_name=_(METRIC_NAMES[metric]),
        stores=stores,
        groups=groups,
        league=places,
        ranked=league.ranked,
        alerts=[alert_words(a, cur, locale) for a in progress.alerts],
        chart=_chart(stores, progress, metric, locale),
    )
