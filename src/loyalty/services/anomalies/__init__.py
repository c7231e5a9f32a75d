"""Anomaly detection for a chain: its rules, the scan that raises flags, the review queue, and
suspended redemptions.

`scan` reads a period's activity and writes flags (at most one open flag per subject and kind, so a
rerun adds nothing twice); `list_flags`/`get_flag`/`review` are the queue (approve, optionally
suspending the member's redemptions, or reject), `get_rules`/`set_rules` the chain's thresholds,
`lift` ends a suspension. Every change is audited (`services.audit`). The detection itself is
:mod:`loyalty.analytics.anomalies`; the scan runs as the `anomaly_scan` job for the console and the
API. Nothing heavy is imported here: the points service imports the suspension check.
"""

from __future__ import annotations

from loyalty.services.anomalies.flags import (
    DECISIONS,
    SORTS,
    Flag,
    FlagFilter,
    FlagPage,
    get_flag,
    list_flags,
    open_counts,
    review,
)
from loyalty.services.anomalies.rules import get_rules, set_rules
from loyalty.services.anomalies.scan import DEFAULT_DAYS, MAX_DAYS, STAGES, ScanResult, period, scan
from loyalty.services.anomalies.suspensions import (
    Suspension,
    lift,
    list_suspensions,
    refuse_if_suspended,
    suspension_of,
)

__all__ = [
    "DECISIONS",
    "DEFAULT_DAYS",
    "MAX_DAYS",
    "SORTS",
    "STAGES",
    "Flag",
    "FlagFilter",
    "FlagPage",
    "ScanResult",
    "Suspension",
    "get_flag",
    "get_rules",
    "lift",
    "list_flags",
    "list_suspensions",
    "open_counts",
    "period",
    "refuse_if_suspended",
    "review",
    "scan",
    "set_rules",
    "suspension_of",
]
