"""Domain errors with stable codes; entry points map each class once (HTTP status, CLI exit code).

Why codes and not messages: clients (POS, mini-program) branch on `code`, and messages may be
translated or reworded without breaking them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, Self, runtime_checkable

from loyalty.i18n import translate

ERRORS_DOMAIN = "errors"


@runtime_checkable
class Shown(Protocol):
    """A value whose text depends on the reader's language (money: "¥500.00" / "CN¥500.00"), shown
    in the language of the message it fills (`loyalty.i18n.formats.Amount`)."""

    def localized(self, locale: str | None) -> str: ...


def fill(template: str, values: dict[str, Any] | None, locale: str | None = None) -> str:
    """`template` with its `{name}` fields taken from `values`; as it is when it has none or they miss.

    `Shown` values are written in `locale` (None: the current one).
    """
    if not values or "{" not in template:
        return template
    shown = {k: v.localized(locale) if isinstance(v, Shown) else v for k, v in values.items()}
    try:
        return template.format(**shown)
    except (KeyError, IndexError, ValueError):
        return template


def field_error(field: str, message: str, values: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One entry of `details["errors"]`: `message` is an English template filled from `values`.

    The entry keeps the filled English text as `message` (what a program reading `details` sees) and,
    when the template has fields, the template and its values, so that an entry point can show it
    translated (`DomainError.localized_errors`).
    """
    entry: dict[str, Any] = {"field": field, "message": fill(message, dict(values or {}), "en")}
    if entry["message"] != message:
        entry["template"] = message
        entry["values"] = dict(values or {})
    return entry


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
        self.message = fill(self.template, details, "en")
        super().__init__(f"{self.code}: {self.message}")

    def localized(self, locale: str | None = None) -> str:
        """The message in `locale` (default: the current one; untranslated templates stay English)."""
        return fill(translate(ERRORS_DOMAIN, self.template, locale), self.details, locale)

    def localized_errors(self, locale: str | None = None) -> list[dict[str, str]] | None:
        """`details["errors"]` as `{"field", "message"}` entries, each message in `locale`."""
        errors = self.details.get("errors") if isinstance(self.details, dict) else None
        if not isinstance(errors, list):
            return None
        out = []
        for entry in errors:
            if not isinstance(entry, Mapping):
                continue
            template = str(entry.get("template") or entry.get("message") or "")
            values = entry.get("values")
            text = fill(
                translate(ERRORS_DOMAIN, template, locale),
                values if isinstance(values, dict) else None,
                locale,
            )
            out.append({"field": str(entry.get("field", "")), "message": text})
        return out

    def localized_details(self, locale: str | None = None) -> dict[str, Any] | None:
        """`details` as shown to a person: field errors translated, their templates left out."""
        if not isinstance(self.details, dict):
            return self.details
        shown = {k: v.localized(locale) if isinstance(v, Shown) else v for k, v in self.details.items()}
        errors = self.localized_errors(locale)
        return shown if errors is None else {**shown, "errors": errors}


class NotFound(DomainError):
    """The referenced entity (member, store, order, …) does not exist: code ends in `_NOT_FOUND`."""

    default_code = "NOT_FOUND"


class Conflict(DomainError):
    """The request is well-formed but the current state forbids it (e.g. POINTS_INSUFFICIENT)."""

    default_code = "CONFLICT"


class InvalidInput(DomainError):
    """Malformed input; `details={"errors": [{"field": ..., "message": ...}]}` (see `field_error`)."""

    default_code = "INVALID_INPUT"

    @classmethod
    def field(
        cls, field: str, message: str, code: str = "INVALID_INPUT", values: Mapping[str, Any] | None = None
    ) -> Self:
        """One bad field; `message` is an English template filled from `values` (also kept in details)."""
        return cls(code, message, {**(values or {}), "errors": [field_error(field, message, values)]})


class IdempotencyMismatch(DomainError):
    """An idempotency key (or POS order id) was reused with a different request body."""

    default_code = "IDEMPOTENCY_MISMATCH"


__all__ = [
    "Conflict",
    "DomainError",
    "IdempotencyMismatch",
    "InvalidInput",
    "NotFound",
    "Shown",
    "field_error",
    "fill",
]
