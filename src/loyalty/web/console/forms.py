"""Reading the console's forms: amounts as decimals in the programme's currency (never float),
whole numbers, dates, the store the user acts for, and a service's field errors beside their inputs.

Checks here are about the shape of what was typed; every business rule stays in the services, whose
errors are shown next to the field they name.
"""

from __future__ import annotations

import re
import secrets
from datetime import date, datetime

from loyalty.domain.errors import DomainError
from loyalty.domain.money import minor_units, parse_amount
from loyalty.i18n import translator
from loyalty.web.pages import Page

_ = translator("web")

#: line rows on the sale form (empty rows are left out)
SALE_LINES = 4
CODE = re.compile(r"^[A-Za-z0-9_.:/-]{1,64}$")


def new_reference(prefix: str, now: datetime) -> str:
    """A fresh receipt or request reference for a form (`S260301-1032-7F3A`).

    Rendered into the form once, so that submitting it twice is the same sale (the services are
    idempotent on store and order id) or the same redemption (an idempotency key), not two.
    """
    return f"{prefix}{now:%y%m%d-%H%M}-{secrets.token_hex(3).upper()}"


def amount(
    text: str, currency: str, field: str, errors: dict[str, str], *, required: bool = True
) -> int | None:
    """`text` as minor units of `currency`; an error under `field` when it is not a plain amount."""
    if not text.strip():
        if required:
            errors[field] = _("Enter an amount.")
        return None
    value = parse_amount(text.replace(",", ""))
    minor = minor_units(value, currency) if value is not None else None
    if value is None or minor is None or value < 0:
        errors[field] = _("Enter an amount such as 59.90.")
        return None
    return minor


def whole(
    text: str, field: str, errors: dict[str, str], *, low: int = 1, high: int = 100_000_000
) -> int | None:
    """`text` as a whole number between `low` and `high`."""
    try:
        value = int(text.strip())
    except ValueError:
        errors[field] = _("Enter a whole number.")
        return None
    if not low <= value <= high:
        errors[field] = _("Enter a number from {low} to {high}.", low=low, high=high)
        return None
    return value


def optional_date(text: str, field: str, errors: dict[str, str]) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        errors[field] = _("Enter a date such as 1990-05-17.")
        return None


def store_choice(page: Page, text: str, errors: dict[str, str]) -> int | None:
    """The store the form acts for: the user's only store, or the one chosen among theirs."""
    scope = page.staff.store_ids
    if scope is not None and len(scope) == 1 and not text:
        return next(iter(scope))
    try:
        store_id = int(text)
    except ValueError:
        errors["store_id"] = _("Choose a store.")
        return None
    if not page.staff.covers_store(store_id):
        errors["store_id"] = _("You may act only for your own stores.")
        return None
    return store_id


def field_errors(exc: DomainError, locale: str, fields: set[str]) -> dict[str, str]:
    """A service's error as messages beside the inputs it names; the rest under `form`."""
    found: dict[str, str] = {}
    for entry in exc.localized_errors(locale) or []:
        name = str(entry.get("field", "")).split(".")[-1]
        found[name if name in fields else "form"] = str(entry.get("message", ""))
    if not found:
        found["form"] = exc.localized(locale)
    return found
