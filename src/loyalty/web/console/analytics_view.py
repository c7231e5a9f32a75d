"""What the analyst's page shows, made from `services.member_analytics.overview`: the RFM grid, the
groups' table, and each chart as the data its static script draws (`static/analytics.js`) beside the
table that is its text alternative. Words and money are written here, in the page's language; the
charts get numbers and ready-made labels only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from loyalty.i18n import current_locale, formats, marker, translator
from loyalty.services.member_analytics import Bin, Group, Overview, bucket_label

_ = translator("web")
N_ = marker("web")

#: the grid's rows (recency) and columns (frequency, spend) of the binary RFM scheme
GRID_ROWS = (("2", N_("Bought recently")), ("1", N_("Not bought recently")))
GRID_COLUMNS = (
    ("22", N_("Frequent, high spend")),
    ("21", N_("Frequent, low spend")),
    ("12", N_("Occasional, high spend")),
    ("11", N_("Occasional, low spend")),
)
#: the bars' colours (contrast ≥ 3:1 on white, told apart without colour by their legend order)
BLUE = "#2f6db5"
ORANGE = "#b35300"


@dataclass
class Chart:
    """One chart: the JSON its script draws, its accessible name, and the table that says the same."""

    key: str
    title: str
    spec: dict[str, Any]
    headers: list[str]
    rows: list[list[str]]


@dataclass
class GridCell:
    group: Group
    heat: int


@dataclass
class AnalyticsView:
    overview: Overview
    grid: list[tuple[str, list[GridCell]]] = field(default_factory=list)
    grid_columns: list[str] = field(default_factory=list)
    charts: dict[str, Chart] = field(default_factory=dict)


def _money(minor: float | int | None, currency: str) -> str:
    return "–" if minor is None else formats.money(round(minor), currency, current_locale())


def _int(n: int) -> str:
    return formats.number(n, current_locale())


def _share(x: float | None) -> str:
    return "–" if x is None else formats.percent(x, current_locale())


def _ratio(x: float | None) -> str:
    return "–" if x is None else formats.number(round(x, 2), current_locale(), 2)


def _grid(o: Overview) -> list[tuple[str, list[GridCell]]]:
    by_code = {g.rfm_code: g for g in o.groups}
    top = max((g.members for g in o.groups), default=0) or 1
    rows = []
    for r, label in GRID_ROWS:
        cells = []
        for fm, _label in GRID_COLUMNS:
            g = by_code[r + fm]
            cells.append(GridCell(g, min(4, round(4 * g.members / top))))
        rows.append((_(label), cells))
    return rows


def _bin_label(b: Bin, show: Any) -> str:
    if b.lo is None:
        return _("below {to}", to=show(b.hi))
    if b.hi is None:
        return _("{from_} and more", from_=show(b.lo))
    return f"{show(b.lo)} – {show(b.hi)}"


def _bars(
    title: str, labels: list[str], series: list[tuple[str, list[Any], str]], x: str, y: str
) -> dict[str, Any]:
    return {
        "kind": "bar",
        "title": title,
        "labels": labels,
        "series": [{"label": name, "data": data, "color": color} for name, data, color in series],
        "x": x,
        "y": y,
    }


def _clv_chart(o: Overview) -> Chart:
    labels = [_bin_label(b, lambda v: _money(v, o.currency)) for b in o.clv]
    members = _("Members")
    title = _("Customer lifetime value (next 12 months)")
    spec = _bars(title, labels, [(members, [b.members for b in o.clv], BLUE)], _("CLV"), members)
    return Chart(
        "clv",
        title,
        spec,
        [_("CLV"), members],
        [[label, _int(b.members)] for label, b in zip(labels, o.clv, strict=True)],
    )


def _p_alive_chart(o: Overview) -> Chart:
    labels = [_bin_label(b, _share) for b in o.p_alive]
    members = _("Members")
    title = _("Probability of being still active (P(alive))")
    spec = _bars(title, labels, [(members, [b.members for b in o.p_alive], BLUE)], _("P(alive)"), members)
    return Chart(
        "p_alive",
        title,
        spec,
        [_("P(alive)"), members],
        [[label, _int(b.members)] for label, b in zip(labels, o.p_alive, strict=True)],
    )


def _holdout_chart(o: Overview) -> Chart | None:
    r = o.refresh
    if r is None or not r.holdout:
        return None
    labels = [bucket_label(int(h["bucket"])) for h in r.holdout]
    actual, predicted = _("Actual"), _("Predicted by the model")
    title = _("Calibration and holdout: repeat purchases after the calibration end")
    spec = _bars(
        title,
        labels,
        [
            (actual, [h["actual"] for h in r.holdout], BLUE),
            (predicted, [h["predicted"] for h in r.holdout], ORANGE),
        ],
        _("Repeat purchases up to the calibration end"),
        _("Mean repeat purchases in the holdout"),
    )
    rows = [
        [label, _int(int(h["customers"])), _ratio(h["actual"]), _ratio(h["predicted"])]
        for label, h in zip(labels, r.holdout, strict=True)
    ]
    headers = [_("Repeat purchases up to the calibration end"), _("Members"), actual, predicted]
    return Chart("holdout", title, spec, headers, rows)


def _tracking_chart(o: Overview) -> Chart | None:
    r = o.refresh
    if r is None or not r.tracking:
        return None
    actual, predicted = _("Actual"), _("Predicted by the model")
    title = _("Cumulative repeat purchases, week by week")
    labels = [str(int(t["week"])) for t in r.tracking]
    spec = _bars(
        title,
        labels,
        [
            (actual, [t["actual"] for t in r.tracking], BLUE),
            (predicted, [t["predicted"] for t in r.tracking], ORANGE),
        ],
        _("Week"),
        _("Repeat purchases"),
    )
    spec["kind"] = "line"
    end = next((i for i, t in enumerate(r.tracking) if t["holdout"]), None)
    if end is not None:
        spec["marker"] = {"index": end, "label": _("calibration end")}
    rows = [
        [
            label,
            _int(round(t["actual"])) if t["actual"] is not None else "–",
            _int(round(t["predicted"])) if t["predicted"] is not None else "–",
            _("Holdout") if t["holdout"] else _("Calibration"),
        ]
        for label, t in zip(labels, r.tracking, strict=True)
    ]
    return Chart("tracking", title, spec, [_("Week"), actual, predicted, _("Period")], rows)


def analytics_view(o: Overview) -> AnalyticsView:
    """The page's view of `o` in the current language."""
    view = AnalyticsView(o)
    if o.never_ran:
        return view
    view.grid = _grid(o)
    view.grid_columns = [_(label) for _code, label in GRID_COLUMNS]
    view.charts["clv"] = _clv_chart(o)
    view.charts["p_alive"] = _p_alive_chart(o)
    for chart in (_holdout_chart(o), _tracking_chart(o)):
        if chart is not None:
            view.charts[chart.key] = chart
    return view


def group_rows(o: Overview) -> list[dict[str, str | bool]]:
    """The groups' table, written out."""
    return [
        {
            "code": g.rfm_code,
            "name": g.segment.name(),
            "action": g.segment.action(),
            "high_value": g.segment.high_value,
            "members": _int(g.members),
            "share": _share(g.share),
            "spend": _money(g.spend_minor, o.currency),
            "clv": _money(g.clv_minor, o.currency),
            "p_alive": _share(g.mean_p_alive),
        }
        for g in o.groups
    ]
