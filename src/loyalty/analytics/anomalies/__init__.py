"""Anomaly detection: threshold rules a chain sets and statistical detection, each flag with its reason.

The rules and their parameters (:mod:`.rules`), the detection over a period's activity
(:mod:`.detect`: seven threshold rules, robust z-scores by median and MAD (:mod:`.robust`) and a
seeded isolation forest) and the reasons in words (:mod:`.words`). Reading the activity from the
database and keeping the flags and their review is :mod:`loyalty.services.anomalies`.
"""

from __future__ import annotations

from loyalty.analytics.anomalies.detect import (
    FEATURES,
    Activity,
    Detected,
    Finding,
    StoreLabel,
    detect,
    feature_scores,
    member_features,
    subject_key,
)
from loyalty.analytics.anomalies.robust import Centre, centre, robust_z
from loyalty.analytics.anomalies.rules import (
    BY_CODE,
    RULE_CODES,
    RULES,
    Param,
    Rule,
    RuleSet,
    RuleSetting,
    resolve,
    validated,
)
from loyalty.analytics.anomalies.words import FEATURE_NAMES, feature_name, kind_name, reason

__all__ = [
    "BY_CODE",
    "FEATURES",
    "FEATURE_NAMES",
    "RULES",
    "RULE_CODES",
    "Activity",
    "Centre",
    "Detected",
    "Finding",
    "Param",
    "Rule",
    "RuleSet",
    "RuleSetting",
    "StoreLabel",
    "centre",
    "detect",
    "feature_name",
    "feature_scores",
    "kind_name",
    "member_features",
    "reason",
    "resolve",
    "robust_z",
    "subject_key",
    "validated",
]
