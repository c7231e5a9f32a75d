"""Points as cash at checkout: what points are worth, the share of an order they may pay, and how many
a member may use on an order.

One arithmetic for the redemption itself (`services.points.redeem`, which refuses beyond it) and for
the till's quote (`services.earning_rules.quote`, which says how many points the member could use),
so the quote never offers what the redemption would refuse.
"""

from __future__ import annotations

from loyalty.domain.earning import MINOR_PER_UNIT


def redeem_value_minor(points: int, points_per_currency_unit: int) -> int:
    """What `points` pay, in minor units (rounded down: a fraction of a fen is never paid out)."""
    return points * MINOR_PER_UNIT // points_per_currency_unit


def within_cap(value_minor: int, order_total_minor: int, redeem_cap_pct: int) -> bool:
    """Whether paying `value_minor` with points keeps within `redeem_cap_pct` % of the order."""
    return value_minor * 100 <= order_total_minor * redeem_cap_pct


def usable_points(
    available: int,
    order_total_minor: int,
    *,
    points_per_currency_unit: int,
    redeem_cap_pct: int,
    min_redeem_balance: int,
) -> int:
    """The most points a member holding `available` spendable points may use on an order of
    `order_total_minor`: none below the programme's minimum balance, never beyond the cap.

    The largest p ≤ available with ``within_cap(redeem_value_minor(p))``: the value may reach
    V = ⌊total × cap / 100⌋, and ⌊p × 100 / rate⌋ ≤ V exactly when p ≤ ⌊((V + 1) × rate − 1) / 100⌋.
    """
    if available <= 0 or available < min_redeem_balance or order_total_minor <= 0:
        return 0
    cap_value = order_total_minor * redeem_cap_pct // 100
    most = ((cap_value + 1) * points_per_currency_unit - 1) // MINOR_PER_UNIT
    return max(0, min(available, most))
