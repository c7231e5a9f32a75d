"""Domain errors with stable codes; entry points map each class once (HTTP status, CLI exit code).

Why codes and not messages: clients (POS, mini-program) branch on `code`, and messages may be
translated or reworded without breaking them.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every expected, client-visible failure."""

    default_code = "DOMAIN_ERROR"

    def __init__(self, code: str | None = None, message: str = "", details: dict[str, Any] | None = None):
        self.code = code or self.default_code
        self.message = message or self.code
        self.details = details
        super().__init__(f"{self.code}: {self.message}")


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
