"""A one-file HTML report for store managers: plots embedded as base64 PNG in a Jinja2 template.

Self-contained (no external assets) so it can be mailed or opened offline.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
import pandas as pd
from jinja2 import Environment, select_autoescape

from loyalty.analytics.features import TimeUnit
from loyalty.analytics.rfm import BINARY_SEGMENTS

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;color:#222}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f4f4f4} img{max-width:100%} .note{color:#666}</style></head><body>
<h1>{{ title }}</h1>
<p class="note">{{ n_customers }} customers · model {{ model }} · calibration ends {{ calibration_end }}</p>
<h2>Who are our best members? (RFM)</h2>
<img alt="RFM grid" src="data:image/png;base64,{{ plots.grid }}">
<h2>Segments: size, value and what to do</h2>
<table><tr><th>code</th><th>segment</th><th>名称</th><th>customers</th><th>total spend</th>
<th>action</th></tr>
{% for row in segments %}<tr><td>{{ row.code }}</td><td style="text-align:left">{{ row.en }}</td>
<td style="text-align:left">{{ row.zh }}</td><td>{{ row.customers }}</td>
<td>{{ "%.0f"|format(row.spend) }}</td>
<td style="text-align:left">{{ row.action }}</td></tr>{% endfor %}</table>
<img alt="Segments" src="data:image/png;base64,{{ plots.segments }}">
<h2>Does the model predict well? (calibration vs holdout)</h2>
<img alt="Holdout" src="data:image/png;base64,{{ plots.holdout }}">
{% if plots.tracking %}<img alt="Tracking" src="data:image/png;base64,{{ plots.tracking }}">{% endif %}
<h2>Who is slipping away, and what is each worth?</h2>
<img alt="P(alive) and CLV" src="data:image/png;base64,{{ plots.dist }}">
<h2>Model parameters</h2><table>{% for k, v in params.items() %}
<tr><th>{{ k }}</th><td>{{ v }}</td></tr>{% endfor %}</table>
</body></html>"""


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def render(
    rfm_binary: pd.DataFrame,
    rfm_quintile: pd.DataFrame,
    scores: pd.DataFrame,
    holdout: pd.DataFrame,
    params: dict[str, Any],
    *,
    track: pd.DataFrame | None = None,
    title: str = "Member analytics",
) -> str:
    """Build the HTML report from the RFM tables, the CLV scores and the holdout check."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots: dict[str, str] = {}
    grid = rfm_quintile.pivot_table(
        index="r_score", columns="f_score", values="monetary", aggfunc="size", fill_value=0
    )
    fig, ax = plt.subplots(figsize=(6, 4.5))
    im = ax.imshow(grid.to_numpy()[::-1], cmap="YlGn")
    ax.set_xticks(range(grid.shape[1]), [str(c) for c in grid.columns])
    ax.set_yticks(range(grid.shape[0]), [str(i) for i in grid.index[::-1]])
    ax.set_xlabel("frequency score (5 = most frequent)")
    ax.set_ylabel("recency score (5 = most recent)")
    ax.set_title("Customers per R×F cell")
    fig.colorbar(im)
    plots["grid"] = _png(fig)

    seg = rfm_binary.groupby("rfm_code").agg(customers=("customer_id", "size"), spend=("monetary", "sum"))
    rows = [
        {
            "code": code,
            "en": BINARY_SEGMENTS[code].en,
            "zh": BINARY_SEGMENTS[code].zh,
            "action": BINARY_SEGMENTS[code].action,
            "customers": int(seg.loc[code, "customers"]),
            "spend": float(seg.loc[code, "spend"]),
        }
        for code in sorted(seg.index, reverse=True)
    ]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.5))
    labels = [r["en"] for r in rows]
    a1.barh(labels, [r["customers"] for r in rows])
    a1.set_title("Customers per segment")
    a2.barh(labels, [r["spend"] for r in rows], color="tab:orange")
    a2.set_title("Total spend per segment")
    plots["segments"] = _png(fig)

    fig, ax = plt.subplots(figsize=(6, 3.5))
    xs = np.arange(len(holdout))
    ax.bar(xs - 0.2, holdout["actual"], width=0.4, label="actual")
    ax.bar(xs + 0.2, holdout["predicted"], width=0.4, label="predicted")
    ax.set_xticks(xs, [f"{b}{'+' if i == len(xs) - 1 else ''}" for i, b in enumerate(holdout["bucket"])])
    ax.set_xlabel("repeat purchases in calibration")
    ax.set_ylabel("mean purchases in holdout")
    ax.legend()
    plots["holdout"] = _png(fig)

    plots["tracking"] = ""
    if track is not None:
        fig, ax = plt.subplots(figsize=(7, 3.5))
        ax.plot(track["week"], track["actual"], label="actual")
        ax.plot(track["week"], track["predicted"], "--", label="model")
        cal_weeks = track.loc[~track["holdout"], "week"]
        if len(cal_weeks):
            ax.axvline(float(cal_weeks.max()), color="grey", lw=0.8)
        ax.set_xlabel("week")
        ax.set_ylabel("cumulative repeat purchases")
        ax.set_title("Tracking: calibration | holdout")
        ax.legend()
        plots["tracking"] = _png(fig)

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.5))
    a1.hist(scores["p_alive"], bins=20, range=(0, 1))
    a1.set_title("P(still active)")
    a2.hist(np.clip(scores["clv"], 0, np.quantile(scores["clv"], 0.99)), bins=30, color="tab:green")
    a2.set_title("Customer lifetime value (to the 99th percentile)")
    plots["dist"] = _png(fig)

    shown = {
        k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in params.items() if not isinstance(v, dict)
    }
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    return env.from_string(_TEMPLATE).render(
        title=title,
        plots=plots,
        segments=rows,
        params=shown,
        n_customers=len(scores),
        model=params.get("model"),
        calibration_end=params.get("calibration_end"),
    )


def build_report(source: Any, *, calibration_end: str, time_unit: TimeUnit = "week", **kwargs: Any) -> str:
    """Run RFM (both schemes) and CLV on a transaction source and render the report."""
    from loyalty.analytics.models import BetaGeo
    from loyalty.analytics.pipeline import fit_clv, holdout_by_frequency, tracking
    from loyalty.analytics.rfm import rfm_features, score

    feats = rfm_features(source, kwargs.get("columns"), returns=kwargs.get("returns", "reject"))
    scores, params, summ = fit_clv(
        source,
        kwargs.get("columns"),
        calibration_end=calibration_end,
        time_unit=time_unit,
        returns=kwargs.get("returns", "reject"),
    )
    model = BetaGeo()
    model.set_params(**{k: params[k] for k in ("r", "alpha", "a", "b")})
    hold = holdout_by_frequency(summ, model)
    track = None
    if time_unit == "week":
        track = tracking(
            source,
            model,
            kwargs.get("columns"),
            calibration_end=calibration_end,
            returns=kwargs.get("returns", "reject"),
        )
    return render(
        score(feats, scheme="binary"), score(feats, scheme="quintile"), scores, hold, params, track=track
    )
