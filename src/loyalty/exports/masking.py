"""Masking of personal data in exports (vectorised over Arrow columns).

Masks keep enough to recognise a record when talking to the member (last 4 digits of the phone, the
surname, the first letter and domain of an e-mail) and nothing that lets a file leak a contact list.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

# Roles allowed to see unmasked personal data in exports.
PII_ROLES = frozenset({"admin", "owner", "privacy_officer"})
PII_COLUMNS = {"phone": "phone", "name": "name", "email": "email", "birthday": "birthday"}


def may_see_pii(role: str | None) -> bool:
    """Whether `role` may export personal data in clear text."""
    return role in PII_ROLES


def mask_phone(values: pa.Array | pa.ChunkedArray) -> pa.ChunkedArray | pa.Array:
    """`+8613800138000` -> `+86138****8000` (keeps country code, 3-digit prefix and last 4)."""
    return pc.replace_substring_regex(
        values, pattern=r"^(\+?\d{0,2}\d{3})\d+(\d{4})$", replacement=r"\1****\2"
    )


def mask_name(values: pa.Array | pa.ChunkedArray) -> pa.ChunkedArray | pa.Array:
    """`张三丰` -> `张**`; `Alice Smith` -> `A**********`."""
    first = pc.utf8_slice_codeunits(values, 0, 1)
    rest = pc.utf8_length(values)
    stars = pc.binary_repeat(pa.scalar("*"), pc.max_element_wise(pc.subtract(rest, 1), 0))
    return pc.binary_join_element_wise(first, stars, "")


def mask_email(values: pa.Array | pa.ChunkedArray) -> pa.ChunkedArray | pa.Array:
    """`alice@example.com` -> `a***@example.com`."""
    return pc.replace_substring_regex(values, pattern=r"^(.)[^@]*(@.*)$", replacement=r"\1***\2")


def mask_birthday(values: pa.Array | pa.ChunkedArray) -> pa.ChunkedArray | pa.Array:
    """Keep only the month and day (`--05-01`), useful for birthday campaigns but not identity."""
    text = pc.cast(values, pa.string())
    return pc.replace_substring_regex(text, pattern=r"^\d{4}-", replacement="--")


_MASKERS = {"phone": mask_phone, "name": mask_name, "email": mask_email, "birthday": mask_birthday}


def mask_table(table: pa.Table, role: str | None) -> pa.Table:
    """Return `table` with its personal columns masked unless `role` may see them."""
    if may_see_pii(role):
        return table
    for name, kind in PII_COLUMNS.items():
        if name in table.column_names:
            idx = table.column_names.index(name)
            column = table.column(name)
            if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
                column = pc.cast(column, pa.string())
            table = table.set_column(idx, name, _MASKERS[kind](column))
    return table
