"""FEFO allocation and debt arithmetic, kept pure so they are tested in isolation.

Spends consume lots soonest-expiring first (ties by lot id) so members lose as few points as possible
to expiry. A reversal that finds too few unspent points turns the shortfall into debt, never skips it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from loyalty.domain.earning import debt_paid


@dataclass(frozen=True)
class Lot:
    id: int
    remaining: int


def allocate_fefo(lots: Sequence[Lot], amount: int) -> tuple[list[tuple[int, int]], int]:
    """Take `amount` from `lots` (already in FEFO order); return [(lot_id, taken)] and the shortfall."""
    out: list[tuple[int, int]] = []
    need = amount
    for lot in lots:
        if need <= 0:
            break
        take = min(lot.remaining, need)
        if take > 0:
            out.append((lot.id, take))
            need -= take
    return out, need


def split_earning(points: int, debt: int) -> tuple[int, int]:
    """New points pay existing debt first: returns (paid_to_debt, left_in_lot)."""
    paid = int(debt_paid(points, debt))
    return paid, points - paid
