"""Rule limits applied to what the engine gave: per member per period, and budgets per period.

`earn` is pure and stateless; a limit needs what was given before. `clamp` takes the points each
limited rule already gave under each key (the member's, the store's or the chain's, in one period of
the store's calendar) and gives each entry at most the room left, in posting order — line by line,
and within a line in the rules' order — so a batch gives exactly what its sales would give posted one
after another. It returns the clamped entries and what they add to each key, for the caller to store
in the same transaction (under a lock, so that racing tills never exceed a limit).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import date, timedelta

import numpy as np

from loyalty.domain.programme.engine import Earned, Lines, Rule, Sales

#: (rule code, programme id, "member" | "store" | "chain", member or store id (0 for the chain), period)
UsageKey = tuple[str, int, str, int, str]
_EPOCH = date(1970, 1, 1)


def period_key(period: str, local_day: int) -> str:
    """The period holding a local date (days since 1970-01-01): 2026-12-08, 2026-W49, 2026-12, 2026, -."""
    if period == "ever":
        return "-"
    day = _EPOCH + timedelta(days=local_day)
    if period == "day":
        return day.isoformat()
    if period == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return f"{day.year:04d}-{day.month:02d}"
    return f"{day.year:04d}"


def keys_of(rule: Rule, sales: Sales, sale: int) -> list[tuple[UsageKey, int]]:
    """The keys a sale's points under `rule` count against, each with its limit."""
    limits, code, programme = rule.spec.limits, rule.spec.code, rule.programme_id
    day = int(sales.local.days[sale])
    out: list[tuple[UsageKey, int]] = []
    if limits.member_points:
        member = int(sales.member_id[sale])
        out.append(
            ((code, programme, "member", member, period_key(limits.member_period, day)), limits.member_points)
        )
    if limits.budget_points:
        subject = ("store", int(sales.store_id[sale])) if limits.budget_per_store else ("chain", 0)
        out.append(((code, programme, *subject, period_key(limits.budget_period, day)), limits.budget_points))
    return out


def limited_keys(earned: Earned, sales: Sales, lines: Lines) -> set[UsageKey]:
    """Every key the entries of `earned` count against (what the caller reads and locks)."""
    found: set[UsageKey] = set()
    for line, index in zip(earned.entry_line.tolist(), earned.entry_rule.tolist(), strict=True):
        rule = earned.rules[index]
        if rule.spec.limits:
            found.update(key for key, _ in keys_of(rule, sales, int(lines.sale[line])))
    return found


def clamp(
    earned: Earned, sales: Sales, lines: Lines, used: Mapping[UsageKey, int]
) -> tuple[Earned, dict[UsageKey, int]]:
    """`earned` with each limited entry cut to the room left, and the points added per key."""
    limited = np.array([bool(r.spec.limits) for r in earned.rules], dtype=bool)
    if not len(earned.entry_line) or not limited[earned.entry_rule].any():
        return earned, {}
    order = np.lexsort((earned.entry_rule, earned.entry_line))  # posting order: by line, then rule
    points = earned.entry_points.copy()
    now: dict[UsageKey, int] = {}
    for i in order.tolist():
        index = int(earned.entry_rule[i])
        if not limited[index]:
            continue
        keys = keys_of(earned.rules[index], sales, int(lines.sale[int(earned.entry_line[i])]))
        room = min(limit - now.get(key, used.get(key, 0)) for key, limit in keys)
        given = max(0, min(int(points[i]), room))
        points[i] = given
        for key, _ in keys:
            now[key] = now.get(key, used.get(key, 0)) + given
    keep = points > 0
    clamped = replace(
        earned,
        entry_line=earned.entry_line[keep],
        entry_rule=earned.entry_rule[keep],
        entry_points=points[keep],
    )
    added = {key: total - used.get(key, 0) for key, total in now.items() if total != used.get(key, 0)}
    return clamped, added
