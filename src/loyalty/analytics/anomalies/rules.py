"""The anomaly rules a chain can set: each rule's code, what it looks at, its parameters and defaults.

Seven threshold rules and two statistical methods, each a :class:`Rule` with named numeric
parameters. A chain keeps its changes (``loyalty.services.anomalies.rules``); :func:`resolve` lays them
over the defaults and :func:`validated` checks a change, naming the parameter and its allowed range.
A window parameter of 0 turns that window off (``points_earned`` with ``week: 0`` checks days and
months only).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from loyalty.domain.errors import InvalidInput, field_error
from loyalty.i18n import marker

N_ = marker("report")

RuleKind = Literal["threshold", "statistical"]
Subject = Literal["member", "staff"]


@dataclass(frozen=True)
class Param:
    """One number of a rule: its name, words, default and the range a chain may set."""

    name: str
    label: str
    default: float
    minimum: float
    maximum: float
    integer: bool = True

    def check(self, value: Any, where: str) -> float | int:
        """`value` as this parameter's number, or INVALID_INPUT naming `where` and the range."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInput(
                "ANOMALY_RULE_INVALID",
                "the anomaly rules are not valid",
                {"errors": [field_error(where, "must be a number")]},
            )
        if self.integer and float(value) != int(value):
            raise InvalidInput(
                "ANOMALY_RULE_INVALID",
                "the anomaly rules are not valid",
                {"errors": [field_error(where, "must be a whole number")]},
            )
        if not (self.minimum <= value <= self.maximum) or value != value:
            raise InvalidInput(
                "ANOMALY_RULE_INVALID",
                "the anomaly rules are not valid",
                {
                    "errors": [
                        field_error(
                            where,
                            "must be between {minimum} and {maximum}",
                            {"minimum": _plain(self.minimum), "maximum": _plain(self.maximum)},
                        )
                    ]
                },
            )
        return int(value) if self.integer else float(value)


def _plain(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


@dataclass(frozen=True)
class Rule:
    """A rule (or statistical method): what it flags, who (members or staff), and its parameters."""

    code: str
    kind: RuleKind
    subject: Subject
    title: str
    description: str
    params: tuple[Param, ...]
    enabled: bool = True

    def param(self, name: str) -> Param:
        return next(p for p in self.params if p.name == name)

    def defaults(self) -> dict[str, float | int]:
        return {p.name: (int(p.default) if p.integer else p.default) for p in self.params}


_WINDOW_MAX = 100_000_000
RULES: tuple[Rule, ...] = (
    Rule(
        "points_earned",
        "threshold",
        "member",
        N_("Points earned"),
        N_("Points a member earns from purchases in one day, week or month (0 turns a window off)."),
        (
            Param("day", N_("Points a day"), 5_000, 0, _WINDOW_MAX),
            Param("week", N_("Points a week"), 12_000, 0, _WINDOW_MAX),
            Param("month", N_("Points a month"), 30_000, 0, _WINDOW_MAX),
        ),
    ),
    Rule(
        "points_spent",
        "threshold",
        "member",
        N_("Points redeemed"),
        N_("Points a member redeems in one day, week or month (0 turns a window off)."),
        (
            Param("day", N_("Points a day"), 5_000, 0, _WINDOW_MAX),
            Param("week", N_("Points a week"), 12_000, 0, _WINDOW_MAX),
            Param("month", N_("Points a month"), 30_000, 0, _WINDOW_MAX),
        ),
    ),
    Rule(
        "velocity",
        "threshold",
        "member",
        N_("Velocity"),
        N_("Purchases and redemptions of one member within any 60 minutes."),
        (Param("per_hour", N_("Transactions within an hour"), 6, 2, 1_000),),
    ),
    Rule(
        "shared_card",
        "threshold",
        "member",
        N_("Shared card"),
        N_(
            "One card used by several people: in-store purchases in two cities too close in time to "
            "travel between them (at least a few times), or in many stores on one day."
        ),
        (
            Param("minutes", N_("Minutes between two cities"), 90, 1, 24 * 60),
            Param("min_pairs", N_("Least such pairs"), 2, 1, 1_000),
            Param("stores_per_day", N_("Stores in one day"), 4, 2, 1_000),
        ),
    ),
    Rule(
        "return_ratio",
        "threshold",
        "member",
        N_("Return ratio"),
        N_("The share of what a member bought in the period that they returned."),
        (
            Param("ratio", N_("Share returned"), 0.6, 0.01, 1.0, integer=False),
            Param("min_purchases", N_("Least purchases"), 3, 1, 10_000),
        ),
    ),
    Rule(
        "after_hours",
        "threshold",
        "member",
        N_("Redemptions after hours"),
        N_("Redemptions at night in the store's time zone (from the start hour to the end hour)."),
        (
            Param("start_hour", N_("From (hour)"), 23, 0, 23),
            Param("end_hour", N_("To (hour)"), 6, 0, 23),
            Param("min_count", N_("Least redemptions"), 1, 1, 1_000),
        ),
    ),
    Rule(
        "staff_adjustments",
        "threshold",
        "staff",
        N_("Staff adjustments"),
        N_("Manual points adjustments (points:adjust) made by one staff member in a day or a month."),
        (
            Param("count_day", N_("Adjustments a day"), 10, 0, 1_000_000),
            Param("points_day", N_("Points a day"), 10_000, 0, _WINDOW_MAX),
            Param("points_month", N_("Points a month"), 50_000, 0, _WINDOW_MAX),
        ),
    ),
    Rule(
        "robust_z",
        "statistical",
        "member",
        N_("Robust z-score"),
        N_(
            "How far a member's figure for the period lies from the chain's median, in robust "
            "standard deviations (median and MAD, on the log scale)."
        ),
        (
            Param("threshold", N_("Robust z from"), 4.0, 2.0, 100.0, integer=False),
            Param("min_members", N_("Least members"), 30, 5, 1_000_000),
        ),
    ),
    Rule(
        "isolation_forest",
        "statistical",
        "member",
        N_("Isolation forest"),
        N_(
            "Members whose combination of figures is rare: an isolation forest (seeded) isolates "
            "them in few random splits; its score runs from 0 to 1."
        ),
        (
            Param("min_score", N_("Score from"), 0.66, 0.5, 1.0, integer=False),
            Param("min_members", N_("Least members"), 50, 10, 1_000_000),
            Param("seed", N_("Seed"), 0, 0, 2**31 - 1),
        ),
    ),
)
RULE_CODES: tuple[str, ...] = tuple(r.code for r in RULES)
BY_CODE: dict[str, Rule] = {r.code: r for r in RULES}


@dataclass(frozen=True)
class RuleSetting:
    """A rule as it runs: on or off, and every parameter's value."""

    rule: Rule
    enabled: bool
    params: dict[str, float | int]
    customised: bool = False

    @property
    def code(self) -> str:
        return self.rule.code

    def __getitem__(self, name: str) -> float | int:
        return self.params[name]


@dataclass(frozen=True)
class RuleSet:
    """Every rule's setting, by code."""

    settings: dict[str, RuleSetting] = field(default_factory=dict)

    def __getitem__(self, code: str) -> RuleSetting:
        return self.settings[code]

    def on(self, code: str) -> bool:
        return self.settings[code].enabled

    def as_stored(self) -> dict[str, dict[str, Any]]:
        return {c: {"enabled": s.enabled, "params": dict(s.params)} for c, s in self.settings.items()}


def resolve(stored: Mapping[str, Mapping[str, Any]] | None = None) -> RuleSet:
    """The rules as they run: the defaults, with each stored rule's switch and parameters laid over.

    A stored parameter the rule no longer has is ignored; one it gained since keeps its default.
    """
    out: dict[str, RuleSetting] = {}
    for rule in RULES:
        row = (stored or {}).get(rule.code)
        params = rule.defaults()
        enabled = rule.enabled
        if row is not None:
            enabled = bool(row.get("enabled", enabled))
            kept = row.get("params") or {}
            for p in rule.params:
                if p.name in kept:
                    value = kept[p.name]
                    params[p.name] = int(value) if p.integer else float(value)
        out[rule.code] = RuleSetting(rule, enabled, params, customised=row is not None)
    return RuleSet(out)


def validated(current: RuleSet, changes: Mapping[str, Any]) -> dict[str, RuleSetting]:
    """The rules `changes` sets (`{code: {"enabled": bool, "params": {name: number}}}`), each merged
    over its current setting; ANOMALY_RULE_INVALID naming the first bad field (`rules.velocity.per_hour`)."""

    def bad(where: str, message: str, values: Mapping[str, Any] | None = None) -> InvalidInput:
        return InvalidInput(
            "ANOMALY_RULE_INVALID",
            "the anomaly rules are not valid",
            {"errors": [field_error(where, message, values)]},
        )

    if not isinstance(changes, Mapping) or not changes:
        raise bad("rules", "name at least one rule")
    out: dict[str, RuleSetting] = {}
    for code, change in changes.items():
        where = f"rules.{code}"
        rule = BY_CODE.get(str(code))
        if rule is None:
            raise bad(where, "no such rule; the rules are {codes}", {"codes": ", ".join(RULE_CODES)})
        if not isinstance(change, Mapping):
            raise bad(where, "give enabled and/or params")
        unknown = set(change) - {"enabled", "params"}
        if unknown:
            raise bad(f"{where}.{sorted(unknown)[0]}", "unknown field; give enabled and/or params")
        setting = current[rule.code]
        enabled = setting.enabled
        if "enabled" in change:
            if not isinstance(change["enabled"], bool):
                raise bad(f"{where}.enabled", "must be true or false")
            enabled = change["enabled"]
        params = dict(setting.params)
        given = change.get("params") or {}
        if not isinstance(given, Mapping):
            raise bad(f"{where}.params", "give each parameter as name: number")
        names = {p.name for p in rule.params}
        for name, value in given.items():
            if name not in names:
                raise bad(
                    f"{where}.params.{name}",
                    "no such parameter; {rule} has {names}",
                    {"rule": rule.code, "names": ", ".join(p.name for p in rule.params)},
                )
            params[name] = rule.param(name).check(value, f"{where}.params.{name}")
        out[rule.code] = RuleSetting(rule, enabled, params, customised=True)
    return out
