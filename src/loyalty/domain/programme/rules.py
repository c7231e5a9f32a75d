"""Earning rules as data: what a marketer configures, checked when it is defined, never at sale time.

A rule is one of four kinds, applied to the lines its conditions select:

- ``multiplier``: the lines earn ``multiplier_pct`` % of their base points (200 = double points); the
  rule's entry is the extra part, so "base 30 + member day 30" explains a doubled line;
- ``bonus_per_unit``: ``points_per_unit`` extra points per currency unit of the lines' spend;
- ``fixed_bonus``: ``points`` once per sale, shared over the selected lines in proportion to their
  amounts (largest remainder), so that a returned line takes back its own share;
- ``exclude``: the selected lines earn nothing, neither base points nor any rule's;
- ``event_bonus``: ``points`` once per member when an event happens (``on``: registration, or the
  profile completed), at the registration store (``when.stores``) — no sale involved.

Conditions (``when``) select sales (stores, channels, tiers, member day, birthday, hours, minimum spend,
purchase number, visit streak) and lines (categories, SKUs, brands); every condition left out selects
everything. Rules run in ascending
``priority`` (ties: by code); a rule with ``stop`` keeps the lines it selected from every later rule.

The form here is the one a programme's YAML, the API and the CLI take (`parse_rule`); errors name the
field (``rules[2].when.hours``) and say why, in the `InvalidInput` form every entry point shows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from loyalty.domain.programme.fields import FieldErrors, money, names, whole_number

RuleKind = Literal["multiplier", "bonus_per_unit", "fixed_bonus", "exclude", "event_bonus"]
RULE_KINDS: tuple[RuleKind, ...] = ("multiplier", "bonus_per_unit", "fixed_bonus", "exclude", "event_bonus")
#: what a sale's rules apply to (an event bonus is given when its event happens, not on a sale)
SALE_KINDS = frozenset({"multiplier", "bonus_per_unit", "fixed_bonus", "exclude"})
MemberEvent = Literal["registration", "profile_completed"]
MEMBER_EVENTS: tuple[MemberEvent, ...] = ("registration", "profile_completed")
BirthdayWindow = Literal["day", "week", "month"]
BIRTHDAY_WINDOWS: tuple[BirthdayWindow, ...] = ("day", "week", "month")

#: limits of common sense: a rule beyond them is a typing mistake, refused when it is defined
MAX_MULTIPLIER_PCT = 1_000  # 10× the base points
MAX_POINTS_PER_UNIT = 1_000
MAX_FIXED_POINTS = 1_000_000
MAX_PRIORITY = 10_000
_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_HOURS = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")
WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class MemberDay:
    """Days of the programme's member day (会员日), in the store's time zone; any of them matches.

    ``days_of_month``: 1–31, or -1 for the month's last day (a 31 matches only months that have one);
    ``weekdays``: ISO weekdays 1 (Monday) – 7, every week; ``nth_weekdays``: (weekday, n) with n 1–5,
    or -1 for the month's last such weekday ("the last Friday" is (5, -1)).
    """

    days_of_month: tuple[int, ...] = ()
    weekdays: tuple[int, ...] = ()
    nth_weekdays: tuple[tuple[int, int], ...] = ()


Period = Literal["day", "week", "month", "year", "ever"]
PERIODS: tuple[Period, ...] = ("day", "week", "month", "year", "ever")


@dataclass(frozen=True)
class PurchaseNumber:
    """Which of the member's purchases in a period (the store's calendar) a sale must be: the `n`th
    (1: the first), or every `every`th. Purchases count by time, each of the member's sales once."""

    per: Period = "ever"
    n: int = 0
    every: int = 0


#: the periods a visit streak counts in (the store's calendar; a streak "ever" would be one period)
STREAK_PERIODS: tuple[Period, ...] = ("day", "week", "month", "year")


@dataclass(frozen=True)
class VisitStreak:
    """A streak of `periods` consecutive periods (days, ISO weeks, months or years of the store's
    calendar) in each of which the member bought: the member's first purchase of a period selects
    when the run of periods with a purchase ending with its own is `periods` long, or a multiple of it
    (a weekly shopper's 4th, 8th, 12th … week in a row), so a streak that goes on keeps earning and one
    that breaks starts again from one."""

    per: Period
    periods: int


@dataclass(frozen=True)
class Conditions:
    """What a rule applies to; an empty field selects everything (see the module docstring)."""

    stores: frozenset[str] = frozenset()  # store codes
    channels: frozenset[str] = frozenset()
    tiers: frozenset[str] = frozenset()  # tier codes
    categories: frozenset[str] = frozenset()
    skus: frozenset[str] = frozenset()
    brands: frozenset[str] = frozenset()
    member_day: MemberDay | None = None
    birthday: BirthdayWindow | None = None
    #: local minutes of the day [start, end); end < start wraps past midnight
    hours: tuple[int, int] | None = None
    #: the sale's spend on the selected lines must reach this (minor units)
    min_spend_minor: int = 0
    purchase_number: PurchaseNumber | None = None
    visit_streak: VisitStreak | None = None


@dataclass(frozen=True)
class Limits:
    """What a rule may give at most: per member per period, and in all (per store or chain-wide) per
    period, the periods in the store's calendar (ISO weeks). 0: no limit. A limit counts the points
    given; a return taking points back does not give the room back (buy-and-return cannot farm it)."""

    member_points: int = 0
    member_period: Period = "month"
    budget_points: int = 0
    budget_period: Period = "ever"
    budget_per_store: bool = False

    def __bool__(self) -> bool:
        return bool(self.member_points or self.budget_points)


@dataclass(frozen=True)
class RuleSpec:
    """One earning rule as defined (the versioned row adds its id, version and dates)."""

    code: str
    name: str
    kind: RuleKind
    priority: int = 100
    stop: bool = False
    multiplier_pct: int = 100
    points_per_unit: int = 0
    points: int = 0
    on: MemberEvent | None = None  # an event bonus's event
    when: Conditions = field(default_factory=Conditions)
    limits: Limits = field(default_factory=Limits)

    def as_dict(self, minor_per_unit: int = 100) -> dict[str, Any]:
        """The rule in the form `parse_rule` reads (YAML, API, CLI): only what was set."""
        out: dict[str, Any] = {"code": self.code, "name": self.name, "kind": self.kind}
        if self.priority != 100:
            out["priority"] = self.priority
        if self.stop:
            out["stop"] = True
        if self.kind == "multiplier":
            out["multiplier_pct"] = self.multiplier_pct
        elif self.kind == "bonus_per_unit":
            out["points_per_unit"] = self.points_per_unit
        elif self.kind in ("fixed_bonus", "event_bonus"):
            out["points"] = self.points
        if self.on is not None:
            out["on"] = self.on
        when = _conditions_dict(self.when, minor_per_unit)
        if when:
            out["when"] = when
        if self.limits:
            out["limits"] = _limits_dict(self.limits)
        return out


def _limits_dict(limits: Limits) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if limits.member_points:
        out["per_member"] = {"points": limits.member_points, "per": limits.member_period}
    if limits.budget_points:
        budget: dict[str, Any] = {"points": limits.budget_points, "per": limits.budget_period}
        if limits.budget_per_store:
            budget["per_store"] = True
        out["budget"] = budget
    return out


def _conditions_dict(c: Conditions, minor_per_unit: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("stores", "channels", "tiers", "categories", "skus", "brands"):
        values = getattr(c, name)
        if values:
            out[name] = sorted(values)
    if c.member_day is not None:
        day: dict[str, Any] = {}
        if c.member_day.days_of_month:
            day["days_of_month"] = ["last" if d == -1 else d for d in c.member_day.days_of_month]
        if c.member_day.weekdays:
            day["weekdays"] = [WEEKDAY_NAMES[d - 1] for d in c.member_day.weekdays]
        if c.member_day.nth_weekdays:
            day["nth_weekdays"] = [
                {"weekday": WEEKDAY_NAMES[w - 1], "n": "last" if n == -1 else n}
                for w, n in c.member_day.nth_weekdays
            ]
        out["member_day"] = day
    if c.birthday is not None:
        out["birthday"] = c.birthday
    if c.hours is not None:
        (a, b) = c.hours
        out["hours"] = f"{a // 60:02d}:{a % 60:02d}-{b // 60:02d}:{b % 60:02d}"
    if c.min_spend_minor:
        out["min_spend"] = str(Decimal(c.min_spend_minor) / minor_per_unit)
    if c.purchase_number is not None:
        number = c.purchase_number
        out["purchase_number"] = {"n": number.n} if number.n else {"every": number.every}
        out["purchase_number"]["per"] = number.per
    if c.visit_streak is not None:
        out["visit_streak"] = {"periods": c.visit_streak.periods, "per": c.visit_streak.per}
    return out


def _weekday(raw: Any) -> int | None:
    if isinstance(raw, int) and not isinstance(raw, bool) and 1 <= raw <= 7:
        return raw
    if isinstance(raw, str) and raw.lower()[:3] in WEEKDAY_NAMES:
        return WEEKDAY_NAMES.index(raw.lower()[:3]) + 1
    return None


def _member_day(raw: Any, errors: FieldErrors) -> MemberDay | None:
    name = "when.member_day"
    if raw is None:
        return None
    if not isinstance(raw, dict) or not set(raw) <= {"days_of_month", "weekdays", "nth_weekdays"}:
        errors.add(name, "takes days_of_month, weekdays and/or nth_weekdays")
        return None
    days: list[int] = []
    for d in raw.get("days_of_month") or []:
        if d == "last":
            days.append(-1)
        elif isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= 31:
            days.append(d)
        else:
            errors.add(f"{name}.days_of_month", "days are 1 to 31 or 'last' (got {value})", {"value": d})
    weekdays: list[int] = []
    for w in raw.get("weekdays") or []:
        found = _weekday(w)
        if found is None:
            errors.add(f"{name}.weekdays", "weekdays are mon … sun or 1 to 7 (got {value})", {"value": w})
        else:
            weekdays.append(found)
    nth: list[tuple[int, int]] = []
    for item in raw.get("nth_weekdays") or []:
        w = _weekday(item.get("weekday")) if isinstance(item, dict) else None
        n = item.get("n") if isinstance(item, dict) else None
        n = -1 if n == "last" else n
        if w is None or not isinstance(n, int) or isinstance(n, bool) or n not in (-1, 1, 2, 3, 4, 5):
            errors.add(f"{name}.nth_weekdays", "each needs a weekday and n = 1 to 5 or 'last'")
        else:
            nth.append((w, n))
    if not (days or weekdays or nth):
        errors.add(name, "names no day")
    return MemberDay(tuple(sorted(set(days))), tuple(sorted(set(weekdays))), tuple(sorted(set(nth))))


def _hours(raw: Any, errors: FieldErrors) -> tuple[int, int] | None:
    if raw is None:
        return None
    found = _HOURS.match(raw) if isinstance(raw, str) else None
    if found is None:
        errors.add("when.hours", "must read HH:MM-HH:MM (got {value})", {"value": raw})
        return None
    h1, m1, h2, m2 = (int(g) for g in found.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2 != 0):
        errors.add("when.hours", "must read HH:MM-HH:MM (got {value})", {"value": raw})
        return None
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if start == end:
        errors.add("when.hours", "starts and ends at the same time: it would select no sale")
    return start, end


def _purchase_number(raw: Any, errors: FieldErrors) -> PurchaseNumber | None:
    name = "when.purchase_number"
    if raw is None:
        return None
    if not isinstance(raw, dict) or not set(raw) <= {"n", "every", "per"} or ("n" in raw) == ("every" in raw):
        errors.add(name, "takes n (the nth purchase) or every (every nth purchase), and per")
        return None
    per = _period(raw.get("per", "ever"), f"{name}.per", errors, PERIODS, "ever")
    if "n" in raw:
        return PurchaseNumber(per, n=whole_number(raw["n"], f"{name}.n", errors, 1, 1000))
    return PurchaseNumber(per, every=whole_number(raw["every"], f"{name}.every", errors, 2, 1000))


def _visit_streak(raw: Any, errors: FieldErrors) -> VisitStreak | None:
    name = "when.visit_streak"
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) != {"periods", "per"}:
        errors.add(name, "takes periods (how many in a row) and per (day, week, month or year)")
        return None
    per = _period(raw["per"], f"{name}.per", errors, STREAK_PERIODS, "week")
    return VisitStreak(per, whole_number(raw["periods"], f"{name}.periods", errors, 2, 1000))


def _period(raw: Any, name: str, errors: FieldErrors, allowed: tuple[Period, ...], default: Period) -> Period:
    """`raw` if it is one of the `allowed` periods; else the error, naming them, and `default`."""
    for period in allowed:
        if raw == period:
            return period
    errors.add(name, "must be one of {periods} (got {value})", {"periods": ", ".join(allowed), "value": raw})
    return default


_FIELDS = {
    "code",
    "name",
    "kind",
    "priority",
    "stop",
    "multiplier_pct",
    "points_per_unit",
    "points",
    "when",
    "limits",
    "on",
}
_WHEN = {
    "stores",
    "channels",
    "tiers",
    "categories",
    "skus",
    "brands",
    "member_day",
    "birthday",
    "hours",
    "min_spend",
    "purchase_number",
    "visit_streak",
}


def parse_rule(raw: Any, prefix: str = "", minor_per_unit: int = 100) -> RuleSpec:
    """A rule from its dict form (YAML, JSON); `InvalidInput` naming every bad field otherwise.

    `prefix` goes before each field's name (``rules[3].``) when the rule is one of a programme's.
    """
    errors = FieldErrors(prefix)
    if not isinstance(raw, dict):
        errors.add("", "a rule is a mapping of fields")
        errors.raise_any()
    unknown = sorted(set(raw) - _FIELDS)
    for name in unknown:
        errors.add(name, "is not a field of a rule")
    code = raw.get("code")
    if not isinstance(code, str) or not _CODE.match(code):
        errors.add("code", "must be 1 to 40 lowercase letters, digits, - or _ (got {value})", {"value": code})
    name = raw.get("name", code)
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        errors.add("name", "must be a text of 1 to 200 characters")
    kind = raw.get("kind")
    if kind not in RULE_KINDS:
        errors.add(
            "kind", "must be one of {kinds} (got {value})", {"kinds": ", ".join(RULE_KINDS), "value": kind}
        )
    priority = whole_number(raw.get("priority", 100), "priority", errors, 0, MAX_PRIORITY)
    stop = raw.get("stop", False)
    if not isinstance(stop, bool):
        errors.add("stop", "must be true or false")
    multiplier, per_unit, points = 100, 0, 0
    if kind == "multiplier":
        multiplier = whole_number(
            raw.get("multiplier_pct"), "multiplier_pct", errors, 101, MAX_MULTIPLIER_PCT
        )
    elif kind == "bonus_per_unit":
        per_unit = whole_number(raw.get("points_per_unit"), "points_per_unit", errors, 1, MAX_POINTS_PER_UNIT)
    elif kind in ("fixed_bonus", "event_bonus"):
        points = whole_number(raw.get("points"), "points", errors, 1, MAX_FIXED_POINTS)
    on = raw.get("on")
    if kind == "event_bonus" and on not in MEMBER_EVENTS:
        errors.add(
            "on", "must be one of {events} (got {value})", {"events": ", ".join(MEMBER_EVENTS), "value": on}
        )
    elif kind != "event_bonus" and on is not None:
        errors.add("on", "applies to an event bonus only")
    for other, applies in (
        ("multiplier_pct", kind == "multiplier"),
        ("points_per_unit", kind == "bonus_per_unit"),
        ("points", kind in ("fixed_bonus", "event_bonus")),
    ):
        if other in raw and not applies:
            errors.add(other, "does not apply to a rule of kind {kind}", {"kind": kind})
    when_raw = raw.get("when") or {}
    if not isinstance(when_raw, dict):
        errors.add("when", "must be a mapping of conditions")
        when_raw = {}
    for name_ in sorted(set(when_raw) - _WHEN):
        errors.add(f"when.{name_}", "is not a condition")
    birthday = when_raw.get("birthday")
    if birthday is not None and birthday not in BIRTHDAY_WINDOWS:
        errors.add("when.birthday", "must be day, week or month (got {value})", {"value": birthday})
        birthday = None
    when = Conditions(
        stores=names(when_raw.get("stores"), "when.stores", errors),
        channels=names(when_raw.get("channels"), "when.channels", errors),
        tiers=names(when_raw.get("tiers"), "when.tiers", errors),
        categories=names(when_raw.get("categories"), "when.categories", errors),
        skus=names(when_raw.get("skus"), "when.skus", errors),
        brands=names(when_raw.get("brands"), "when.brands", errors),
        member_day=_member_day(when_raw.get("member_day"), errors),
        birthday=birthday,
        hours=_hours(when_raw.get("hours"), errors),
        min_spend_minor=money(when_raw.get("min_spend"), "when.min_spend", errors, minor_per_unit),
        purchase_number=_purchase_number(when_raw.get("purchase_number"), errors),
        visit_streak=_visit_streak(when_raw.get("visit_streak"), errors),
    )
    limits = _limits(raw.get("limits"), errors, kind)
    if kind == "event_bonus":
        for name_ in sorted(set(when_raw) - {"stores"}):
            errors.add(f"when.{name_}", "does not apply to an event bonus (it has no sale)")
        if limits.member_points:
            errors.add("limits.per_member", "an event bonus is given once per member already")
    if kind == "exclude" and not (when.categories or when.skus or when.brands):
        errors.add("when", "an exclude rule names the categories, SKUs or brands it excludes")
    errors.raise_any()
    return RuleSpec(
        code=str(code),
        name=str(name).strip(),
        kind=kind,
        priority=priority,
        stop=bool(stop),
        multiplier_pct=multiplier,
        points_per_unit=per_unit,
        points=points,
        on=on if kind == "event_bonus" else None,
        when=when,
        limits=limits,
    )


def _limit(raw: Any, name: str, errors: FieldErrors, default_period: Period) -> tuple[int, Period, bool]:
    if raw is None:
        return 0, default_period, False
    if not isinstance(raw, dict) or not set(raw) <= {"points", "per", "per_store"}:
        errors.add(name, "takes points, per and (for a budget) per_store")
        return 0, default_period, False
    points = whole_number(raw.get("points"), f"{name}.points", errors, 1, 10**12)
    period = _period(raw.get("per", default_period), f"{name}.per", errors, PERIODS, default_period)
    per_store = raw.get("per_store", False)
    if not isinstance(per_store, bool):
        errors.add(f"{name}.per_store", "must be true or false")
        per_store = False
    return points, period, per_store


def _limits(raw: Any, errors: FieldErrors, kind: Any) -> Limits:
    if raw is None:
        return Limits()
    if not isinstance(raw, dict) or not set(raw) <= {"per_member", "budget"}:
        errors.add("limits", "takes per_member and/or budget")
        return Limits()
    if kind == "exclude":
        errors.add("limits", "an exclude rule gives no points to limit")
    member_points, member_period, stray = _limit(raw.get("per_member"), "limits.per_member", errors, "month")
    if stray:
        errors.add("limits.per_member.per_store", "applies to a budget only")
    budget_points, budget_period, per_store = _limit(raw.get("budget"), "limits.budget", errors, "ever")
    return Limits(member_points, member_period, budget_points, budget_period, per_store)
