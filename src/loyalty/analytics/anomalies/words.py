"""A flag's reason in words, in zh-CN or English: its reason code's template filled with its figures.

The figures are stored as data (`Finding.params`); the words are made when the flag is shown, in the
reader's language, from the templates below (translated in the ``report`` catalog). Points and
counts are grouped per locale, money shown with its currency, shares as percentages:

>>> reason("points_earned_day", {"points": 12400, "day": "2026-11-03", "median": 680.0,
...     "times_median": 18.2, "limit": 5000}, "en")
"Earned 12,400 points on 2026-11-03, 18.2× the chain's median day (680); the limit is 5,000 a day."
"""

from __future__ import annotations

from typing import Any

from loyalty.analytics.anomalies.rules import BY_CODE
from loyalty.i18n import marker, translate

N_ = marker("report")
DOMAIN = "report"

TEMPLATES: dict[str, str] = {
    "points_earned_day": N_(
        "Earned {points} points on {day}, {times} the chain's median day ({median}); "
        "the limit is {limit} a day."
    ),
    "points_earned_week": N_(
        "Earned {points} points in the week from {day}, {times} the chain's median week ({median}); "
        "the limit is {limit} a week."
    ),
    "points_earned_month": N_(
        "Earned {points} points in {month}, {times} the chain's median month ({median}); "
        "the limit is {limit} a month."
    ),
    "points_spent_day": N_(
        "Redeemed {points} points on {day}, {times} the chain's median day ({median}); "
        "the limit is {limit} a day."
    ),
    "points_spent_week": N_(
        "Redeemed {points} points in the week from {day}, {times} the chain's median week ({median}); "
        "the limit is {limit} a week."
    ),
    "points_spent_month": N_(
        "Redeemed {points} points in {month}, {times} the chain's median month ({median}); "
        "the limit is {limit} a month."
    ),
    "velocity": N_(
        "{count} purchases and redemptions within an hour, from {first} to {last}; the limit is {limit}."
    ),
    "shared_card_travel": N_(
        "Card used in {city_a} at {at_a} and in {city_b} at {at_b}, {minutes} minutes apart "
        "(under {limit}); {pairs} such pairs in the period."
    ),
    "shared_card_stores": N_("Card used in {stores} stores on {day}; the limit is {limit} a day."),
    "return_ratio": N_(
        "Returned {ratio} of {total} bought in {purchases} purchases ({returned} with returns); "
        "the limit is {limit}."
    ),
    "after_hours": N_(
        "Redeemed {points} points at night ({start}:00–{end}:00 store time), {count}× in the period, "
        "the first at {first} in {store}."
    ),
    "staff_adjustments_count": N_(
        "{operator} made {count} manual adjustments on {day}, {points} points to {members} members; "
        "the limit is {limit} a day."
    ),
    "staff_adjustments_points_day": N_(
        "{operator} adjusted {points} points by hand on {day}, in {count} adjustments to {members} "
        "members; the limit is {limit} points a day."
    ),
    "staff_adjustments_points_month": N_(
        "{operator} adjusted {points} points by hand in {month}, in {count} adjustments to {members} "
        "members; the limit is {limit} points a month."
    ),
    "robust_z": N_(
        "{feature}: {value}, {times} the chain's median ({median}); robust z-score {z} "
        "(flagged from {threshold})."
    ),
    "isolation_forest": N_(
        "Unlike the chain's other members: isolation score {score} (flagged from {min_score}){details}."
    ),
}
FEATURE = N_("{feature} {value} (median {median})")
#: how many times the median when it is unknown (a median of 0)
NO_TIMES = "–"

FEATURE_NAMES: dict[str, str] = {
    "points_earned": N_("points earned"),
    "max_day_points": N_("most points earned in a day"),
    "points_spent": N_("points redeemed"),
    "redemptions": N_("redemptions"),
    "purchases": N_("purchases"),
    "spend_minor": N_("spend"),
    "refund_ratio": N_("share returned"),
    "stores": N_("stores visited"),
    "adjusted": N_("points added by hand"),
}


def _number(value: Any, locale: str, digits: int = 0) -> str:
    from loyalty.i18n import formats

    return str(formats.number(round(float(value), digits) if digits else round(float(value)), locale, digits))


def _times(value: Any, locale: str) -> str:
    return NO_TIMES if value is None else _number(value, locale, 1) + "×"


def feature_name(name: str, locale: str) -> str:
    known = FEATURE_NAMES.get(name)
    return translate(DOMAIN, known, locale) if known else name


def feature_value(name: str, value: float, locale: str, currency: str = "CNY") -> str:
    """A feature's value as read: money with its currency, a share as a percentage, else a number."""
    from loyalty.i18n import formats

    if name == "spend_minor":
        return formats.money(round(value), currency, locale)
    if name == "refund_ratio":
        return formats.percent(value, locale)
    return _number(value, locale)


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _filled(code: str, params: dict[str, Any], locale: str, operator_name: str | None) -> dict[str, Any]:
    from loyalty.i18n import formats

    p = params
    currency = str(p.get("currency") or "CNY")
    if code.startswith(("points_earned", "points_spent")):
        return {
            "points": _number(p["points"], locale),
            "day": p.get("day", ""),
            "month": str(p.get("day", ""))[:7],
            "median": _number(p.get("median") or 0, locale),
            "times": _times(p.get("times_median"), locale),
            "limit": _number(p["limit"], locale),
        }
    if code == "velocity":
        return {**p, "count": _number(p["count"], locale), "limit": _number(p["limit"], locale)}
    if code.startswith("shared_card"):
        return {**p}
    if code == "return_ratio":
        return {
            "ratio": formats.percent(float(p["ratio"]), locale),
            "total": formats.money(int(p["total_minor"]), currency, locale),
            "purchases": _number(p["purchases"], locale),
            "returned": _number(p["returned"], locale),
            "limit": formats.percent(float(p["limit"]), locale, 0),
        }
    if code == "after_hours":
        return {
            "points": _number(p["points"], locale),
            "count": _number(p["count"], locale),
            "start": f"{int(p['start_hour']):02d}",
            "end": f"{int(p['end_hour']):02d}",
            "first": p.get("first", ""),
            "store": p.get("store", ""),
        }
    if code.startswith("staff_adjustments"):
        return {
            "operator": operator_name or p.get("operator", ""),
            "count": _number(p["count"], locale),
            "points": _number(p["points"], locale),
            "members": _number(p["members"], locale),
            "day": p.get("day", ""),
            "month": p.get("month", ""),
            "limit": _number(p["limit"], locale),
        }
    if code == "robust_z":
        name = str(p["feature"])
        return {
            "feature": _capital(feature_name(name, locale)),
            "value": feature_value(name, float(p["value"]), locale, currency),
            "median": feature_value(name, float(p["median"]), locale, currency),
            "times": _times(p.get("times_median"), locale),
            "z": _number(p["z"], locale, 1),
            "threshold": _number(p["threshold"], locale, 1),
        }
    if code == "isolation_forest":
        parts = [
            translate(
                DOMAIN,
                FEATURE,
                locale,
                feature=feature_name(str(f["feature"]), locale),
                value=feature_value(str(f["feature"]), float(f["value"]), locale, currency),
                median=feature_value(str(f["feature"]), float(f["median"]), locale, currency),
            )
            for f in p.get("features") or []
        ]
        separator = "；" if locale == "zh-CN" else "; "
        return {
            "score": _number(p["score"], locale, 2),
            "min_score": _number(p["min_score"], locale, 2),
            "details": (separator + separator.join(parts)) if parts else "",
        }
    return dict(p)


def reason(code: str, params: dict[str, Any], locale: str, operator_name: str | None = None) -> str:
    """The reason of a flag in `locale`; a code without words (a newer scan's) reads as the code."""
    template = TEMPLATES.get(code)
    if template is None:
        return code
    try:
        return translate(DOMAIN, template, locale, **_filled(code, params, locale, operator_name))
    except (KeyError, ValueError, TypeError):
        return code


def kind_name(code: str, locale: str) -> str:
    """A rule's (or method's) title in `locale`."""
    rule = BY_CODE.get(code)
    return translate(DOMAIN, rule.title, locale) if rule else code
