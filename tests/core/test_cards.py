"""Card numbers and member codes: format, check digit, and every symbol drawn in every position."""

from __future__ import annotations

import pytest

from loyalty.domain.cards import (
    _CODE_ALPHABET,
    CARD_PREFIX,
    QR_PREFIX,
    card_number,
    is_qr_payload,
    luhn_valid,
    member_code,
    new_card_number,
    new_member_code,
)
from loyalty.domain.errors import InvalidInput


def test_member_codes_use_the_whole_alphabet_in_every_position() -> None:
    codes = [new_member_code() for _ in range(3000)]
    assert len(set(codes)) == len(codes)
    assert all(len(c) == 22 and c.startswith("LM") for c in codes)
    assert set("".join(c[2:] for c in codes)) <= set(_CODE_ALPHABET)
    for pos in range(2, 22):
        # 3,000 uniform draws over 32 symbols miss one with probability ~32 * (31/32)^3000 ≈ 1e-40.
        assert len({c[pos] for c in codes}) == 32, pos


def test_card_numbers_pass_luhn_and_vary_in_every_digit() -> None:
    cards = [new_card_number() for _ in range(2000)]
    assert len(set(cards)) == len(cards)
    assert all(len(c) == 16 and c.startswith(CARD_PREFIX) and luhn_valid(c) for c in cards)
    for pos in range(len(CARD_PREFIX), 15):
        assert len({c[pos] for c in cards}) == 10, pos


def test_a_card_number_is_read_as_printed() -> None:
    card = new_card_number()
    groups = [card[i : i + 4] for i in range(0, 16, 4)]
    for typed in (
        card,
        " ".join(groups),
        "-".join(groups),
        f"  {' '.join(groups)}\t",
        "".join(chr(ord(c) + 0xFEE0) for c in card),  # full-width digits from a Chinese input method
        "\u3000".join(groups),  # ideographic spaces
    ):
        assert card_number(typed) == card, typed


def test_a_mistyped_card_number_of_ours_is_refused_by_its_check_digit() -> None:
    card = new_card_number()
    typo = card[:-1] + str((int(card[-1]) + 1) % 10)
    with pytest.raises(InvalidInput) as refused:
        card_number(" ".join(typo[i : i + 4] for i in range(0, 16, 4)))
    assert refused.value.code == "CARD_NO_INVALID"
    assert refused.value.localized_errors("en") == [
        {"field": "card_no", "message": "card number check digit is wrong"}
    ]


def test_an_old_systems_card_number_is_kept_as_it_is() -> None:
    assert card_number(" VIP-0042 ") == "VIP-0042"  # not only digits: as typed, trimmed
    assert card_number("17850") == "17850"  # digits, not one of ours: no check digit to hold it to


def test_a_member_code_is_read_from_the_qr_payload() -> None:
    code = new_member_code()
    for scanned in (code, f"{QR_PREFIX}{code}", f"LOYALTY:MEMBER:{code}", f" {QR_PREFIX}{code}\n"):
        assert member_code(scanned) == code, scanned
    assert is_qr_payload(f"{QR_PREFIX}{code}")
    assert not is_qr_payload(new_card_number())
