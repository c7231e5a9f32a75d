"""A birthday a person can have: not before 1900, not after today.

Birthdays drive birthday treats and age bands, so year 1 or a date in the future is a typing error, not
a member; the member import refuses the same range (`loyalty.imports.validate`).
"""

from __future__ import annotations

from datetime import date

from loyalty.domain.errors import InvalidInput

EARLIEST_BIRTHDAY = date(1900, 1, 1)


def check_birthday(birthday: date | None, today: date, field: str = "birthday") -> None:
    """Raise BIRTHDAY_OUT_OF_RANGE naming `field` when `birthday` is before 1900 or after `today`.

    `today` is the business date in the programme's time zone: a member born today may register.
    """
    if birthday is None or EARLIEST_BIRTHDAY <= birthday <= today:
        return
    raise InvalidInput.field(
        field,
        "birthday {birthday} must be between {earliest} and {latest}",
        "BIRTHDAY_OUT_OF_RANGE",
        {
            "birthday": birthday.isoformat(),
            "earliest": EARLIEST_BIRTHDAY.isoformat(),
            "latest": today.isoformat(),
        },
    )
