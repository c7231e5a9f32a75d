"""Revenue at risk: valuable customers the purchase model says have probably stopped buying.

*At risk* = a high-value customer (the binary RFM scheme's "important" groups, spend above the
threshold: 重要价值/发展/保持/挽留) whose P(alive) is below ``threshold`` (default one half).
*Revenue at risk* = what those customers spent in an average year of their time with us (total spend
÷ years since their first purchase, at least one year): the yearly revenue that leaves with them if
nobody wins them back. Sorted by that figure, they are the win-back list.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from loyalty.analytics.segments import BINARY_SEGMENTS

P_ALIVE_AT_RISK = 0.5
_HIGH_VALUE_CODES = frozenset(code for code, s in BINARY_SEGMENTS.items() if s.high_value)


@dataclass(frozen=True)
class AtRisk:
    """The at-risk customers (most yearly spend first) and their total yearly spend."""

    customers: pd.DataFrame
    revenue: float
    threshold: float


def yearly_spend(total_spend: pd.Series, tenure_days: pd.Series) -> pd.Series:
    """Spend per year of tenure; tenures under a year count as one (a new customer's spend is not
    multiplied up)."""
    years = np.maximum(tenure_days.to_numpy(dtype=np.float64), 365.0) / 365.0
    return pd.Series(total_spend.to_numpy(dtype=np.float64) / years, index=total_spend.index)


def at_risk(customers: pd.DataFrame, threshold: float = P_ALIVE_AT_RISK) -> AtRisk:
    """Select and rank the at-risk customers.

    ``customers`` needs ``rfm_code`` (binary scheme), ``p_alive``, ``monetary`` (total spend) and
    ``tenure_days`` (first purchase day to the as-of day); other columns are carried along.
    """
    risky = customers["rfm_code"].isin(_HIGH_VALUE_CODES) & (customers["p_alive"] < threshold)
    chosen = customers.loc[risky].copy()
    chosen["yearly_spend"] = yearly_spend(chosen["monetary"], chosen["tenure_days"])
    chosen = chosen.sort_values(["yearly_spend", "customer_id"], ascending=[False, True], kind="stable")
    return AtRisk(chosen.reset_index(drop=True), float(chosen["yearly_spend"].sum()), threshold)
