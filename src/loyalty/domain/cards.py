"""Card numbers with a Luhn check digit (catches every single-digit typo at the till) and QR codes."""

from __future__ import annotations

import secrets

CARD_PREFIX = "88"
CARD_LENGTH = 16
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud and typed safely


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
