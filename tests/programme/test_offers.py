"""Offers on hand-computed carts: each kind, scope, minimum spend and cap, per-line shares that add
up exactly, stacking groups and the best-for-member choice; refused definitions name the field; and
(Hypothesis) a discount never exceeds a line nor loses to any single offer the sale qualifies for."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty.domain.errors import InvalidInput
from loyalty.domain.programme.offers import OfferLine, OfferSale, apply_offers, offer_discount, parse_offer

SALE = OfferSale(store_code="SH01", channel="store", tier_code="gold")


def cart(*lines: tuple[int, int, str | None, str]) -> list[OfferLine]:
    return [OfferLine(amount, qty, category, sku) for amount, qty, category, sku in lines]


CASES: list[tuple[str, dict[str, Any], list[OfferLine], list[int]]] = [
    (
        "95折 on everything: 5 % of ¥333.33 shared by amount",
        {"code": "gold", "kind": "percent_off", "percent": 5},
        cart((20_000, 1, "a", "A"), (13_333, 1, "b", "B")),
        [1_000, 666],
    ),
    (
        "amount off, never more than the selected spend",
        {"code": "ten", "kind": "amount_off", "amount": "10", "when": {"categories": ["b"]}},
        cart((20_000, 1, "a", "A"), (500, 1, "b", "B")),
        [0, 500],
    ),
    (
        "满100减20 / 满300减80: ¥299.99 reaches the first step only",
        {"code": "ladder", "kind": "ladder", "steps": [{"over": 100, "off": 20}, {"over": 300, "off": 80}]},
        cart((29_999, 1, "a", "A")),
        [2_000],
    ),
    (
        "满100减20 / 满300减80: ¥300 exactly reaches the second",
        {"code": "ladder", "kind": "ladder", "steps": [{"over": 100, "off": 20}, {"over": 300, "off": 80}]},
        cart((10_000, 1, "a", "A"), (20_000, 1, "b", "B")),
        [2_667, 5_333],
    ),
    (
        "每满100减10 repeats: ¥350 takes 30 off",
        {"code": "every", "kind": "ladder", "repeat": True, "steps": [{"over": 100, "off": 10}]},
        cart((35_000, 1, "a", "A")),
        [3_000],
    ),
    (
        "buy 2 get 1: of 5 units the cheapest one is free",
        {"code": "b2g1", "kind": "buy_x_get_y", "buy": 2, "get": 1, "when": {"categories": ["tee"]}},
        cart((9_000, 3, "tee", "T1"), (5_000, 2, "tee", "T2"), (9_999, 1, "jeans", "J")),
        [1_607, 893, 0],  # the cheapest unit (¥25) shared by amount
    ),
    (
        "a gift: one unit of the SKU free",
        {"code": "gift", "kind": "gift", "when": {"skus": ["CUP"], "min_spend": "50"}},
        cart((6_000, 1, "coffee", "LATTE"), (3_000, 2, "mug", "CUP")),
        [0, 1_500],
    ),
    (
        "minimum spend counts the selected lines: ¥40 of tea < ¥50",
        {
            "code": "tea",
            "kind": "amount_off",
            "amount": "5",
            "when": {"categories": ["tea"], "min_spend": "50"},
        },
        cart((4_000, 1, "tea", "T"), (9_000, 1, "coffee", "C")),
        [0, 0],
    ),
    (
        "a cap: 20 % of ¥1,000 capped at ¥50",
        {"code": "cap", "kind": "percent_off", "percent": 20, "max_discount": "50"},
        cart((100_000, 1, "a", "A")),
        [5_000],
    ),
    (
        "another tier's offer does not apply",
        {"code": "silver", "kind": "percent_off", "percent": 3, "when": {"tiers": ["silver"]}},
        cart((10_000, 1, "a", "A")),
        [0],
    ),
]


@pytest.mark.parametrize(("name", "raw", "lines", "expected"), CASES, ids=[c[0] for c in CASES])
def test_offer_kinds(name: str, raw: dict[str, Any], lines: list[OfferLine], expected: list[int]) -> None:
    assert offer_discount(parse_offer(raw), SALE, lines).tolist() == expected


def test_best_for_member_among_exclusive_and_stacking_offers() -> None:
    lines = cart((20_000, 1, "a", "A"), (10_000, 1, "b", "B"))
    offers = [
        parse_offer({"code": "big", "kind": "amount_off", "amount": "70", "group": "exclusive"}),
        parse_offer({"code": "pct", "kind": "percent_off", "percent": 10}),  # 30 off, stacks
        parse_offer({"code": "l1", "kind": "ladder", "steps": [{"over": 200, "off": 25}], "group": "ladder"}),
        parse_offer({"code": "l2", "kind": "ladder", "steps": [{"over": 250, "off": 35}], "group": "ladder"}),
    ]
    applied = apply_offers(offers, SALE, lines)
    assert [o.code for o in applied.offers] == ["big"]  # 70 alone beats 30 + 35 = 65
    assert applied.total_minor == 7_000
    offers[0] = parse_offer({"code": "big", "kind": "amount_off", "amount": "60", "group": "exclusive"})
    applied = apply_offers(offers, SALE, lines)
    assert sorted(o.code for o in applied.offers) == ["l2", "pct"]  # one of the ladder group, the best
    assert applied.total_minor == 6_500
    assert applied.discount.tolist() == [4_333, 2_167]


def test_offers_together_never_take_a_line_below_zero() -> None:
    lines = cart((1_000, 1, "a", "A"))
    offers = [
        parse_offer({"code": "a", "kind": "amount_off", "amount": "8"}),
        parse_offer({"code": "b", "kind": "amount_off", "amount": "8"}),
    ]
    applied = apply_offers(offers, SALE, lines)
    assert applied.discount.tolist() == [1_000]
    assert sorted(applied.entry_minor.tolist()) == [200, 800]


@pytest.mark.parametrize(
    ("raw", "wrong"),
    [
        (
            {"code": "x", "kind": "ladder", "steps": [{"over": 300, "off": 80}, {"over": 100, "off": 20}]},
            "steps",
        ),
        ({"code": "x", "kind": "ladder", "steps": [{"over": 100, "off": 120}]}, "steps[0]"),
        ({"code": "x", "kind": "ladder", "repeat": True, "steps": []}, "steps"),
        ({"code": "x", "kind": "percent_off", "percent": 100}, "percent"),
        ({"code": "x", "kind": "amount_off", "amount": "-5"}, "amount"),
        ({"code": "x", "kind": "gift"}, "when.skus"),
        ({"code": "x", "kind": "buy_x_get_y", "buy": 2}, "get"),
        ({"code": "x", "kind": "percent_off", "percent": 5, "when": {"birthday": "day"}}, "when.birthday"),
    ],
)
def test_an_offer_that_cannot_work_is_refused_naming_the_field(raw: dict[str, Any], wrong: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_offer(raw, "offers[1].")
    assert refused.value.code == "OFFER_INVALID"
    assert f"offers[1].{wrong}" in [e["field"] for e in refused.value.details["errors"]]


OFFERS = [
    parse_offer({"code": "p", "kind": "percent_off", "percent": 15, "group": "g"}),
    parse_offer({"code": "a", "kind": "amount_off", "amount": "30", "group": "g"}),
    parse_offer(
        {"code": "l", "kind": "ladder", "steps": [{"over": 100, "off": 20}, {"over": 300, "off": 80}]}
    ),
    parse_offer({"code": "x", "kind": "amount_off", "amount": "90", "group": "exclusive"}),
    parse_offer({"code": "b", "kind": "buy_x_get_y", "buy": 1, "get": 1, "when": {"categories": ["t"]}}),
]
LINES = st.lists(
    st.builds(
        OfferLine,
        amount_minor=st.integers(1, 50_000),
        quantity=st.integers(1, 4),
        category=st.sampled_from(["t", "u", None]),
        sku=st.sampled_from(["A", "B"]),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=80, deadline=None)
@given(LINES)
def test_a_discount_never_exceeds_a_line_nor_loses_to_a_single_offer(lines: list[OfferLine]) -> None:
    applied = apply_offers(OFFERS, SALE, lines)
    amounts = [ln.amount_minor for ln in lines]
    assert all(0 <= d <= a for d, a in zip(applied.discount.tolist(), amounts, strict=True))
    assert applied.total_minor == int(applied.entry_minor.sum())
    for offer in OFFERS:
        assert applied.total_minor >= min(int(offer_discount(offer, SALE, lines).sum()), sum(amounts))
