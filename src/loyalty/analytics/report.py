"""The member analytics report: one self-contained HTML file, in zh-CN or English.

Self-contained and offline (inline CSS and SVG, no fonts or scripts fetched) so it can be mailed and
opened anywhere; the charts' text is SVG text, drawn by the reader's browser in its own fonts. Money
is shown with its currency everywhere; every string goes through the ``report`` catalog, numbers and
dates are formatted per locale.

Two fits, for two questions: the model fitted on all the data scores customers as of the last day
(who is slipping away *now*, what each is worth), and the same model fitted up to the calibration end
is checked against what happened after it (can the scores be trusted).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd
from jinja2 import Environment, select_autoescape
from markupsafe import Markup

from loyalty.analytics import charts
from loyalty.analytics.cohorts import cohort_table
from loyalty.analytics.currency import to_minor
from loyalty.analytics.errors import AnalyticsError
from loyalty.analytics.features import Columns, ReturnsPolicy, daily, summary, transactions
from loyalty.analytics.pipeline import FittedModels, ModelName, fit_summary, holdout_by_frequency, tracking
from loyalty.analytics.rfm import rfm_from_summary, score
from loyalty.analytics.risk import AtRisk, at_risk
from loyalty.analytics.segments import BINARY_SEGMENTS
from loyalty.i18n import translator, use_locale
from loyalty.i18n.formats import money, money_compact, number, percent

_ = translator("report")

COHORT_OFFSETS = (1, 2, 3, 6, 12)
MAX_COHORTS = 24
CLV_CLIP_PERCENTILE = 99.0


@dataclass(frozen=True)
class ReportOptions:
    """How to read the data and what to compute.

    ``amounts_in_minor``: the source's amounts are integer minor units (the product database) rather
    than major units (an analyst's file, e.g. CDNOW's dollars). ``calibration_end`` None: three
    quarters of the way through the data.
    """

    currency: str
    amounts_in_minor: bool = False
    calibration_end: str | None = None
    model: ModelName = "bgnbd"
    horizon_months: int = 12
    discount_rate: float = 0.01
    top_n: int = 20
    locale: str | None = None
    returns: ReturnsPolicy = "net"
    source_label: str | None = None  # None: the product database


@dataclass(frozen=True)
class DatabaseFacts:
    """What only the product database knows: all sales (anonymous ones too) and members' cards.

    ``sales`` is :func:`loyalty.analytics.store.sales_by_channel`; ``cards`` looks up the card numbers
    of the win-back list's members (masked before they are shown).
    """

    sales: pd.DataFrame | None = None
    cards: Callable[[list[int]], dict[int, str]] | None = None


# ----------------------------------------------------------------------------------------- formatting


@dataclass(frozen=True)
class _Fmt:
    currency: str
    in_minor: bool

    def minor(self, value: float) -> int:
        if not math.isfinite(value):
            return 0
        return round(value) if self.in_minor else to_minor(value, self.currency)

    def money(self, value: float) -> str:
        return money(self.minor(value), self.currency)

    def compact(self, value: float) -> str:
        return money_compact(self.minor(value), self.currency)


def _int(n: float) -> str:
    return number(int(n), digits=0)


def _pct(share: float) -> str:
    return "–" if not math.isfinite(share) else percent(share, digits=1)


def _sig(value: float) -> str:
    """Model parameters: up to four decimals, grouped per locale."""
    from babel.numbers import format_decimal

    from loyalty.i18n import current_locale

    if not math.isfinite(value):
        return "–"
    return format_decimal(round(value, 4), format="#,##0.0###", locale=current_locale().replace("-", "_"))


def _prob(p: float) -> str:
    """A probability as a percentage; tiny ones as "<0.1%" rather than a misleading "0.0%"."""
    if not math.isfinite(p):
        return "–"
    if 0 < p < 0.0005:
        return "<" + percent(0.001, digits=1)
    return percent(p, digits=1)


def _date(value: Any) -> str:
    from babel.dates import format_date

    from loyalty.i18n import current_locale

    return format_date(pd.Timestamp(value).date(), format="medium", locale=current_locale().replace("-", "_"))


def _month(value: Any) -> str:
    from babel.dates import format_skeleton

    from loyalty.i18n import current_locale

    return format_skeleton("yMMM", pd.Timestamp(value).date(), locale=current_locale().replace("-", "_"))


def _mask_card(card: str | None) -> str:
    if not card:
        return "–"
    return "•••• " + card[-4:]


def _heat(share: float, rgb: str = "47,109,181") -> str:
    """Inline background for a heat-map cell (text stays dark: the shade never goes past 0.55)."""
    if not math.isfinite(share):
        return ""
    return f"background: rgba({rgb},{0.06 + 0.49 * min(max(share, 0.0), 1.0):.3f})"


# ---------------------------------------------------------------------------------------- computation


def _scored_customers(
    s_day: pd.DataFrame, fitted: FittedModels | None, options: ReportOptions
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per customer: RFM (binary), tenure, first/last purchase, P(alive) and CLV; and quintile RFM."""
    from loyalty.analytics.pipeline import score_summary

    features = rfm_from_summary(s_day)
    binary = score(features, scheme="binary")
    quintile = score(features, scheme="quintile")
    cust = binary[["customer_id", "recency_days", "frequency", "monetary", "rfm_code", "segment"]].copy()
    cust["first_purchase"] = s_day["first_purchase"].to_numpy()
    cust["last_purchase"] = s_day["last_purchase"].to_numpy()
    cust["tenure_days"] = s_day["T"].to_numpy()
    cust["p_alive"] = np.nan
    cust["clv"] = np.nan
    cust["expected_purchases"] = np.nan
    if fitted is not None:
        weeks = s_day.assign(recency=s_day["recency"] / 7.0, T=s_day["T"] / 7.0)
        sc = score_summary(
            weeks, fitted, horizon_months=options.horizon_months, discount_rate=options.discount_rate
        )
        cust["p_alive"] = sc["p_alive"].to_numpy()
        cust["clv"] = sc["clv"].to_numpy()
        cust["expected_purchases"] = sc["expected_purchases"].to_numpy()
    return cust, quintile


@dataclass
class _Validation:
    fitted: FittedModels
    holdout: pd.DataFrame
    track: pd.DataFrame | None
    calibration_end: str
    holdout_weeks: float
    once_customers: int
    once_came_back: int


def _validate(source: Any, cols: Columns, cal_end: str, options: ReportOptions) -> _Validation:
    s_cal = summary(source, cols, calibration_end=cal_end, time_unit="week", returns=options.returns)
    fitted = fit_summary(s_cal, time_unit="week", model=options.model)
    track = None
    if options.model == "bgnbd":
        from loyalty.analytics.models import BetaGeo

        assert isinstance(fitted.purchases, BetaGeo)
        track = tracking(source, fitted.purchases, cols, calibration_end=cal_end, returns=options.returns)
    once = s_cal["frequency"].to_numpy() == 0
    return _Validation(
        fitted=fitted,
        holdout=holdout_by_frequency(s_cal, fitted.purchases),
        track=track,
        calibration_end=cal_end,
        holdout_weeks=float(s_cal["duration_holdout"].iloc[0]),
        once_customers=int(once.sum()),
        once_came_back=int((s_cal["frequency_holdout"].to_numpy()[once] > 0).sum()),
    )


def default_calibration_end(first: pd.Timestamp, last: pd.Timestamp) -> str:
    """Three quarters of the way from the first to the last purchase day."""
    return str((first + (last - first) * 0.75).date())


# ------------------------------------------------------------------------------------------- sections


def _labels(options: ReportOptions) -> dict[str, str]:
    """Every fixed text of the page, translated."""
    return {
        "title": _("Member analytics"),
        "kpi_heading": _("Key figures"),
        "customers": _("Customers who bought"),
        "customers_col": _("Customers"),
        "repeat_rate": _("Repeat rate"),
        "repeat_rate_note": _("bought on two or more days"),
        "one_time": _("One-time buyers"),
        "revenue_at_risk": _("Revenue at risk"),
        "revenue_at_risk_note": _("yearly spend of valuable customers probably lost"),
        "clv_total": _("Expected value, next {months} months", months=options.horizon_months),
        "sales_heading": _("Sales: members and anonymous, by channel"),
        "channel": _("Channel"),
        "orders": _("Orders"),
        "sales": _("Sales"),
        "share_of_sales": _("Share of sales"),
        "members_in_channel": _("Member share"),
        "sales_note": _(
            "Net of refunds, all time. Anonymous sales have no member, so RFM, P(alive) and CLV below "
            "cover member sales only."
        ),
        "rfm_heading": _("Who are our best members? (RFM)"),
        "rfm_grid_caption": _("Customers per recency × frequency cell (quintile scores)"),
        "recency_score": _("Rows R: recency score (5 = most recent)"),
        "frequency_score": _("columns F: frequency score (5 = most frequent)"),
        "rfm_grid_note": _(
            "This grid scores recency and frequency in quintiles: 5 is the fifth of customers who bought "
            "most recently or most often. Customers with equal values share a score, so a score can be "
            "empty when many customers tie (for example everyone who bought once). The segment table below "
            "uses the binary scheme instead: each of R, F and M is above or below the mean, which gives "
            "the eight groups."
        ),
        "segments_heading": _("Segments: size, value and what to do"),
        "segment": _("Segment"),
        "share": _("Share"),
        "total_spend": _("Total spend"),
        "spend_per_customer": _("Spend per customer"),
        "mean_p_alive": _("Mean P(alive)"),
        "total_clv": _("Total CLV"),
        "clv_per_customer": _("CLV per customer"),
        "action": _("What to do"),
        "segments_note": _(
            "Sorted by total spend. R, F, M: 2 = better than the mean (more recent, more frequent, "
            "higher spend), 1 = not. P(alive) and CLV come from the model fitted on all the data."
        ),
        "risk_heading": _("Who is slipping away? Revenue at risk"),
        "top_heading": _("Win-back list"),
        "rank": _("#"),
        "member": _("Member"),
        "card": _("Card"),
        "yearly_spend": _("Yearly spend"),
        "clv": _("CLV"),
        "p_alive": _("P(alive)"),
        "last_purchase": _("Last purchase"),
        "days_since": _("Days since"),
        "no_risk": _("No high-value customer has a P(alive) below the threshold."),
        "alive_heading": _("How likely is each customer still active? (P(alive))"),
        "alive_xlabel": _("P(alive): probability the customer still buys from us"),
        "customers_axis": _("customers"),
        "clv_heading": _("What is each customer worth? (CLV)"),
        "cohort_heading": _("Do new customers come back? Cohorts by month of first purchase"),
        "cohort": _("First purchase"),
        "new_customers": _("New customers"),
        "month_n": _("Month {n}"),
        "cohort_note": _(
            "Month n: share of the cohort who bought in the n-th calendar month after their first. Repeat "
            "rate: share who bought on a second day at any time up to the end of the data, so older "
            "cohorts have had longer. Empty cells: the data ends before that month does."
        ),
        "validation_heading": _("Does the model predict well? (calibration vs holdout)"),
        "actual": _("actual"),
        "predicted": _("predicted"),
        "model_line": _("model"),
        "params_heading": _("Model parameters"),
        "parameter": _("Parameter"),
        "estimate": _("Estimate"),
        "standard_error": _("Standard error"),
        "fit_all": _("Fitted on all the data (used for the scores)"),
        "fit_calibration": _("Fitted up to the calibration end (checked above)"),
        "log_likelihood": _("Log-likelihood"),
        "fitted_customers": _("Customers fitted"),
        "spend_model": _("Gamma-Gamma (spend per purchase)"),
        "no_model": _(
            "Not enough repeat customers to fit the purchase model: P(alive), CLV and the revenue at risk "
            "are left out."
        ),
        "footer": _(
            "Made by loyalty analytics. The file is self-contained: it loads nothing from the network."
        ),
    }


def _kpi(label: str, value: str, note: str = "", kind: str = "") -> dict[str, str]:
    return {"label": label, "value": value, "note": note, "kind": kind}


def _kpis(cust: pd.DataFrame, risk: AtRisk | None, fmt: _Fmt, options: ReportOptions) -> list[dict[str, str]]:
    """The headline cards: money as a compact figure with the exact amount beneath it."""
    labels = _labels(options)
    n = len(cust)
    once = int((cust["frequency"] == 1).sum())
    spend = float(cust["monetary"].sum())
    items = [
        _kpi(labels["customers"], _int(n)),
        _kpi(
            labels["total_spend"], fmt.compact(spend), _("{amount}, net of returns", amount=fmt.money(spend))
        ),
        _kpi(labels["repeat_rate"], _pct((n - once) / n if n else math.nan), labels["repeat_rate_note"]),
        _kpi(
            labels["one_time"],
            _int(once),
            _("{share} of customers · bought on one day only", share=_pct(once / n if n else math.nan)),
        ),
    ]
    if risk is not None:
        items.append(
            _kpi(
                labels["revenue_at_risk"],
                fmt.compact(risk.revenue),
                _(
                    "{amount} a year · {count} valuable customers probably lost",
                    amount=fmt.money(risk.revenue),
                    count=_int(len(risk.customers)),
                ),
                "risk",
            )
        )
        value = float(np.nansum(cust["clv"].to_numpy()))
        items.append(
            _kpi(
                labels["clv_total"],
                fmt.compact(value),
                _(
                    "{amount} · discounted {rate} a month",
                    amount=fmt.money(value),
                    rate=percent(options.discount_rate, digits=1),
                ),
            )
        )
    return items


def channel_name(code: str | None) -> str:
    """A sales channel's name in the current locale (unknown codes are shown as they are)."""
    names = {
        "store": _("Store"),
        "online": _("Online shop"),
        "mini_program": _("Mini program"),
        "delivery": _("Delivery"),
    }
    if code is None or (isinstance(code, float) and math.isnan(code)):
        return _("Not recorded")
    return names.get(str(code), str(code))


def _sales_section(sales: pd.DataFrame, currency: str) -> dict[str, Any] | None:
    """All sales, the member share and the by-channel table (money in minor units from the database)."""
    if sales.empty:
        return None
    total = int(sales["net_minor"].sum())
    member = int(sales.loc[sales["is_member"], "net_minor"].sum())
    orders = int(sales["orders"].sum())
    channel = sales["channel"].astype(object).where(sales["channel"].notna(), None)
    member_net = np.where(sales["is_member"].to_numpy(dtype=bool), sales["net_minor"].to_numpy(), 0)
    by = (
        pd.DataFrame(
            {"channel": channel, "orders": sales["orders"], "net": sales["net_minor"], "member": member_net}
        )
        .groupby("channel", dropna=False, sort=False)[["orders", "net", "member"]]
        .sum()
        .reset_index()
        .sort_values("net", ascending=False)
    )
    top = max(int(by["net"].max()), 1)
    rows = [
        {
            "name": channel_name(r["channel"]),
            "orders": _int(r["orders"]),
            "sales": money(int(r["net"]), currency),
            "share": _pct(r["net"] / total if total else math.nan),
            "bar": f"{100 * max(int(r['net']), 0) / top:.1f}",
            "member_share": _pct(r["member"] / r["net"] if r["net"] else math.nan),
        }
        for r in by.to_dict("records")
    ]
    member_orders = int(sales.loc[sales["is_member"], "orders"].sum())
    kpis = [
        _kpi(
            _("All sales"),
            money_compact(total, currency),
            _("{amount} · {orders} orders", amount=money(total, currency), orders=_int(orders)),
        ),
        _kpi(
            _("Member sales share"),
            _pct(member / total if total else math.nan),
            _("member sales {amount} ÷ all sales", amount=money(member, currency)),
        ),
        _kpi(
            _("Anonymous sales"),
            money_compact(total - member, currency),
            _(
                "{amount} · {orders} orders without a member ({share} of orders)",
                amount=money(total - member, currency),
                orders=_int(orders - member_orders),
                share=_pct((orders - member_orders) / orders if orders else math.nan),
            ),
        ),
    ]
    return {"kpis": kpis, "channels": rows, "has_channels": bool(sales["channel"].notna().any())}


def _rfm_grid(quintile: pd.DataFrame) -> dict[str, Any]:
    counts = quintile.groupby(["r_score", "f_score"]).size()
    peak = max(int(counts.max()), 1) if len(counts) else 1
    rows = []
    for r in range(5, 0, -1):
        cells = []
        for f in range(1, 6):
            c = int(counts.get((r, f), 0))
            cells.append({"count": _int(c) if c else "", "style": _heat(c / peak) if c else ""})
        rows.append({"r": r, "cells": cells})
    return {"rows": rows, "f": list(range(1, 6))}


def _segments(cust: pd.DataFrame, fmt: _Fmt) -> list[dict[str, Any]]:
    g = cust.groupby("rfm_code")
    seg = pd.DataFrame(
        {
            "customers": g.size(),
            "spend": g["monetary"].sum(),
            "p_alive": g["p_alive"].mean(),
            "clv": g["clv"].sum(min_count=1),
        }
    ).sort_values(["spend", "customers"], ascending=False)
    n = max(len(cust), 1)
    top_customers = max(int(seg["customers"].max()), 1)
    top_spend = max(float(seg["spend"].max()), 1e-9)
    rows = []
    for code, r in seg.iterrows():
        s = BINARY_SEGMENTS[str(code)]
        rows.append(
            {
                "code": str(code),
                "name": s.name(),
                "action": s.action(),
                "customers": _int(r["customers"]),
                "share": _pct(r["customers"] / n),
                "customers_bar": f"{100 * r['customers'] / top_customers:.1f}",
                "spend": fmt.money(float(r["spend"])),
                "spend_bar": f"{100 * max(float(r['spend']), 0.0) / top_spend:.1f}",
                "spend_per_customer": fmt.money(float(r["spend"]) / float(r["customers"])),
                "p_alive": _pct(float(r["p_alive"])),
                "clv": fmt.money(float(r["clv"])) if pd.notna(r["clv"]) else "–",
                "clv_per_customer": fmt.money(float(r["clv"]) / float(r["customers"]))
                if pd.notna(r["clv"])
                else "–",
                "high_value": s.high_value,
            }
        )
    return rows


def _risk_section(
    risk: AtRisk, cust: pd.DataFrame, fmt: _Fmt, options: ReportOptions, facts: DatabaseFacts | None
) -> dict[str, Any]:
    high = cust["rfm_code"].isin([c for c, s in BINARY_SEGMENTS.items() if s.high_value])
    top = risk.customers.head(options.top_n)
    as_of = pd.Timestamp(cust["last_purchase"].max())
    cards: dict[int, str] = {}
    if facts is not None and facts.cards is not None and len(top):
        cards = facts.cards([int(i) for i in top["customer_id"]])
    rows = []
    for i, r in enumerate(top.to_dict("records"), start=1):
        card = cards.get(int(r["customer_id"])) if cards else None
        rows.append(
            {
                "rank": i,
                "member": str(r["customer_id"]),
                "card": _mask_card(card),
                "segment": BINARY_SEGMENTS[str(r["rfm_code"])].name(),
                "yearly_spend": fmt.money(float(r["yearly_spend"])),
                "total_spend": fmt.money(float(r["monetary"])),
                "clv": fmt.money(float(r["clv"])),
                "p_alive": _prob(float(r["p_alive"])),
                "last_purchase": _date(r["last_purchase"]),
                "days_since": _int((as_of - pd.Timestamp(r["last_purchase"])).days),
            }
        )
    threshold = percent(risk.threshold, digits=0)
    return {
        "summary": _(
            "{count} of {high} high-value customers (the four 'important' segments: spend above the mean) "
            "have a P(alive) below {threshold}. In an average year of their time with us they spent "
            "{revenue}: the yearly revenue that leaves with them unless they are won back.",
            count=_int(len(risk.customers)),
            high=_int(int(high.sum())),
            threshold=threshold,
            revenue=fmt.money(risk.revenue),
        ),
        "definition": _(
            "Yearly spend = total spend ÷ years since the first purchase (at least one year). "
            "Under BG/NBD a customer who bought only once always has P(alive) = 100%, so one-time "
            "buyers never appear here; see the P(alive) section."
        )
        if options.model == "bgnbd"
        else _("Yearly spend = total spend ÷ years since the first purchase (at least one year)."),
        "top_heading": _(
            "Win-back list: the {n} at-risk customers with the highest yearly spend",
            n=_int(len(rows)),
        ),
        "rows": rows,
        "card_column": facts is not None and facts.cards is not None,
    }


def _alive_section(
    cust: pd.DataFrame, validation: _Validation | None, options: ReportOptions
) -> dict[str, Any]:
    once = cust["frequency"].to_numpy() == 1
    n = len(cust)
    repeat = cust.loc[~once, "p_alive"].to_numpy(dtype=np.float64)
    labels = _labels(options)
    chart = charts.histogram(
        repeat,
        name="p-alive",
        bins=20,
        value_range=(0.0, 1.0),
        xlabel=labels["alive_xlabel"],
        ylabel=labels["customers_axis"],
        xformat=lambda v: percent(v, digits=0),
    )
    if options.model == "bgnbd":
        explain = _(
            "{once} customers ({share}) have bought on one day only. BG/NBD gives every one of them "
            "P(alive) = 100%: the model lets a customer drop out only right after a repeat purchase, so "
            "without one it sees no sign of leaving. That is a property of the model, not a finding, "
            "and it would pile them up at 100% in the histogram, so they are counted here instead. "
            "Judge them by the time since their first purchase.",
            once=_int(int(once.sum())),
            share=_pct(once.sum() / n if n else math.nan),
        )
    else:
        explain = _(
            "{once} customers ({share}) have bought on one day only. With no repeat purchase the model "
            "has little to go on: their P(alive) falls only with the time since that purchase. They are "
            "counted here and left out of the histogram.",
            once=_int(int(once.sum())),
            share=_pct(once.sum() / n if n else math.nan),
        )
    evidence = ""
    if validation is not None and validation.once_customers:
        evidence = _(
            "What one-time buyers actually do: of the {n} customers who had bought only once by {end}, "
            "{back} ({share}) bought again in the following {weeks} weeks.",
            n=_int(validation.once_customers),
            end=_date(validation.calibration_end),
            back=_int(validation.once_came_back),
            share=_pct(validation.once_came_back / validation.once_customers),
            weeks=_int(round(validation.holdout_weeks)),
        )
    return {
        "chart": Markup(chart),  # noqa: S704 - our own SVG, its text escaped by matplotlib
        "caption": _(
            "P(alive) of the {n} customers with at least one repeat purchase, as of {day}.",
            n=_int(int((~once).sum())),
            day=_date(cust["last_purchase"].max()),
        ),
        "explain": explain,
        "evidence": evidence,
        "once": _int(int(once.sum())),
        "repeat_median": _pct(float(np.median(repeat))) if repeat.size else "–",
    }


def _clv_section(cust: pd.DataFrame, fmt: _Fmt, options: ReportOptions) -> dict[str, Any]:
    values = cust["clv"].to_numpy(dtype=np.float64)
    values = values[np.isfinite(values)]
    cap = float(np.percentile(values, CLV_CLIP_PERCENTILE)) if values.size else 0.0
    shown = values[values <= cap]
    above = int((values > cap).sum())
    labels = _labels(options)
    rate = percent(options.discount_rate, digits=1)
    xlabel = _(
        "CLV: next {months} months, discounted {rate} a month ({currency})",
        months=options.horizon_months,
        rate=rate,
        currency=fmt.currency,
    )
    chart = charts.histogram(
        shown,
        name="clv",
        bins=30,
        value_range=(0.0, cap if cap > 0 else 1.0),
        xlabel=xlabel,
        ylabel=labels["customers_axis"],
        color=charts.GREEN,
        xformat=fmt.compact,
    )
    return {
        "chart": Markup(chart),  # noqa: S704 - our own SVG, its text escaped by matplotlib
        "caption": _(
            "Expected value of each customer's purchases over the next {months} months, discounted at "
            "{rate} a month, from the purchase model and Gamma-Gamma (spend per purchase). The "
            "histogram stops at the {pct}th percentile ({cap}): the {above} customers above it (largest "
            "{max}) are left out so they do not show as a false spike in the last bar.",
            months=options.horizon_months,
            rate=rate,
            pct=number(CLV_CLIP_PERCENTILE, digits=0),
            cap=fmt.money(cap),
            above=_int(above),
            max=fmt.money(float(values.max()) if values.size else 0.0),
        ),
        "stats": _(
            "Median {median} · mean {mean} · total {total}",
            median=fmt.money(float(np.median(values))) if values.size else "–",
            mean=fmt.money(float(values.mean())) if values.size else "–",
            total=fmt.money(float(values.sum())),
        ),
    }


def _cohort_section(d: pd.DataFrame, options: ReportOptions) -> dict[str, Any]:
    table = cohort_table(d, offsets=COHORT_OFFSETS).tail(MAX_COHORTS)
    months = [f"m{k}" for k in COHORT_OFFSETS]
    values = table[months].to_numpy(dtype=np.float64)
    # shade relative to the best cells (a percentile, so a one-customer cohort's 100% sets no scale)
    peak = float(np.nanpercentile(values, 95)) if np.isfinite(values).any() else math.nan
    scale = peak if math.isfinite(peak) and peak > 0 else 1.0
    rows = []
    for r in table.to_dict("records"):
        cells = []
        for m in months:
            share = float(r[m])
            shown = math.isfinite(share)
            cells.append(
                {"value": _pct(share) if shown else "", "style": _heat(share / scale) if shown else ""}
            )
        rows.append(
            {
                "cohort": _month(r["cohort"]),
                "customers": _int(r["customers"]),
                "repeat": _pct(float(r["repeat_rate"])),
                "repeat_style": _heat(float(r["repeat_rate"]), "58,154,91"),
                "cells": cells,
            }
        )
    labels = _labels(options)
    return {
        "rows": rows,
        "offsets": [labels["month_n"].replace("{n}", str(k)) for k in COHORT_OFFSETS],
        "more": _("Showing the last {n} cohorts.", n=_int(MAX_COHORTS)) if len(table) == MAX_COHORTS else "",
    }


def _validation_section(v: _Validation, options: ReportOptions) -> dict[str, Any]:
    labels = _labels(options)
    buckets = v.holdout["bucket"].tolist()
    names = [f"{b}+" if i == len(buckets) - 1 and b >= 7 else str(b) for i, b in enumerate(buckets)]
    weeks = _int(round(v.holdout_weeks))
    holdout_chart = charts.grouped_bars(
        names,
        [
            (labels["actual"], v.holdout["actual"], charts.BLUE),
            (labels["predicted"], v.holdout["predicted"], charts.ORANGE),
        ],
        name="holdout",
        xlabel=_("repeat purchases up to {end}", end=_date(v.calibration_end)),
        ylabel=_("mean repeat purchases in holdout"),
    )
    track_chart = None
    if v.track is not None:
        cal_weeks = v.track.loc[~v.track["holdout"], "week"]
        track_chart = charts.lines(
            v.track["week"],
            [
                (labels["actual"], v.track["actual"], charts.BLUE, "-"),
                (labels["model_line"], v.track["predicted"], charts.ORANGE, "--"),
            ],
            name="tracking",
            xlabel=_("weeks since the first day of the data"),
            ylabel=_("cumulative repeat purchases"),
            marker_x=float(cal_weeks.max()) if len(cal_weeks) else None,
            marker_label=_("calibration end"),
        )
    return {
        "intro": _(
            "The same model was fitted on the data up to {end} only and asked to predict the next {weeks} "
            "weeks. Bars: for customers grouped by their repeat purchases up to {end}, how many they "
            "made afterwards and how many the model expected. The closer the bars, the more the scores "
            "above can be trusted.",
            end=_date(v.calibration_end),
            weeks=weeks,
        ),
        "holdout_chart": Markup(holdout_chart),  # noqa: S704 - our own SVG
        "track_caption": _(
            "All customers' cumulative repeat purchases, week by week, and the model's expectation; "
            "left of the line the model saw the data, right of it it predicts."
        ),
        "track_chart": Markup(track_chart) if track_chart else None,  # noqa: S704 - our own SVG
    }


_PARAM_NAMES = {
    "r": "r",
    "alpha": "α",
    "a": "a",
    "b": "b",
    "s": "s",
    "beta": "β",
    "p": "p",
    "q": "q",
    "v": "γ (v)",
}


def _param_rows(models: list[FittedModels | None]) -> dict[str, Any]:
    """Purchase-model and Gamma-Gamma estimates with standard errors, one column pair per fit."""

    def block(get: Any) -> list[dict[str, Any]]:
        first = next((m for m in models if m is not None), None)
        if first is None:
            return []
        model = get(first)
        rows = []
        for key in model.param_names:
            cells = []
            for m in models:
                if m is None:
                    cells += ["–", "–"]
                    continue
                est = get(m)
                cells += [_sig(est.params_[key]), _sig(est.standard_errors_.get(key, math.nan))]
            rows.append({"name": _PARAM_NAMES.get(key, key), "cells": cells})
        ll = [c for m in models for c in ((_sig(get(m).log_likelihood_), "") if m is not None else ("–", ""))]
        nn = [c for m in models for c in ((_int(get(m).n_customers_), "") if m is not None else ("–", ""))]
        rows.append({"name": _("Log-likelihood"), "cells": ll})
        rows.append({"name": _("Customers fitted"), "cells": nn})
        return rows

    first = next((m for m in models if m is not None), None)
    purchase_title = ""
    if first is not None:
        purchase_title = (
            _("BG/NBD (purchases and drop-out)")
            if first.model == "bgnbd"
            else _("Pareto/NBD (purchases and drop-out)")
        )
    return {
        "purchase_title": purchase_title,
        "purchase": block(lambda m: m.purchases),
        "spend": block(lambda m: m.spend),
    }


# ------------------------------------------------------------------------------------------- the page


def build_report(
    source: Any,
    columns: Columns | None = None,
    *,
    options: ReportOptions,
    facts: DatabaseFacts | None = None,
    now: dt.datetime | None = None,
) -> str:
    """Compute everything from a transaction log and render the page in ``options.locale``."""
    with use_locale(options.locale) as locale:
        return _build(source, columns or Columns(), options, facts, now, locale)


def _build(
    source: Any,
    cols: Columns,
    options: ReportOptions,
    facts: DatabaseFacts | None,
    now: dt.datetime | None,
    locale: str,
) -> str:
    fmt = _Fmt(options.currency, options.amounts_in_minor)
    s_day = summary(source, cols, time_unit="day", returns=options.returns)
    first_day = pd.Timestamp(s_day["first_purchase"].min())
    last_day = pd.Timestamp(s_day["last_purchase"].max())
    cal_end = options.calibration_end or default_calibration_end(first_day, last_day)

    fitted: FittedModels | None
    week_summary = s_day.assign(recency=s_day["recency"] / 7.0, T=s_day["T"] / 7.0)
    try:
        fitted = fit_summary(week_summary, time_unit="week", model=options.model)
    except AnalyticsError:
        fitted = None
    cust, quintile = _scored_customers(s_day, fitted, options)
    try:
        validation: _Validation | None = _validate(source, cols, cal_end, options)
        validation_problem = ""
    except AnalyticsError as exc:
        validation, validation_problem = None, exc.message

    d = daily(transactions(source, cols, returns=options.returns)).execute()
    risk = at_risk(cust) if fitted is not None else None
    labels = _labels(options)
    model_name = "BG/NBD" if options.model == "bgnbd" else "Pareto/NBD"
    facts_sales = facts.sales if facts is not None else None
    context: dict[str, Any] = {
        "lang": locale,
        "t": labels,
        "subtitle": _(
            "{source} · {first} – {last} · amounts in {currency} · model {model}",
            source=options.source_label or _("product database"),
            first=_date(first_day),
            last=_date(last_day),
            currency=options.currency,
            model=model_name,
        ),
        "made": _(
            "Scores as of {day}; made {when}.",
            day=_date(last_day),
            when=_date(now or dt.datetime.now(dt.UTC)),
        ),
        "kpis": _kpis(cust, risk, fmt, options),
        "sales": _sales_section(facts_sales, options.currency) if facts_sales is not None else None,
        "grid": _rfm_grid(quintile),
        "segments": _segments(cust, fmt),
        "risk": _risk_section(risk, cust, fmt, options, facts) if risk is not None else None,
        "alive": _alive_section(cust, validation, options) if fitted is not None else None,
        "clv": _clv_section(cust, fmt, options) if fitted is not None else None,
        "cohorts": _cohort_section(d, options),
        "validation": _validation_section(validation, options) if validation is not None else None,
        "validation_problem": _(
            "The model could not be checked on a holdout period: {problem}", problem=validation_problem
        )
        if validation_problem
        else "",
        "params": _param_rows([fitted, validation.fitted if validation else None]),
        "params_note": _(
            "Time unit: week. Calibration end: {end}. Standard errors from the inverse of the observed "
            "information matrix.",
            end=_date(cal_end),
        ),
    }
    template = resources.files("loyalty.analytics").joinpath("report.html.j2").read_text(encoding="utf-8")
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    return env.from_string(template).render(**context)
