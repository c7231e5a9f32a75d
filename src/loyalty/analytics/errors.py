"""Errors raised by the analytics package.

They carry a stable ``code`` like the product's domain errors so the CLI and API can map them once,
but live here because analytics must import without the transactional core.
"""

from __future__ import annotations

from typing import Any


class AnalyticsError(ValueError):
    """Base class: a problem the caller can fix (bad input, data that cannot support a model)."""

    code = "ANALYTICS_ERROR"

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class InputError(AnalyticsError):
    """The transaction log is unusable as given: missing columns, bad dates, negative amounts, bad dates."""

    code = "INVALID_INPUT"


class ConvergenceError(AnalyticsError):
    """A model could not be fitted: too few repeat customers, or the optimiser did not converge."""

    code = "CONVERGENCE_ERROR"
