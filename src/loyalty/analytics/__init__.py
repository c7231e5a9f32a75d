"""Member analytics: customer summaries, RFM scoring, BG/NBD, Pareto/NBD, Gamma-Gamma and CLV.

Features are Ibis expressions (DuckDB by default, PostgreSQL supported); models are fitted on
sufficient statistics. See docs/adr/0003-analytics.md for the design decisions.

The names below are loaded on first use (PEP 562): Ibis, pandas and SciPy take over a second to
import, and every `loyalty` command, analytics or not, would otherwise pay it at start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loyalty.analytics.errors import AnalyticsError, ConvergenceError, InputError
    from loyalty.analytics.features import Columns, summary, summary_expr, transactions
    from loyalty.analytics.models import BetaGeo, GammaGamma, ParetoNBD, clv

_HOME = {
    "AnalyticsError": "errors",
    "ConvergenceError": "errors",
    "InputError": "errors",
    "Columns": "features",
    "summary": "features",
    "summary_expr": "features",
    "transactions": "features",
    "BetaGeo": "models",
    "GammaGamma": "models",
    "ParetoNBD": "models",
    "clv": "models",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)


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
