"""Card numbers with a Luhn check digit (catches every single-digit typo at the till) and QR codes.

What people and scanners send is what the card and the QR show: `8856 6354 5964 2410` (or with
dashes, or typed in full-width digits) for a card number, `loyalty:member:LM…` for a member code.
`card_number` and `member_code` turn either into the stored form, here once for every entry point
(API lookups and sales, claims, the CLI; the import applies the same rule in SQL from `CARD_SEPARATORS`
and `QR_PREFIX`).
"""

from __future__ import annotations

import re
import secrets
import unicodedata

from loyalty.domain.errors import InvalidInput

CARD_PREFIX = "88"
CARD_LENGTH = 16
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud and typed safely

#: what a printed card number may have between its groups of digits (a regular expression)
CARD_SEPARATORS = r"[\s-]"
#: what a member's QR code holds before the member code
QR_PREFIX = "loyalty:member:"
_SEPARATORS = re.compile(CARD_SEPARATORS)


def luhn_check_digit(digits: str) -> int:
    """Check digit that makes `digits + d` pass the Luhn test."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10


def luhn_valid(number: str) -> bool:
    return number.isdigit() and len(number) >= 2 and luhn_check_digit(number[:-1]) == int(number[-1])


def new_card_number() -> str:
    """Random 16-digit card number; randomness keeps numbers unguessable, UNIQUE catches collisions."""
    digits = CARD_LENGTH - len(CARD_PREFIX) - 1
    body = CARD_PREFIX + str(secrets.randbelow(10**digits)).zfill(digits)
    return body + str(luhn_check_digit(body))


def new_member_code() -> str:
    """QR payload: 'LM' + 20 symbols of a 32-letter alphabet (100 bits), not derivable from the id."""
    # One draw of 100 random bits, five bits per symbol (the alphabet has exactly 32 letters), instead
    # of twenty `secrets.choice` calls: same uniform distribution, a bulk import of a million members
    # no longer spends a minute here.
    bits = secrets.randbits(100)
    return "LM" + "".join(_CODE_ALPHABET[(bits >> (5 * i)) & 31] for i in range(20))


def is_qr_payload(raw: str) -> bool:
    """Whether `raw` is what a member's QR code holds (`loyalty:member:<member code>`)."""
    return unicodedata.normalize("NFKC", raw).strip()[: len(QR_PREFIX)].lower() == QR_PREFIX


def member_code(raw: str) -> str:
    """The member code in `raw`: as typed, or scanned from the QR code (its prefix dropped)."""
    text = unicodedata.normalize("NFKC", raw).strip()
    if text[: len(QR_PREFIX)].lower() == QR_PREFIX:
        text = text[len(QR_PREFIX) :].strip()
    return text


def card_number(raw: str) -> str:
    """The card number in `raw` as stored: digits typed as printed lose their separators.

    Text that is not digits and separators (an old system's number kept by an import, `VIP-0042`) stays
    as typed. One of our own numbers (16 digits from 88) must pass the Luhn check: a mistyped digit is
    CARD_NO_INVALID at once rather than a search for a member who does not exist.
    """
    text = unicodedata.normalize("NFKC", raw).strip()
    digits = _SEPARATORS.sub("", text)
    if not (digits.isascii() and digits.isdigit()):
        return text
    if len(digits) == CARD_LENGTH and digits.startswith(CARD_PREFIX) and not luhn_valid(digits):
        raise InvalidInput.field("card_no", "card number check digit is wrong", "CARD_NO_INVALID")
    return digits
