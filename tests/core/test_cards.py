"""Card numbers and member codes: format, check digit, and every symbol drawn in every position."""

from __future__ import annotations

from loyalty.domain.cards import _CODE_ALPHABET, CARD_PREFIX, luhn_valid, new_card_number, new_member_code


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
