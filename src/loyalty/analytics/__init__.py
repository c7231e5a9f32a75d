"""Member analytics: customer summaries, RFM scoring, BG/NBD, Pareto/NBD, Gamma-Gamma and CLV.

Features are Ibis expressions (DuckDB by default, PostgreSQL supported); models are fitted on
sufficient statistics. See docs/adr/0003-analytics.md for the design decisions.
"""

from __future__ import annotations

from loyalty.analytics.errors import AnalyticsError, ConvergenceError, InputError
from loyalty.analytics.features import Columns, summary, summary_expr, transactions
from loyalty.analytics.models import BetaGeo, GammaGamma, ParetoNBD, clv

__all__ = [
    "AnalyticsError",
    "BetaGeo",
    "Columns",
    "ConvergenceError",
    "GammaGamma",
    "InputError",
    "ParetoNBD",
    "clv",
    "summary",
    "summary_expr",
    "transactions",
]
