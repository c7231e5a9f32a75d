"""Text as people type it: the one rule every entry point applies to names, codes and search terms.

Control characters are never part of a name, a phone number, an order id or a search term, and some do
harm below us: SQLite reads a LIKE pattern as a C string, so a NUL ends it (`%\\x00%` is `%`, which
matches every row), and PostgreSQL refuses NUL in text altogether. Refused here: the C0 controls
except tab, line feed and carriage return (which a note or reason typed in a text box may hold), DEL,
the C1 controls, and lone UTF-16 surrogates (which no UTF-8 column can store). Everything else (CJK,
emoji, spaces, punctuation) is text.
"""

from __future__ import annotations

import re
from typing import Any

from loyalty.domain.errors import field_error

#: what `control_character` looks for (tab, LF and CR are allowed)
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")

#: the message of a refused field, filled with the character as U+XXXX
CONTROL_MESSAGE = "contains the control character {character}; send text without it"


def control_character(text: str) -> str | None:
    """The first character of `text` that the rule refuses, written U+XXXX; None when there is none."""
    found = CONTROL.search(text)
    return None if found is None else f"U+{ord(found.group()):04X}"


def control_error(field: str, text: str) -> dict[str, Any] | None:
    """A `field_error` naming `field` when `text` holds a refused character, else None."""
    character = control_character(text)
    if character is None:
        return None
    return field_error(field, CONTROL_MESSAGE, {"character": character})
