"""Tier decisions on qualifying spend in a rolling window (never the spendable balance).

Upgrades happen at once; downgrades only at evaluation, one step at a time or straight to what the
window supports, after an optional grace period, and never while a manual lock is in force.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class TierDef:
    id: int
    code: str
    rank: int
    threshold_minor: int


def tier_for_spend(tiers: Sequence[TierDef], qualifying_minor: int) -> TierDef:
    """Highest tier whose threshold the qualifying spend reaches (the lowest tier has threshold 0)."""
    ordered = sorted(tiers, key=lambda t: t.rank)
    best = ordered[0]
    for tier in ordered:
        if qualifying_minor >= tier.threshold_minor:
            best = tier
    return best


def downgrade_target(tiers: Sequence[TierDef], current: TierDef, supported: TierDef, policy: str) -> TierDef:
    """Where a member falls to at evaluation when the window supports less than `current`."""
    if supported.rank >= current.rank:
        return current
    if policy == "window":
        return supported
    lower = [t for t in tiers if t.rank < current.rank]
    return max(lower, key=lambda t: t.rank) if lower else current
