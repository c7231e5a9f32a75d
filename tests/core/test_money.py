"""Typed amounts: the one reader the CLI's money options and the member search's CLV filters share."""

from __future__ import annotations

from decimal import Decimal

import pytest

from loyalty.domain.money import minor_units, parse_amount


@pytest.mark.parametrize(
    ("text", "expected"),
    [(" 59.90 ", Decimal("59.90")), ("500", Decimal(500)), ("-3.5", Decimal("-3.5")), ("1e3", Decimal(1000))],
)
def test_a_number_is_read_exactly(text: str, expected: Decimal) -> None:
    assert parse_amount(text) == expected


@pytest.mark.parametrize("text", ["ten", "", "12,30", "inf", "-Infinity", "NaN"])
def test_what_is_not_a_finite_number_is_none(text: str) -> None:
    assert parse_amount(text) is None


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("59.90", "CNY", 5_990),
        ("0.1", "CNY", 10),  # exact: no float's 0.1000000000000000055…
        ("1234", "JPY", 1_234),  # a currency without minor units
        ("1.234", "KWD", 1_234),  # one with three decimals
        ("-2.50", "USD", -250),
        ("25.001", "CNY", None),  # more decimals than the currency has: refused, not rounded
        ("12.5", "JPY", None),
    ],
)
def test_minor_units_keep_to_the_currency_s_decimals(
    amount: str, currency: str, expected: int | None
) -> None:
    assert minor_units(Decimal(amount), currency) == expected


def test_an_infinite_amount_has_no_minor_units() -> None:
    assert minor_units(Decimal("Infinity"), "CNY") is None
