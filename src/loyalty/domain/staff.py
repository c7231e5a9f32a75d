"""Who made a sale or signed a member up: the staff code kept with it, for the KPIs by staff.

A till sends the cashier's code with a sale (`staff`), a registration may name who signed the member
up (`registered_by`). When it names nobody and the caller is a logged-in staff account (the console,
or the API with a staff token, never a POS terminal's key), that account's username is kept instead.
A staff code is 1 to `MAX_STAFF_CODE` printable characters (a space inside is fine, none at either
end): the one rule the API, the services and the import apply.
"""

from __future__ import annotations

from loyalty.domain.actors import Actor
from loyalty.domain.errors import InvalidInput

#: the longest staff code (the columns are `String(100)`)
MAX_STAFF_CODE = 100


def is_staff_code(code: str) -> bool:
    """Whether `code` is a staff code as kept: 1 to 100 printable characters, trimmed."""
    return 0 < len(code) <= MAX_STAFF_CODE and code.isprintable() and code.strip() == code


def check_staff_code(field: str, code: str | None) -> None:
    """STAFF_CODE_INVALID naming `field` unless `code` is None or a staff code (`is_staff_code`)."""
    if code is not None and not is_staff_code(code):
        raise InvalidInput.field(
            field,
            "a staff code is 1 to {max} printable characters, without spaces at either end",
            "STAFF_CODE_INVALID",
            {"max": MAX_STAFF_CODE},
        )


def recorded_staff(given: str | None, actor: Actor | None) -> str | None:
    """The staff code to keep: the one given, else the username of a staff `actor` (None for a POS
    key, a member, the system, or a staff actor whose name is not known)."""
    if given is not None:
        return given
    if actor is None or actor.kind != "staff" or not actor.name:
        return None
    return actor.name[:MAX_STAFF_CODE]
