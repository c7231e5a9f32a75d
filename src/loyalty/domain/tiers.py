"""Tier decisions on qualifying spend in a rolling window (never the spendable balance).

Upgrades happen at once; downgrades only at evaluation, one step at a time or straight to what the
window supports, after an optional grace period, and never while a manual lock is in force.

`tier_index_for_spend` and `upgrade_path` work on arrays: the live path asks about one purchase, the
bulk import about every purchase of a batch, with the same code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]

#: up to this many spends (a few tills' sales) `tier_index_for_spend` takes one by one
_FEW_SPENDS = 16


@dataclass(frozen=True)
class TierDef:
    id: int
    code: str
    rank: int
    threshold_minor: int


def tier_index_for_spend(tiers: Sequence[TierDef], qualifying_minor: Any) -> Any:
    """Index into `tiers` (ordered by rank) of the highest tier whose threshold the spend reaches.

    The lowest tier is the answer when no threshold is reached (it normally has threshold 0). Works on
    one integer (a live sale) or an array (a batch); the condition is multiplied in as 0/1. A few
    values (a till's sales) are taken one by one: the array form's NumPy calls, four per tier, cost
    more than that.
    """
    if (
        isinstance(qualifying_minor, np.ndarray)
        and qualifying_minor.ndim == 1
        and len(qualifying_minor) <= _FEW_SPENDS
    ):
        each = [tier_index_for_spend(tiers, value) for value in qualifying_minor.tolist()]
        return np.array(each, dtype=np.int64)
    best = qualifying_minor * 0
    for i, tier in enumerate(tiers):
        best = best + (i - best) * (qualifying_minor >= tier.threshold_minor)
    return best


def tier_for_spend(tiers: Sequence[TierDef], qualifying_minor: int) -> TierDef:
    """Highest tier whose threshold the qualifying spend reaches (the lowest tier has threshold 0)."""
    ordered = sorted(tiers, key=lambda t: t.rank)
    return ordered[int(tier_index_for_spend(ordered, int(qualifying_minor)))]


def upgrade_path(group: Any, start_index: Any, target_index: Any) -> tuple[IntArray, IntArray]:
    """Tier held before and after each purchase when upgrades happen at once and never go down.

    `group` numbers the members 0..k-1 and must be non-decreasing (purchases sorted by member, each
    member's purchases in posting order); `start_index` is each purchase's member's tier before the
    batch, `target_index` the tier its window supports right after the purchase (tier indexes by rank).
    After purchase i the member holds max(start, targets of their purchases up to i); before it, what
    they held after their previous one.
    """
    g = np.asarray(group, dtype=np.int64)
    start = np.asarray(start_index, dtype=np.int64)
    target = np.maximum(np.asarray(target_index, dtype=np.int64), start)
    if g.size <= 1:  # no purchase follows another of its member's
        return start.copy(), target
    width = int(target.max()) + 1
    after: IntArray = np.maximum.accumulate(target + g * width) - g * width
    before = np.empty_like(after)
    before[0] = start[0]
    first = np.ones(g.size, dtype=bool)
    first[1:] = g[1:] != g[:-1]
    before[1:] = np.where(first[1:], start[1:], after[:-1])
    return before, after


def downgrade_target(tiers: Sequence[TierDef], current: TierDef, supported: TierDef, policy: str) -> TierDef:
    """Where a member falls to at evaluation when the window supports less than `current`."""
    if supported.rank >= current.rank:
        return current
    if policy == "window":
        return supported
    lower = [t for t in tiers if t.rank < current.rank]
    return max(lower, key=lambda t: t.rank) if lower else current
