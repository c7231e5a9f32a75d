"""Errors of member clustering: domain errors with English templates (translated in ``errors.po``).

They subclass :class:`~loyalty.domain.errors.InvalidInput`, so the API answers 422 and the CLI names
the code; raise them with ``None`` as the code (the class's own) and a literal template.
"""

from __future__ import annotations

from loyalty.domain.errors import InvalidInput


class ClusterInputError(InvalidInput):
    """The members cannot be clustered as asked: too few of them, a k outside the range, bad columns."""

    default_code = "CLUSTER_INPUT_INVALID"


class TooFewMembers(InvalidInput):
    """Fewer members with purchases (or with different behaviour) than clustering needs.
    ``details``: ``members`` (how many there are), ``needed``."""

    default_code = "CLUSTER_TOO_FEW_MEMBERS"
