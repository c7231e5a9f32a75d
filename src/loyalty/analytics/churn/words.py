"""The churn run's words, in zh-CN or English (``report`` catalog): the features, the scores compared,
and why a run has no validation or no purchase model. Written when shown, from what was stored."""

from __future__ import annotations

from loyalty.analytics.churn.run import NO_HISTORY
from loyalty.i18n import marker, translate

N_ = marker("report")
DOMAIN = "report"

#: what a feature measures (the importances' table)
FEATURE_NAMES: dict[str, str] = {
    "recency_days": N_("Days since the last purchase"),
    "visit_days": N_("Purchase days"),
    "orders": N_("Purchases"),
    "spend_minor": N_("Spend, less refunds"),
    "ticket_minor": N_("Spend per purchase"),
    "customer_days": N_("Days since the first purchase"),
    "tenure_days": N_("Days as a member"),
    "gap_mean_days": N_("Mean days between purchase days"),
    "gap_sd_days": N_("Spread of the days between purchase days"),
    "gap_last_days": N_("The last gap between purchase days"),
    "overdue_ratio": N_("Days since the last purchase ÷ the mean gap"),
    "visits_90": N_("Purchase days in the last 90 days"),
    "spend_90_minor": N_("Spend in the last 90 days"),
    "visit_trend": N_("Trend of purchase days (last 90 days against before)"),
    "spend_trend": N_("Trend of spend (last 90 days against before)"),
    "categories": N_("Categories bought"),
    "returns": N_("Returns"),
    "returned_share": N_("Share of spend refunded"),
    "redemptions": N_("Purchases that redeemed points"),
}
#: the churn scores compared on the validation
SCORE_NAMES: dict[str, str] = {
    "model": N_("Churn model (gradient boosting)"),
    "p_alive": N_("1 − P(alive) (BG/NBD purchase model)"),
    "recency": N_("Days since the last purchase"),
}
PROBLEMS: dict[str, str] = {
    NO_HISTORY: N_(
        "No out-of-time check: it trains a model two horizons ({days} days each) back, and too few "
        "members had bought by then, or none of them churned, or all did."
    ),
}


def feature_name(feature: str, locale: str) -> str:
    known = FEATURE_NAMES.get(feature)
    return translate(DOMAIN, known, locale) if known else feature


def score_name(score: str, locale: str) -> str:
    known = SCORE_NAMES.get(score)
    return translate(DOMAIN, known, locale) if known else score


def problem(code: str | None, horizon_days: int, locale: str) -> str:
    """Why the run has no out-of-time check, in words ("" when it has one)."""
    if not code:
        return ""
    known = PROBLEMS.get(code)
    return translate(DOMAIN, known, locale, days=horizon_days) if known else code
