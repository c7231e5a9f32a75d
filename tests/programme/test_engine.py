"""The earning engine on hand-computed cases: each rule kind, the order, rounding, member day and
birthday in the store's zone across month ends and New Year, and batch invariance (Hypothesis): a sale
earns the same alone and inside any batch."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty.domain.errors import InvalidInput
from loyalty.domain.programme.engine import FEW_SALES, Earned, Rule
from loyalty.domain.programme.rules import parse_rule
from loyalty.services.earning_rules.frames import SaleColumns, earn_lines, utc_offsets

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def us(at: datetime) -> int:
    return (at - EPOCH).days * 86_400_000_000 + (at - EPOCH).seconds * 1_000_000 + (at - EPOCH).microseconds


def rule(raw: dict[str, Any], rid: int = 1, stores: frozenset[int] = frozenset(), start: int = 0) -> Rule:
    return Rule(rid, 1, 1, parse_rule(raw), stores, start)


@dataclass
class Sale:
    at: datetime
    lines: list[tuple[Any, ...]]  # amount, category, sku (and brand)
    zone: str = "Asia/Shanghai"
    store: int = 1
    channel: str = "store"
    tier: str = "basic"
    multiplier: int = 100
    per_unit: int = 1
    member: bool = True
    birthday: date | None = None
    excluded: list[bool] = field(default_factory=list)


def run(rules: list[Rule], sales: list[Sale]) -> Earned:
    n = len(sales)
    columns = SaleColumns(
        programme_id=np.ones(n, dtype=np.int64),
        store_id=np.array([s.store for s in sales], dtype=np.int64),
        occurred_us=np.array([us(s.at) for s in sales], dtype=np.int64),
        zone=[s.zone for s in sales],
        channel=[s.channel for s in sales],
        tier_code=[s.tier for s in sales],
        points_per_unit=np.array([s.per_unit for s in sales], dtype=np.int64),
        multiplier_pct=np.array([s.multiplier for s in sales], dtype=np.int64),
        member=np.array([s.member for s in sales], dtype=bool),
        birthday=[s.birthday for s in sales],
    )
    flat = [(i, ln) for i, s in enumerate(sales) for ln in s.lines]
    excluded = [x for s in sales for x in (s.excluded or [False] * len(s.lines))]
    brands = [ln[3] if len(ln) > 3 else None for _, ln in flat]
    return earn_lines(
        rules,
        columns,
        np.array([i for i, _ in flat], dtype=np.int64),
        np.array([ln[0] for _, ln in flat], dtype=np.int64),
        [ln[1] for _, ln in flat],
        [ln[2] for _, ln in flat],
        np.array(excluded, dtype=bool),
        brand=brands if any(b is not None for b in brands) else None,
    )


def entries(earned: Earned) -> list[tuple[int, str, int]]:
    return sorted(
        (int(line), earned.rules[int(r)].spec.code, int(p))
        for line, r, p in zip(earned.entry_line, earned.entry_rule, earned.entry_points, strict=True)
    )


# 2026-12-08 10:00 in Shanghai (02:00 UTC); the 8th is the member day below.
MEMBER_DAY = datetime(2026, 12, 8, 2, tzinfo=UTC)
OTHER_DAY = datetime(2026, 12, 9, 2, tzinfo=UTC)


def test_base_points_alone_are_the_programme_rule() -> None:
    earned = run([], [Sale(MEMBER_DAY, [(12_345, "coffee", "A"), (99, None, "B")], multiplier=150)])
    # floor(12345 × 1 × 150 / 10000) = 185; floor(99 × 150 / 10000) = 1
    assert earned.base.tolist() == [185, 1]
    assert entries(earned) == []


CASES: list[tuple[str, dict[str, Any], Sale, list[int], list[tuple[int, str, int]]]] = [
    (
        "member day doubles every line (extra = base, tier included)",
        {
            "code": "md",
            "kind": "multiplier",
            "multiplier_pct": 200,
            "when": {"member_day": {"days_of_month": [8]}},
        },
        Sale(MEMBER_DAY, [(10_050, "coffee", "A"), (333, "tea", "B")], multiplier=120),
        [120, 3],
        [(0, "md", 120), (1, "md", 3)],
    ),
    (
        "not on another day",
        {
            "code": "md",
            "kind": "multiplier",
            "multiplier_pct": 200,
            "when": {"member_day": {"days_of_month": [8]}},
        },
        Sale(OTHER_DAY, [(10_050, "coffee", "A")]),
        [100],
        [],
    ),
    (
        "a category multiplier touches its category only; 150% of 99 base points adds floor(49.5)",
        {"code": "tea", "kind": "multiplier", "multiplier_pct": 150, "when": {"categories": ["tea"]}},
        Sale(OTHER_DAY, [(9_999, "tea", "A"), (9_999, "coffee", "B")]),
        [99, 99],
        [(0, "tea", 49)],
    ),
    (
        "bonus per unit: 3 per ¥1 of a SKU's spend, floored",
        {"code": "sku", "kind": "bonus_per_unit", "points_per_unit": 3, "when": {"skus": ["B"]}},
        Sale(OTHER_DAY, [(1_000, "tea", "A"), (1_299, "tea", "B")]),
        [10, 12],
        [(1, "sku", 38)],
    ),
    (
        "a fixed bonus is shared by amount, largest remainder, and sums exactly",
        {"code": "fix", "kind": "fixed_bonus", "points": 100},
        Sale(OTHER_DAY, [(100, "a", "A"), (100, "b", "B"), (100, "c", "C")]),
        [1, 1, 1],
        [(0, "fix", 34), (1, "fix", 33), (2, "fix", 33)],
    ),
    (
        "minimum spend counts the selected lines only (¥60 of tea < ¥80)",
        {
            "code": "min",
            "kind": "fixed_bonus",
            "points": 50,
            "when": {"categories": ["tea"], "min_spend": "80"},
        },
        Sale(OTHER_DAY, [(6_000, "tea", "A"), (5_000, "coffee", "B")]),
        [60, 50],
        [],
    ),
    (
        "minimum spend reached exactly",
        {"code": "min", "kind": "fixed_bonus", "points": 50, "when": {"min_spend": "110"}},
        Sale(OTHER_DAY, [(6_000, "tea", "A"), (5_000, "coffee", "B")]),
        [60, 50],
        [(0, "min", 27), (1, "min", 23)],
    ),
    (
        "hours in the store's zone: 10:00 in Shanghai is inside 09:00-11:00",
        {"code": "am", "kind": "bonus_per_unit", "points_per_unit": 1, "when": {"hours": "09:00-11:00"}},
        Sale(MEMBER_DAY, [(1_000, None, "A")]),
        [10],
        [(0, "am", 10)],
    ),
    (
        "hours wrap past midnight: 22:00-02:00 does not hold 10:00",
        {"code": "night", "kind": "bonus_per_unit", "points_per_unit": 1, "when": {"hours": "22:00-02:00"}},
        Sale(MEMBER_DAY, [(1_000, None, "A")]),
        [10],
        [],
    ),
    (
        "channels and tiers select sales",
        {
            "code": "gold",
            "kind": "bonus_per_unit",
            "points_per_unit": 1,
            "when": {"tiers": ["gold"], "channels": ["online"]},
        },
        Sale(OTHER_DAY, [(1_000, None, "A")], tier="gold", channel="online"),
        [10],
        [(0, "gold", 10)],
    ),
    (
        "an anonymous sale earns nothing at all",
        {"code": "fix", "kind": "fixed_bonus", "points": 100},
        Sale(OTHER_DAY, [(1_000, None, "A")], member=False),
        [0],
        [],
    ),
    (
        "the programme's excluded lines earn no rule's points either",
        {"code": "fix", "kind": "fixed_bonus", "points": 100},
        Sale(OTHER_DAY, [(1_000, "tobacco", "A"), (1_000, "tea", "B")], excluded=[True, False]),
        [0, 10],
        [(1, "fix", 100)],
    ),
]


@pytest.mark.parametrize(("name", "raw", "sale", "base", "expected"), CASES, ids=[c[0] for c in CASES])
def test_rule_kinds(name: str, raw: dict[str, Any], sale: Sale, base: list[int], expected: list[Any]) -> None:
    earned = run([rule(raw)], [sale])
    assert earned.base.tolist() == base
    assert entries(earned) == expected
    assert int(earned.line_points.sum()) == sum(base) + sum(p for _, _, p in expected)


def test_exclude_rules_run_first_and_stop_keeps_lines_from_later_rules() -> None:
    rules = [
        rule({"code": "z-double", "kind": "multiplier", "multiplier_pct": 200, "priority": 50}, 1),
        rule({"code": "a-tea", "kind": "bonus_per_unit", "points_per_unit": 5, "priority": 10, "stop": True,
              "when": {"categories": ["tea"]}}, 2),
        rule({"code": "no-gift", "kind": "exclude", "priority": 99, "when": {"categories": ["gift"]}}, 3),
    ]  # fmt: skip
    earned = run(
        rules, [Sale(OTHER_DAY, [(1_000, "tea", "A"), (1_000, "coffee", "B"), (1_000, "gift", "C")])]
    )
    assert earned.base.tolist() == [10, 10, 0]  # the gift card earns nothing, though excluded "last"
    assert entries(earned) == [(0, "a-tea", 50), (1, "z-double", 10)]  # tea stopped before the double
    assert [r.spec.code for r in earned.rules] == ["a-tea", "z-double", "no-gift"]


def test_versions_earn_by_the_time_of_the_sale() -> None:
    change = us(datetime(2026, 12, 8, tzinfo=UTC))
    old = Rule(
        1,
        1,
        1,
        parse_rule({"code": "r", "kind": "bonus_per_unit", "points_per_unit": 1}),
        frozenset(),
        0,
        change,
    )
    new = Rule(
        2,
        2,
        1,
        parse_rule({"code": "r", "kind": "bonus_per_unit", "points_per_unit": 4}),
        frozenset(),
        change,
    )
    before = Sale(datetime(2026, 12, 7, 23, 59, 59, 999_999, tzinfo=UTC), [(1_000, None, "A")])
    after = Sale(datetime(2026, 12, 8, tzinfo=UTC), [(1_000, None, "A")])
    earned = run([old, new], [before, after])
    assert entries(earned) == [(0, "r", 10), (1, "r", 40)]
    assert {earned.rules[int(i)].id for i in earned.entry_rule} == {1, 2}


def test_store_scope_and_other_programmes() -> None:
    scoped = rule({"code": "sh", "kind": "bonus_per_unit", "points_per_unit": 1}, stores=frozenset({2}))
    other = Rule(
        9, 1, 2, parse_rule({"code": "p2", "kind": "bonus_per_unit", "points_per_unit": 1}), frozenset(), 0
    )
    earned = run(
        [scoped, other],
        [Sale(OTHER_DAY, [(1_000, None, "A")], store=1), Sale(OTHER_DAY, [(1_000, None, "A")], store=2)],
    )
    assert entries(earned) == [(1, "sh", 10)]


@pytest.mark.parametrize(
    ("utc", "zone", "member_day", "hit"),
    [
        # 2026-11-30 17:00 UTC is 1 December 01:00 in Shanghai: not the last day of November there
        (datetime(2026, 11, 30, 17, tzinfo=UTC), "Asia/Shanghai", {"days_of_month": ["last"]}, False),
        (datetime(2026, 11, 30, 15, tzinfo=UTC), "Asia/Shanghai", {"days_of_month": ["last"]}, True),
        # 1 March 03:00 UTC is still 28 February in New York: the last day of a non-leap February
        (datetime(2027, 3, 1, 3, tzinfo=UTC), "America/New_York", {"days_of_month": ["last"]}, True),
        (datetime(2028, 2, 28, 12, tzinfo=UTC), "America/New_York", {"days_of_month": ["last"]}, False),
        # a 31 never matches a 30-day month
        (datetime(2026, 11, 30, 12, tzinfo=UTC), "UTC", {"days_of_month": [31]}, False),
        # the last Friday of December 2026 is the 25th; the 18th is not
        (
            datetime(2026, 12, 25, 12, tzinfo=UTC),
            "UTC",
            {"nth_weekdays": [{"weekday": "fri", "n": "last"}]},
            True,
        ),
        (
            datetime(2026, 12, 18, 12, tzinfo=UTC),
            "UTC",
            {"nth_weekdays": [{"weekday": "fri", "n": "last"}]},
            False,
        ),
        (datetime(2026, 12, 8, 12, tzinfo=UTC), "UTC", {"nth_weekdays": [{"weekday": "tue", "n": 2}]}, True),
        (datetime(2026, 12, 9, 12, tzinfo=UTC), "UTC", {"weekdays": ["wed"]}, True),
    ],
)
def test_member_day_in_the_stores_zone(
    utc: datetime, zone: str, member_day: dict[str, Any], hit: bool
) -> None:
    raw = {"code": "md", "kind": "fixed_bonus", "points": 7, "when": {"member_day": member_day}}
    earned = run([rule(raw)], [Sale(utc, [(1_000, None, "A")], zone=zone)])
    assert (len(earned.entry_line) == 1) is hit


@pytest.mark.parametrize(
    ("utc", "zone", "born", "window", "hit"),
    [
        (datetime(2026, 12, 8, 2, tzinfo=UTC), "Asia/Shanghai", date(1990, 12, 8), "day", True),
        # 7 December 20:00 in New York is 8 December 01:00 UTC: not yet the birthday there
        (datetime(2026, 12, 8, 1, tzinfo=UTC), "America/New_York", date(1990, 12, 8), "day", False),
        # 29 February is the 28th in a common year
        (datetime(2027, 2, 28, 12, tzinfo=UTC), "UTC", date(2000, 2, 29), "day", True),
        (datetime(2028, 2, 28, 12, tzinfo=UTC), "UTC", date(2000, 2, 29), "day", False),
        # the birthday week spans New Year: born 31 December, a Thursday in 2026 → week 28 Dec - 3 Jan
        (datetime(2027, 1, 2, 12, tzinfo=UTC), "UTC", date(1990, 12, 31), "week", True),
        (datetime(2027, 1, 4, 12, tzinfo=UTC), "UTC", date(1990, 12, 31), "week", False),
        (datetime(2026, 12, 27, 12, tzinfo=UTC), "UTC", date(1990, 12, 31), "week", False),
        (datetime(2026, 11, 30, 17, tzinfo=UTC), "Asia/Shanghai", date(1990, 12, 20), "month", True),
        (datetime(2026, 11, 30, 15, tzinfo=UTC), "Asia/Shanghai", date(1990, 12, 20), "month", False),
        (datetime(2026, 12, 8, 2, tzinfo=UTC), "Asia/Shanghai", None, "month", False),
    ],
)
def test_birthday_windows(utc: datetime, zone: str, born: date | None, window: str, hit: bool) -> None:
    raw = {"code": "bd", "kind": "fixed_bonus", "points": 500, "when": {"birthday": window}}
    earned = run([rule(raw)], [Sale(utc, [(1_000, None, "A")], zone=zone, birthday=born)])
    assert (len(earned.entry_line) == 1) is hit


def test_offsets_follow_daylight_saving() -> None:
    at = np.array([us(datetime(2026, 3, 8, 6, 59, tzinfo=UTC)), us(datetime(2026, 3, 8, 7, tzinfo=UTC))])
    assert (utc_offsets(at, ["America/New_York"] * 2) // 3_600_000_000).tolist() == [-5, -4]


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"code": "Bad Code", "kind": "multiplier", "multiplier_pct": 200}, "code"),
        ({"code": "x", "kind": "multiplier", "multiplier_pct": 90}, "multiplier_pct"),
        ({"code": "x", "kind": "multiplier", "multiplier_pct": 200, "points": 5}, "points"),
        ({"code": "x", "kind": "fixed_bonus", "points": -5}, "points"),
        ({"code": "x", "kind": "bonus", "points": 5}, "kind"),
        ({"code": "x", "kind": "exclude"}, "when"),
        ({"code": "x", "kind": "fixed_bonus", "points": 5, "when": {"hours": "25:00-26:00"}}, "when.hours"),
        (
            {"code": "x", "kind": "fixed_bonus", "points": 5, "when": {"min_spend": "10.001"}},
            "when.min_spend",
        ),
        (
            {
                "code": "x",
                "kind": "fixed_bonus",
                "points": 5,
                "when": {"member_day": {"days_of_month": [32]}},
            },
            "when.member_day.days_of_month",
        ),
        ({"code": "x", "kind": "fixed_bonus", "points": 5, "when": {"birthday": "year"}}, "when.birthday"),
        ({"code": "x", "kind": "fixed_bonus", "points": 5, "when": {"colour": "red"}}, "when.colour"),
    ],
)
def test_a_rule_that_cannot_work_is_refused_naming_the_field(raw: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_rule(raw, "rules[2].")
    assert f"rules[2].{field}" in [e["field"] for e in refused.value.details["errors"]]


def test_the_dict_form_round_trips() -> None:
    raw = {
        "code": "md",
        "name": "会员日",
        "kind": "multiplier",
        "multiplier_pct": 200,
        "priority": 5,
        "stop": True,
        "when": {
            "stores": ["SH01"],
            "channels": ["store"],
            "tiers": ["gold"],
            "categories": ["生鲜"],
            "skus": ["A1"],
            "member_day": {
                "days_of_month": [8, "last"],
                "weekdays": ["sat"],
                "nth_weekdays": [{"weekday": "fri", "n": "last"}],
            },
            "birthday": "week",
            "hours": "09:30-21:00",
            "min_spend": "99.5",
        },
    }
    spec = parse_rule(raw)
    assert parse_rule(spec.as_dict()) == spec
    assert spec.as_dict()["when"]["min_spend"] == "99.5"


SALE = st.builds(
    Sale,
    at=st.datetimes(datetime(2025, 1, 1), datetime(2028, 12, 31), timezones=st.just(UTC)),
    lines=st.lists(
        st.tuples(
            st.integers(-500, 200_000), st.sampled_from(["tea", "coffee", None]), st.sampled_from(["A", "B"])
        ),
        min_size=1,
        max_size=4,
    ),
    zone=st.sampled_from(["Asia/Shanghai", "America/New_York", "UTC"]),
    store=st.integers(1, 2),
    channel=st.sampled_from(["store", "online"]),
    tier=st.sampled_from(["basic", "gold"]),
    multiplier=st.sampled_from([100, 125, 200]),
    member=st.booleans(),
    birthday=st.none() | st.dates(date(1950, 1, 1), date(2010, 12, 31)),
)
PROGRAMME = [
    rule(
        {
            "code": "md",
            "kind": "multiplier",
            "multiplier_pct": 200,
            "when": {"member_day": {"days_of_month": [8, "last"]}},
        },
        1,
    ),
    rule(
        {
            "code": "tea",
            "kind": "bonus_per_unit",
            "points_per_unit": 3,
            "stop": True,
            "priority": 10,
            "when": {"categories": ["tea"], "hours": "20:00-08:00"},
        },
        2,
    ),
    rule(
        {"code": "bd", "kind": "fixed_bonus", "points": 777, "when": {"birthday": "week", "min_spend": "50"}},
        3,
    ),
    rule(
        {
            "code": "gold",
            "kind": "multiplier",
            "multiplier_pct": 150,
            "when": {"tiers": ["gold"], "channels": ["online"]},
        },
        4,
    ),
    rule(
        {"code": "sh", "kind": "fixed_bonus", "points": 99, "when": {"skus": ["B"]}}, 5, stores=frozenset({2})
    ),
    rule(
        {
            "code": "no-coffee",
            "kind": "exclude",
            "when": {"categories": ["coffee"], "member_day": {"weekdays": ["sun"]}},
        },
        6,
    ),
]


@settings(max_examples=60, deadline=None)
@given(st.lists(SALE, min_size=1, max_size=8))
def test_a_sale_earns_the_same_alone_and_in_any_batch(sales: list[Sale]) -> None:
    together = run(PROGRAMME, sales)
    alone = [run(PROGRAMME, [s]) for s in sales]
    assert together.line_points.tolist() == [p for e in alone for p in e.line_points.tolist()]
    offsets = np.cumsum([0] + [len(s.lines) for s in sales])
    merged = sorted(
        (int(offsets[i] + line), code, pts) for i, e in enumerate(alone) for line, code, pts in entries(e)
    )
    assert entries(together) == merged
    assert (together.line_points >= 0).all()
    assert_as_in_a_large_batch(PROGRAMME, sales, together)


def assert_as_in_a_large_batch(programme: list[Rule], sales: list[Sale], few: Earned) -> None:
    """A few sales take their conditions sale by sale from the memo, a batch past `FEW_SALES` over
    its columns: the same sales at the head of a large batch earn exactly what they earned alone."""
    large = run(programme, sales * (FEW_SALES // len(sales) + 1))
    n_lines = sum(len(s.lines) for s in sales)
    assert large.line_points[:n_lines].tolist() == few.line_points.tolist()
    assert [e for e in entries(large) if e[0] < n_lines] == entries(few)


# --- limits ------------------------------------------------------------------------------------------

from loyalty.domain.programme.engine import Lines, Sales  # noqa: E402
from loyalty.domain.programme.limits import clamp, limited_keys, period_key  # noqa: E402
from loyalty.services.earning_rules.frames import sales_frame, vocabulary  # noqa: E402


def frames(sales: list[Sale], members: list[int]) -> tuple[Sales, Lines]:
    n = len(sales)
    columns = SaleColumns(
        programme_id=np.ones(n, dtype=np.int64),
        store_id=np.array([s.store for s in sales], dtype=np.int64),
        occurred_us=np.array([us(s.at) for s in sales], dtype=np.int64),
        zone=[s.zone for s in sales],
        channel=[s.channel for s in sales],
        tier_code=[s.tier for s in sales],
        points_per_unit=np.ones(n, dtype=np.int64),
        multiplier_pct=np.full(n, 100, dtype=np.int64),
        member=np.ones(n, dtype=bool),
        birthday=[None] * n,
        member_id=np.array(members, dtype=np.int64),
    )
    flat = [(i, ln) for i, s in enumerate(sales) for ln in s.lines]
    lines = Lines(
        sale=np.array([i for i, _ in flat], dtype=np.int64),
        amount_minor=np.array([ln[0] for _, ln in flat], dtype=np.int64),
        category=vocabulary([ln[1] for _, ln in flat]),
        sku=vocabulary([ln[2] for _, ln in flat]),
        excluded=np.zeros(len(flat), dtype=bool),
        brand=vocabulary([ln[3] if len(ln) > 3 else None for _, ln in flat]),
    )
    return sales_frame(columns), lines


@pytest.mark.parametrize(
    ("period", "utc", "zone", "key"),
    [
        ("day", datetime(2026, 12, 7, 17, tzinfo=UTC), "Asia/Shanghai", "2026-12-08"),
        ("week", datetime(2027, 1, 2, 12, tzinfo=UTC), "UTC", "2026-W53"),
        ("week", datetime(2026, 12, 31, 20, tzinfo=UTC), "Asia/Shanghai", "2026-W53"),
        ("month", datetime(2026, 11, 30, 17, tzinfo=UTC), "Asia/Shanghai", "2026-12"),
        ("year", datetime(2026, 12, 31, 17, tzinfo=UTC), "Asia/Shanghai", "2027"),
        ("ever", datetime(2026, 12, 31, 17, tzinfo=UTC), "UTC", "-"),
    ],
)
def test_periods_are_the_stores_calendar(period: str, utc: datetime, zone: str, key: str) -> None:
    sales, _ = frames([Sale(utc, [(100, None, "A")], zone=zone)], [1])
    assert period_key(period, int(sales.local.days[0])) == key


def test_a_member_cap_cuts_in_posting_order_and_counts_what_was_given_before() -> None:
    capped = rule({"code": "cap", "kind": "bonus_per_unit", "points_per_unit": 10,
                   "limits": {"per_member": {"points": 250, "per": "month"}}})  # fmt: skip
    day = datetime(2026, 12, 9, 2, tzinfo=UTC)
    sales, lines = frames(
        [
            Sale(day, [(1_000, None, "A"), (1_000, None, "B")]),  # 100 + 100
            Sale(day, [(1_000, None, "A")]),  # member 2: own cap
            Sale(day, [(1_000, None, "A"), (1_000, None, "B")]),  # member 1 again: 50 left, then 0
            Sale(datetime(2027, 1, 9, 2, tzinfo=UTC), [(1_000, None, "A")]),  # a new month
        ],
        [1, 2, 1, 1],
    )
    earned = run_frames([capped], sales, lines)
    assert len(limited_keys(earned, sales, lines)) == 3
    clamped, added = clamp(earned, sales, lines, {("cap", 1, "member", 1, "2026-12"): 0})
    assert entries(clamped) == [
        (0, "cap", 100),
        (1, "cap", 100),
        (2, "cap", 100),
        (3, "cap", 50),
        (5, "cap", 100),
    ]
    assert added == {
        ("cap", 1, "member", 1, "2026-12"): 250,
        ("cap", 1, "member", 2, "2026-12"): 100,
        ("cap", 1, "member", 1, "2027-01"): 100,
    }
    # What earlier sales gave counts: with 240 given already, member 1 gets 10 in December.
    clamped, added = clamp(earned, sales, lines, {("cap", 1, "member", 1, "2026-12"): 240})
    assert [p for line, _, p in entries(clamped) if line in (0, 1, 3, 4)] == [10]
    assert added[("cap", 1, "member", 1, "2026-12")] == 10


def test_budgets_chain_wide_and_per_store() -> None:
    chain = rule({"code": "chain", "kind": "fixed_bonus", "points": 100,
                  "limits": {"budget": {"points": 250}}}, 1)  # fmt: skip
    store = rule({"code": "store", "kind": "fixed_bonus", "points": 60,
                  "limits": {"budget": {"points": 100, "per": "day", "per_store": True}}}, 2)  # fmt: skip
    day = datetime(2026, 12, 9, 2, tzinfo=UTC)
    sales, lines = frames([Sale(day, [(100, None, "A")], store=s) for s in (1, 2, 1, 2)], [1, 2, 3, 4])
    clamped, added = clamp(run_frames([chain, store], sales, lines), sales, lines, {})
    assert entries(clamped) == [
        (0, "chain", 100), (0, "store", 60), (1, "chain", 100), (1, "store", 60),
        (2, "chain", 50), (2, "store", 40), (3, "store", 40),
    ]  # fmt: skip
    assert added[("chain", 1, "chain", 0, "-")] == 250
    assert added[("store", 1, "store", 1, "2026-12-09")] == 100


def run_frames(rules: list[Rule], sales: Sales, lines: Lines) -> Earned:
    from loyalty.domain.programme.engine import earn

    return earn(rules, sales, lines)


BONUS = {"code": "x", "kind": "fixed_bonus", "points": 5}


@pytest.mark.parametrize(
    ("raw", "wrong"),
    [
        (
            {"code": "x", "kind": "exclude", "when": {"skus": ["A"]}, "limits": {"budget": {"points": 5}}},
            "limits",
        ),
        ({**BONUS, "limits": {"budget": {"points": 0}}}, "limits.budget.points"),
        ({**BONUS, "limits": {"per_member": {"points": 5, "per": "hour"}}}, "limits.per_member.per"),
        (
            {**BONUS, "limits": {"per_member": {"points": 5, "per_store": True}}},
            "limits.per_member.per_store",
        ),
    ],
)
def test_limits_are_refused_where_they_cannot_work(raw: dict[str, Any], wrong: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_rule(raw)
    assert wrong in [e["field"] for e in refused.value.details["errors"]]


def test_limits_round_trip() -> None:
    limits = {
        "per_member": {"points": 5, "per": "year"},
        "budget": {"points": 9, "per": "ever", "per_store": True},
    }
    spec = parse_rule({**BONUS, "limits": limits})
    assert spec.as_dict()["limits"] == limits
    assert parse_rule(spec.as_dict()) == spec


def test_purchase_numbers_select_the_nth_or_every_nth_purchase() -> None:
    from dataclasses import replace

    from loyalty.domain.programme.engine import earn

    first = rule(
        {"code": "first", "kind": "fixed_bonus", "points": 10, "when": {"purchase_number": {"n": 1}}}, 1
    )
    third = rule(
        {
            "code": "third",
            "kind": "fixed_bonus",
            "points": 5,
            "when": {"purchase_number": {"every": 3, "per": "month"}},
        },
        2,
    )
    day = datetime(2026, 12, 9, 2, tzinfo=UTC)
    sales, lines = frames([Sale(day, [(100, None, "A")]) for _ in range(4)], [1, 1, 1, 1])
    numbered = replace(
        sales,
        purchase_numbers={"ever": np.array([1, 2, 5, 6]), "month": np.array([1, 3, 6, 7])},
    )
    assert entries(earn([first, third], numbered, lines)) == [
        (0, "first", 10),
        (1, "third", 5),
        (2, "third", 5),
    ]
    spec = parse_rule(
        {"code": "x", "kind": "fixed_bonus", "points": 1, "when": {"purchase_number": {"every": 2}}}
    )
    assert parse_rule(spec.as_dict()) == spec
    for bad in ({"n": 1, "every": 2}, {"n": 0}, {"every": 1}, {"n": 2, "per": "hour"}, {}):
        with pytest.raises(InvalidInput):
            parse_rule({"code": "x", "kind": "fixed_bonus", "points": 1, "when": {"purchase_number": bad}})


def test_brand_rules_select_the_lines_of_their_brands() -> None:
    double = rule(
        {"code": "acme-x2", "kind": "multiplier", "multiplier_pct": 200, "when": {"brands": ["ACME"]}}, 1
    )
    no_house_tea = rule(
        {"code": "no-house-tea", "kind": "exclude", "when": {"brands": ["house"], "categories": ["tea"]}}, 2
    )
    day = datetime(2026, 12, 9, 2, tzinfo=UTC)
    lines = [(1_000, "tea", "A", "ACME"), (1_000, "tea", "B", "house"), (1_000, "coffee", "C", "house"),
             (1_000, "tea", "D", None)]  # fmt: skip
    for sales in ([Sale(day, lines)], [Sale(day, lines), Sale(day, lines[:1])]):  # alone, in a batch
        earned = run([double, no_house_tea], sales)
        assert earned.line_points.tolist()[:4] == [20, 0, 10, 10]
        assert entries(earned)[0] == (0, "acme-x2", 10)
    spec = parse_rule(
        {"code": "b", "kind": "fixed_bonus", "points": 5, "when": {"brands": ["ACME", "星巴克"]}}
    )
    assert spec.when.brands == frozenset({"ACME", "星巴克"})
    assert spec.as_dict()["when"] == {"brands": ["ACME", "星巴克"]}
    with pytest.raises(InvalidInput) as refused:
        parse_rule({"code": "b", "kind": "fixed_bonus", "points": 5, "when": {"brands": "ACME"}})
    assert [e["field"] for e in refused.value.details["errors"]] == ["when.brands"]


def test_visit_streaks_select_every_nth_period_in_a_row() -> None:
    from dataclasses import replace

    from loyalty.domain.programme.engine import earn

    streak = rule(
        {
            "code": "four-weeks",
            "kind": "fixed_bonus",
            "points": 200,
            "when": {"visit_streak": {"periods": 4, "per": "week"}},
        },
        1,
    )
    day = datetime(2026, 12, 9, 2, tzinfo=UTC)
    sales, lines = frames([Sale(day, [(100, None, "A")]) for _ in range(5)], [1, 1, 1, 1, 1])
    streaked = replace(sales, visit_streaks={"week": np.array([3, 4, 0, 8, 5])})  # 0: not the first
    assert entries(earn([streak], streaked, lines)) == [(1, "four-weeks", 200), (3, "four-weeks", 200)]
    spec = parse_rule({**streak.spec.as_dict()})
    assert spec.when.visit_streak is not None
    assert parse_rule(spec.as_dict()) == spec
    assert spec.as_dict()["when"] == {"visit_streak": {"periods": 4, "per": "week"}}
    for bad, wrong in (
        ({"periods": 1, "per": "week"}, "when.visit_streak.periods"),
        ({"periods": 3, "per": "ever"}, "when.visit_streak.per"),
        ({"periods": 3, "per": "hour"}, "when.visit_streak.per"),
        ({"periods": 3}, "when.visit_streak"),
        ({"periods": "x", "per": "day"}, "when.visit_streak.periods"),
        ([3, "week"], "when.visit_streak"),
    ):
        with pytest.raises(InvalidInput) as refused:
            parse_rule({"code": "x", "kind": "fixed_bonus", "points": 1, "when": {"visit_streak": bad}})
        assert [e["field"] for e in refused.value.details["errors"]] == [wrong]


def test_a_streak_is_the_run_of_periods_with_a_purchase_ending_just_before_the_sales() -> None:
    from loyalty.domain.programme.engine import visit_streaks

    held_member = np.array([7, 7, 7, 7, 7, 9, 9, 7])
    held_period = np.array([10, 11, 11, 12, 14, 12, 13, 2])  # member 7: 10–12 in a row, 14; 9: 12–13
    member = np.array([7, 7, 7, 7, 9, 9, 8])
    period = np.array([13, 15, 12, 11, 14, 12, 5])
    first = np.array([True, True, True, True, True, False, True])
    assert visit_streaks(held_member, held_period, member, period, first).tolist() == [4, 2, 3, 2, 3, 0, 1]
    nothing = np.zeros(0, dtype=np.int64)
    assert visit_streaks(nothing, nothing, np.array([3]), np.array([-20_000]), np.array([True])).tolist() == [
        1
    ]


@pytest.mark.parametrize(
    ("per", "local", "following"),
    [
        ("day", datetime(2026, 12, 31, 23, 59), datetime(2027, 1, 1, 0, 0)),
        ("week", datetime(2027, 1, 3, 23, 59), datetime(2027, 1, 4, 0, 0)),  # Sunday, then Monday
        ("month", datetime(2024, 2, 29, 12, 0), datetime(2024, 3, 1, 0, 0)),
        ("year", datetime(2026, 12, 31, 23, 0), datetime(2027, 1, 1, 1, 0)),
    ],
)
def test_the_next_period_has_the_next_number(per: str, local: datetime, following: datetime) -> None:
    from loyalty.domain.programme.engine import LocalDays, period_numbers

    def number(at: datetime) -> int:
        us = int(at.replace(tzinfo=UTC).timestamp() * 1_000_000)
        return int(period_numbers(LocalDays.of(np.array([us, us]), np.zeros(2, dtype=np.int64)), per)[0])

    assert number(following) == number(local) + 1
    assert number(local.replace(hour=0, minute=0)) == number(local)


# --- the one-sale fast paths equal the column paths ------------------------------------------------

from loyalty.domain.programme import engine as _engine  # noqa: E402

_US_PER_HOUR = 3_600_000_000


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=-(2**55), max_value=2**55),
    st.sampled_from([0, 8 * _US_PER_HOUR, -5 * _US_PER_HOUR, 9 * _US_PER_HOUR + 1_800_000_000]),
)
def test_a_sales_local_day_alone_is_the_columns(occurred_us: int, offset_us: int) -> None:
    alone = _engine.LocalDays.of(np.array([occurred_us]), np.array([offset_us]))
    column = _engine.LocalDays.of(np.array([occurred_us, 0]), np.array([offset_us, 0]))
    for name in ("days", "year", "month", "day", "weekday", "minute", "days_in_month"):
        assert getattr(alone, name).tolist() == getattr(column, name).tolist()[:1], name


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(1, 10**7)), min_size=1, max_size=_engine._FEW))
def test_a_fixed_bonus_shared_over_few_lines_is_the_columns(entries: list[tuple[int, int]]) -> None:
    entries.sort(key=lambda e: e[0])
    group = np.array([g for g, _ in entries], dtype=np.int64)
    amount = np.array([a for _, a in entries], dtype=np.int64)
    points = (group * 37 + 11) * 3
    few = _engine.shared(points, group, amount)
    padded = np.concatenate([group, np.full(_engine._FEW, 99)])  # past `_FEW`: the column path
    many = _engine.shared(
        np.concatenate([points, np.full(_engine._FEW, 5)]),
        padded,
        np.concatenate([amount, np.ones(_engine._FEW, dtype=np.int64)]),
    )
    assert few.tolist() == many.tolist()[: len(entries)]
    assert np.bincount(group, weights=few).astype(np.int64)[np.unique(group)].tolist() == [
        int(points[group == g][0]) for g in np.unique(group)
    ]


_WHEN = st.fixed_dictionaries(
    {},
    optional={
        "categories": st.lists(st.sampled_from(["tea", "coffee"]), min_size=1, max_size=2, unique=True),
        "skus": st.lists(st.sampled_from(["A", "B"]), min_size=1, max_size=1),
        "brands": st.lists(st.sampled_from(["ACME", "house"]), min_size=1, max_size=2, unique=True),
        "min_spend": st.sampled_from(["1", "50", "300"]),
        "tiers": st.just(["gold"]),
        "hours": st.sampled_from(["08:00-20:00", "20:00-08:00"]),
        "member_day": st.just({"weekdays": ["sat", "sun"]}),
    },
)
#: sales whose lines sit on either side of the minimum spends above (¥1, ¥50, ¥300)
_NEAR_THRESHOLDS = st.builds(
    Sale,
    at=st.datetimes(datetime(2025, 1, 1), datetime(2028, 12, 31), timezones=st.just(UTC)),
    lines=st.lists(
        st.tuples(
            st.sampled_from([-100, 0, 99, 100, 2_999, 3_000, 4_999, 5_000, 29_999, 30_000])
            | st.integers(1, 90_000),
            st.sampled_from(["tea", "coffee", None]),
            st.sampled_from(["A", "B"]),
            st.sampled_from(["ACME", "house", None]),
        ),
        min_size=1,
        max_size=4,
    ),
    tier=st.sampled_from(["basic", "gold"]),
    multiplier=st.sampled_from([100, 125, 200]),
    member=st.booleans(),
)
_RULE = st.one_of(
    st.builds(
        lambda n, w: {"kind": "multiplier", "multiplier_pct": n, "when": w}, st.integers(101, 400), _WHEN
    ),
    st.builds(
        lambda n, w: {"kind": "bonus_per_unit", "points_per_unit": n, "when": w}, st.integers(1, 9), _WHEN
    ),
    st.builds(lambda n, w: {"kind": "fixed_bonus", "points": n, "when": w}, st.integers(1, 999), _WHEN),
    st.builds(lambda w: {"kind": "exclude", "when": w}, _WHEN.filter(lambda w: "min_spend" not in w)),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(_RULE, st.integers(0, 3), st.booleans()), min_size=1, max_size=6),
    st.lists(_NEAR_THRESHOLDS, min_size=2, max_size=3),
)
def test_any_programme_earns_the_same_for_a_sale_alone_as_in_a_batch(
    drawn: list[tuple[dict[str, Any], int, bool]], sales: list[Sale]
) -> None:
    """A sale alone takes `_earn_alone` (Python values); in a batch the column path: equal, entry
    for entry, whatever the programme."""
    programme = []
    for i, (raw, priority, stop) in enumerate(drawn):
        extra = {"stop": stop} if raw["kind"] != "exclude" else {}
        try:
            programme.append(rule({**raw, "code": f"r{i}", "priority": priority, **extra}, i + 1))
        except InvalidInput:  # a combination the rules refuse when defined
            continue
    together = run(programme, sales)
    alone = [run(programme, [s]) for s in sales]
    assert together.line_points.tolist() == [p for e in alone for p in e.line_points.tolist()]
    assert together.base.tolist() == [p for e in alone for p in e.base.tolist()]
    offsets = np.cumsum([0] + [len(s.lines) for s in sales])
    merged = sorted(
        (int(offsets[i] + line), code, pts) for i, e in enumerate(alone) for line, code, pts in entries(e)
    )
    assert entries(together) == merged
    assert_as_in_a_large_batch(programme, sales, together)
