"""Errors of the churn model: domain errors with English templates (translated in ``errors.po``).

They subclass :class:`~loyalty.domain.errors.InvalidInput`, so the API answers 422 and the CLI names
the code; raise them with ``None`` as the code (the class's own) and a literal template.
"""

from __future__ import annotations

from loyalty.domain.errors import InvalidInput


class ChurnInputError(InvalidInput):
    """The churn model cannot run as asked: a horizon outside 7…365 days, tables without their columns."""

    default_code = "CHURN_INPUT_INVALID"


class TooLittleHistory(InvalidInput):
    """Not enough history before the training cutoff to learn from: too few members with a purchase by
    then, or none of them churned (or all did). ``details``: ``members``, ``churned``, ``cutoff``,
    ``needed``."""

    default_code = "CHURN_TOO_LITTLE_HISTORY"
