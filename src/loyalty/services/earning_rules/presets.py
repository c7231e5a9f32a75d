"""Presets: the common earning rules as definitions a marketer starts from and edits.

Each preset is one or a few rules in the form `domain.programme.rules.parse_rule` reads (and the
programme's YAML holds): a points programme's category multipliers, the member day (double points on
the 8th of each month), the birthday month (double points), a minimum-spend bonus (满额赠积分, the
points counterpart of a 满减 promotion) and a visit streak (four weeks in a row). Their titles and
rule names are written in the reader's language (the web catalog), the rest is data; categories are
examples to replace with the chain's.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from loyalty.domain.errors import NotFound
from loyalty.i18n import marker, translate

N_ = marker("web")
DOMAIN = "web"


@dataclass(frozen=True)
class Preset:
    """A named starting point: what it is for, and its rules (names as English templates)."""

    code: str
    title: str
    description: str
    rules: tuple[dict[str, Any], ...]


PRESETS: tuple[Preset, ...] = (
    Preset(
        code="points-programme",
        title=N_("Points programme: category multipliers"),
        description=N_(
            "Some categories earn more than the base rate, one earns nothing; replace the categories "
            "with your own."
        ),
        rules=(
            {
                "code": "bakery-x15",
                "name": N_("1.5× points on bakery"),
                "kind": "multiplier",
                "multiplier_pct": 150,
                "priority": 40,
                "when": {"categories": ["烘焙"]},
            },
            {
                "code": "gift-box-bonus",
                "name": N_("2 extra points per yuan on gift boxes"),
                "kind": "bonus_per_unit",
                "points_per_unit": 2,
                "priority": 40,
                "when": {"categories": ["礼盒"]},
            },
            {
                "code": "no-gift-cards",
                "name": N_("No points on gift cards"),
                "kind": "exclude",
                "when": {"categories": ["gift_card"]},
            },
        ),
    ),
    Preset(
        code="member-day",
        title=N_("Member day: double points on the 8th"),
        description=N_("Every 8th of the month, in the store's time zone, members earn double points."),
        rules=(
            {
                "code": "member-day",
                "name": N_("Member day: double points on the 8th"),
                "kind": "multiplier",
                "multiplier_pct": 200,
                "priority": 20,
                "when": {"member_day": {"days_of_month": [8]}},
            },
        ),
    ),
    Preset(
        code="birthday",
        title=N_("Birthday month: double points"),
        description=N_("In the month of their birthday members earn double points."),
        rules=(
            {
                "code": "birthday-month",
                "name": N_("Birthday month: double points"),
                "kind": "multiplier",
                "multiplier_pct": 200,
                "priority": 30,
                "when": {"birthday": "month"},
            },
        ),
    ),
    Preset(
        code="min-spend-bonus",
        title=N_("Spend 200, get 100 bonus points"),
        description=N_(
            "A sale of 200 or more (excluded items left out) earns 100 points on top, shared over its "
            "lines so that a return takes back its share."
        ),
        rules=(
            {
                "code": "spend-200-bonus",
                "name": N_("Spend 200, get 100 bonus points"),
                "kind": "fixed_bonus",
                "points": 100,
                "priority": 50,
                "when": {"min_spend": "200"},
            },
        ),
    ),
    Preset(
        code="visit-streak",
        title=N_("Four weeks in a row: 200 bonus points"),
        description=N_(
            "A member who buys in four weeks in a row earns 200 points on top with the first purchase "
            "of the fourth week, and again every fourth week while the streak goes on; a week without "
            "a purchase starts it again."
        ),
        rules=(
            {
                "code": "four-weeks-running",
                "name": N_("Four weeks in a row: 200 bonus points"),
                "kind": "fixed_bonus",
                "points": 200,
                "priority": 60,
                "when": {"visit_streak": {"periods": 4, "per": "week"}},
            },
        ),
    ),
)


def preset(code: str) -> Preset:
    """The preset `code` (PRESET_NOT_FOUND otherwise)."""
    for p in PRESETS:
        if p.code == code:
            return p
    raise NotFound("PRESET_NOT_FOUND", "no preset {code}", {"code": code})


def preset_rules(code: str, locale: str | None = None) -> list[dict[str, Any]]:
    """The preset's rules as definitions to edit, their names in `locale` (None: the current one)."""
    rules = [copy.deepcopy(r) for r in preset(code).rules]
    for rule in rules:
        rule["name"] = translate(DOMAIN, rule["name"], locale)
    return rules


def title(p: Preset, locale: str | None = None) -> str:
    """The preset's title in `locale` (None: the current one)."""
    return translate(DOMAIN, p.title, locale)


def description(p: Preset, locale: str | None = None) -> str:
    """What the preset does, in `locale` (None: the current one)."""
    return translate(DOMAIN, p.description, locale)
