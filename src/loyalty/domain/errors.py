"""Domain errors with stable codes; entry points map each class once (HTTP status, CLI exit code).

Why codes and not messages: clients (POS, mini-program) branch on `code`, and messages may be
translated or reworded without breaking them.
"""

from __future__ import annotations

from typing import Any

from loyalty.i18n import translate

ERRORS_DOMAIN = "errors"


def fill(template: str, values: dict[str, Any] | None) -> str:
    """`template` with its `{name}` fields taken from `values`; as it is when it has none or they miss."""
    if not values or "{" not in template:
        return template
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError):
        return template


class DomainError(Exception):
    """Base of every expected, client-visible failure.

    `message` is an English template whose `{name}` fields come from `details`
    (`NotFound("MEMBER_NOT_FOUND", "member {member_id} does not exist", {"member_id": 7})`), so that
    entry points can show it in the reader's language (`localized`); `.message` is the English text.
    """

    default_code = "DOMAIN_ERROR"

    def __init__(self, code: str | None = None, message: str = "", details: dict[str, Any] | None = None):
        self.code = code or self.default_code
        self.template = message or self.code
        self.details = details
        self.message = fill(self.template, details)
        super().__init__(f"{self.code}: {self.message}")

    def localized(self, locale: str | None = None) -> str:
        """The message in `locale` (default: the current one; untranslated templates stay English)."""
        return fill(translate(ERRORS_DOMAIN, self.template, locale), self.details)


class NotFound(DomainError):
    """The referenced entity (member, store, order, …) does not exist: code ends in `_NOT_FOUND`."""

    default_code = "NOT_FOUND"


class Conflict(DomainError):
    """The request is well-formed but the current state forbids it (e.g. POINTS_INSUFFICIENT)."""

    default_code = "CONFLICT"


class InvalidInput(DomainError):
    """Malformed input; `details={"errors": [{"field": ..., "message": ...}]}`."""

    default_code = "INVALID_INPUT"

    @classmethod
    def field(cls, field: str, message: str, code: str = "INVALID_INPUT") -> InvalidInput:
        return cls(code, message, {"errors": [{"field": field, "message": message}]})


class IdempotencyMismatch(DomainError):
    """An idempotency key (or POS order id) was reused with a different request body."""

    default_code = "IDEMPOTENCY_MISMATCH"


__all__ = ["Conflict", "DomainError", "IdempotencyMismatch", "InvalidInput", "NotFound"]
