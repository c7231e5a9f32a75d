"""Reading a definition's fields (a rule's, an offer's) with errors that name each field and say why.

Every bad field of a definition is collected (`FieldErrors`), so one answer names them all, in the
`InvalidInput` form every entry point shows in the reader's language.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from loyalty.domain.errors import InvalidInput, field_error

#: the most names a list may hold (categories, SKUs, stores): more is a mistake, not a programme
MAX_LIST = 1_000


class FieldErrors:
    """Collects every bad field of a definition, so one answer names them all."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.entries: list[dict[str, Any]] = []

    def add(self, name: str, message: str, values: Mapping[str, Any] | None = None) -> None:
        self.entries.append(field_error(f"{self.prefix}{name}", message, values))

    def raise_any(self, code: str = "RULE_INVALID") -> None:
        if self.entries:
            first = self.entries[0]
            raise InvalidInput(
                code,
                "the rule cannot work: {field}: {reason}",
                {"field": first["field"], "reason": first["message"], "errors": self.entries},
            )


def whole_number(raw: Any, name: str, errors: FieldErrors, low: int, high: int) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        errors.add(name, "must be a whole number")
        return low
    if not low <= raw <= high:
        errors.add(name, "must be between {low} and {high}", {"low": low, "high": high})
    return raw


def names(raw: Any, name: str, errors: FieldErrors) -> frozenset[str]:
    if raw is None:
        return frozenset()
    if not isinstance(raw, list) or not all(isinstance(v, str) and v.strip() for v in raw):
        errors.add(name, "must be a list of names")
        return frozenset()
    if len(raw) > MAX_LIST:
        errors.add(name, "lists at most {n} values", {"n": MAX_LIST})
    if any(len(v) > 100 for v in raw):
        errors.add(name, "names are at most 100 characters")
    return frozenset(v.strip() for v in raw)


def money(raw: Any, name: str, errors: FieldErrors, minor_per_unit: int) -> int:
    if raw is None:
        return 0
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        errors.add(name, "must be an amount such as 100 or 99.50 (got {value})", {"value": raw})
        return 0
    minor = value * minor_per_unit
    if minor != minor.to_integral_value() or minor < 0 or minor > 10**12:
        errors.add(name, "must be a positive amount with at most two decimals (got {value})", {"value": raw})
        return 0
    return int(minor)
