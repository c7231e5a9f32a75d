"""Store targets: a month's chain target per metric broken down to the stores (by last year's share,
the trailing 12 months, equally, or by hand), followed day by day against the time elapsed in each
store's zone, with forecasts to the month's end, league tables and behind-target alerts.

The plans are versioned (`plans`), the follow-up reads the KPIs' own figures (`progress`), and the
alert thresholds are the chain's to change (`alerts`). Read by the API, the CLI and the console.
"""

from __future__ import annotations

from loyalty.services.targets.alerts import (
    DEFAULT_BEHIND_POINTS,
    DEFAULT_FORECAST_PCT,
    alert_rules,
    month_alerts,
    set_alert_rules,
)
from loyalty.services.targets.inputs import this_month
from loyalty.services.targets.plans import (
    MAX_TARGET,
    current_plan,
    edit_targets,
    plan_history,
    set_plan,
)
from loyalty.services.targets.progress import FORECAST_WEEKS, league, month_progress
from loyalty.services.targets.schemas import (
    BREAKDOWN_METHODS,
    METRICS,
    Alert,
    AlertRules,
    GroupProgress,
    League,
    LeagueRow,
    Metric,
    Plan,
    Progress,
    Standing,
    StoreProgress,
    StoreTarget,
)

__all__ = [
    "BREAKDOWN_METHODS",
    "DEFAULT_BEHIND_POINTS",
    "DEFAULT_FORECAST_PCT",
    "FORECAST_WEEKS",
    "MAX_TARGET",
    "METRICS",
    "Alert",
    "AlertRules",
    "GroupProgress",
    "League",
    "LeagueRow",
    "Metric",
    "Plan",
    "Progress",
    "Standing",
    "StoreProgress",
    "StoreTarget",
    "alert_rules",
    "current_plan",
    "edit_targets",
    "league",
    "month_alerts",
    "month_progress",
    "plan_history",
    "set_alert_rules",
    "set_plan",
    "this_month",
]
