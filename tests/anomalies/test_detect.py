"""Each rule and method on a hand-built case: who is flagged, who is not, and the reason in words.

The activity is written out row by row (`tests/anomalies/frames.py`); the expected figures are worked
out here from those rows, not from the code.
"""

from __future__ import annotations

import numpy as np
import pytest

from loyalty.analytics.anomalies import (
    Finding,
    RuleSet,
    centre,
    detect,
    feature_scores,
    member_features,
    reason,
    resolve,
    robust_z,
    validated,
)
from loyalty.domain.errors import InvalidInput
from tests.anomalies.frames import activity, adjustments, ordinary, purchases, redemptions


def only(code: str, **params: float) -> RuleSet:
    """The default rules with only `code` on, its parameters changed as given."""
    base = resolve()
    stored = {c: {"enabled": c == code, "params": dict(s.params)} for c, s in base.settings.items()}
    stored[code]["params"].update(params)
    return resolve(stored)


def found(rules: RuleSet, act: object) -> dict[object, Finding]:
    out = {}
    for f in detect(act, rules).findings:  # type: ignore[arg-type]
        out[f.member_id if f.subject_kind == "member" else f.operator] = f
    return out


def words(f: Finding) -> str:
    return reason(f.reason_code, f.params, "en")


def test_points_earned_in_a_day() -> None:
    p = purchases(
        *ordinary(range(2, 7)),
        (1, 1, "2026-03-10 10:00", 300_000, 0, 3_000),
        (1, 1, "2026-03-10 18:00", 350_000, 0, 3_500),
        (7, 1, "2026-03-11 10:00", 499_900, 0, 4_999),
    )
    flags = found(only("points_earned"), activity(p))
    assert set(flags) == {1}  # member 7's 4,999 is under the line of 5,000
    f = flags[1]
    # member-days: 6,500, five of 100 and 4,999 → the median day is 100
    assert (f.kind, f.reason_code, f.score) == ("points_earned", "points_earned_day", 1.3)
    assert (str(f.period_start), str(f.period_end)) == ("2026-03-10", "2026-03-10")
    assert words(f) == (
        "Earned 6,500 points on 2026-03-10, 65.0× the chain's median day (100); the limit is 5,000 a day."
    )


def test_points_spent_in_days_and_a_week() -> None:
    r = redemptions(
        (1, 1, "2026-03-09 12:00", 7_000), (1, 1, "2026-03-11 12:00", 6_000), (2, 1, "2026-03-09 13:00", 500)
    )
    flags = found(only("points_spent"), activity(r=r))
    assert set(flags) == {1}
    f = flags[1]
    # over the day line twice (7,000 and 6,000) and the week's (13,000 from Monday 9 March): the worst is
    # 7,000 / 5,000; the flag spans the week
    assert (f.reason_code, f.score, f.params["breaches"]) == ("points_spent_day", 1.4, 3)
    assert (str(f.period_start), str(f.period_end)) == ("2026-03-09", "2026-03-15")
    assert words(f) == (
        "Redeemed 7,000 points on 2026-03-09, 1.2× the chain's median day (6,000); the limit is 5,000 a day."
    )


def test_velocity_counts_purchases_and_redemptions_within_any_hour() -> None:
    p = purchases(
        *[(1, 1, f"2026-03-05 10:{m:02d}", 1_000, 0, 10) for m in (0, 10, 20, 30, 40)],
        *[(2, 1, f"2026-03-05 {10 + m // 60}:{m % 60:02d}", 1_000, 0, 10) for m in (0, 15, 30, 45, 60, 75)],
    )
    r = redemptions((1, 1, "2026-03-05 10:50", 100))
    flags = found(only("velocity"), activity(p, r))
    assert set(flags) == {1}  # member 2's six purchases span 75 minutes: at most four in any hour
    f = flags[1]
    assert (f.score, f.params["count"]) == (1.0, 6)
    assert words(f) == (
        "6 purchases and redemptions within an hour, from 2026-03-05 10:00 to 2026-03-05 10:50; "
        "the limit is 6."
    )


def test_shared_card_in_two_cities_too_close_in_time() -> None:
    # 12:00 in Shanghai is 04:00 UTC; 10:30 in Urumqi (UTC+6) is 04:30 UTC: 30 minutes apart
    p = purchases(
        (1, 1, "2026-03-03 12:00", 5_000, 0, 50),
        (1, 2, "2026-03-03 10:30", 5_000, 0, 50),
        (1, 1, "2026-03-07 12:00", 5_000, 0, 50),
        (1, 2, "2026-03-07 10:30", 5_000, 0, 50),
        (2, 1, "2026-03-03 12:00", 5_000, 0, 50),  # once only: a till's clock, a mistyped card
        (2, 2, "2026-03-03 10:30", 5_000, 0, 50),
        (3, 1, "2026-03-03 12:00", 5_000, 0, 50),  # online orders say nothing about where the card is
        (3, 3, "2026-03-03 12:10", 5_000, 0, 50, "online"),
        (3, 1, "2026-03-04 12:00", 5_000, 0, 50),
        (3, 3, "2026-03-04 12:10", 5_000, 0, 50, "online"),
    )
    flags = found(only("shared_card"), activity(p))
    assert set(flags) == {1}
    f = flags[1]
    assert (f.reason_code, f.score, f.params["pairs"]) == ("shared_card_travel", 3.0, 2)
    assert (str(f.period_start), str(f.period_end)) == ("2026-03-03", "2026-03-07")
    assert words(f) == (
        "Card used in 上海 at 2026-03-03 12:00 and in 乌鲁木齐 at 2026-03-03 10:30, 30 minutes apart "
        "(under 90); 2 such pairs in the period."
    )


def test_shared_card_in_many_stores_on_one_day() -> None:
    p = purchases(
        (4, 1, "2026-03-12 09:00", 5_000, 0, 50),
        (4, 3, "2026-03-12 15:00", 5_000, 0, 50),
        (4, 2, "2026-03-12 20:00", 5_000, 0, 50),
    )
    flags = found(only("shared_card", stores_per_day=3), activity(p))
    assert words(flags[4]) == "Card used in 3 stores on 2026-03-12; the limit is 3 a day."


def test_return_ratio_over_enough_purchases() -> None:
    p = purchases(
        (1, 1, "2026-03-02 12:00", 10_000, 10_000, 100),
        (1, 1, "2026-03-04 12:00", 10_000, 10_000, 100),
        (1, 1, "2026-03-06 12:00", 10_000, 0, 100),
        (2, 1, "2026-03-02 12:00", 10_000, 10_000, 100),  # everything returned, but two purchases only
        (2, 1, "2026-03-03 12:00", 10_000, 10_000, 100),
    )
    flags = found(only("return_ratio"), activity(p))
    assert set(flags) == {1}
    f = flags[1]
    assert f.score == pytest.approx((2 / 3) / 0.6, abs=1e-4)
    assert words(f) == "Returned 66.7% of CN¥300.00 bought in 3 purchases (2 with returns); the limit is 60%."


def test_after_hours_in_the_stores_own_zone() -> None:
    r = redemptions(
        (1, 2, "2026-03-20 23:30", 800),  # Urumqi time: at night there
        (2, 1, "2026-03-20 22:59", 800),
        (3, 1, "2026-03-21 05:59", 300),
        (4, 1, "2026-03-21 06:00", 300),
    )
    flags = found(only("after_hours"), activity(r=r))
    assert set(flags) == {1, 3}
    assert words(flags[1]) == (
        "Redeemed 800 points at night (23:00–06:00 store time), 1× in the period, "
        "the first at 2026-03-20 23:30 in Urumqi store."
    )


def test_staff_adjustments_by_count_and_by_points() -> None:
    a = adjustments(
        *[("staff:7", 1 + k % 2, f"2026-03-15 {9 + k // 6:02d}:{(k % 6) * 10:02d}", 100) for k in range(10)],
        ("staff:8", 3, "2026-03-16 10:00", -5_000),
        ("staff:8", 4, "2026-03-16 10:05", 5_000),
        ("staff:8", 5, "2026-03-16 10:10", 5_000),
        ("staff:9", 6, "2026-03-16 11:00", 900),
    )
    flags = found(only("staff_adjustments"), activity(a=a))
    assert set(flags) == {"staff:7", "staff:8"}
    assert flags["staff:7"].subject == "staff:staff:7"
    assert words(flags["staff:7"]) == (
        "staff:7 made 10 manual adjustments on 2026-03-15, 1,000 points to 2 members; the limit is 10 a day."
    )
    assert flags["staff:8"].score == 1.5
    assert words(flags["staff:8"]) == (
        "staff:8 adjusted 15,000 points by hand on 2026-03-16, in 3 adjustments to 3 members; "
        "the limit is 10,000 points a day."
    )


def test_robust_z_by_hand() -> None:
    # median 3; absolute deviations 2, 1, 0, 1, 97 → MAD 1; M = 0.6745 (x − 3) / 1
    assert robust_z([1.0, 2.0, 3.0, 4.0, 100.0]).tolist() == pytest.approx(
        [-1.349, -0.6745, 0.0, 0.6745, 65.4265]
    )
    # more than half equal: MAD 0, the mean absolute deviation (4/5 = 0.8) stands in: 4 / (1.253314 × 0.8)
    assert robust_z([1.0, 1.0, 1.0, 1.0, 5.0])[-1] == pytest.approx(4 / (1.253314 * 0.8))
    assert robust_z([2.0, 2.0, 2.0]).tolist() == [0.0, 0.0, 0.0]
    assert centre([]).spread == 0.0


def _outlier_chain() -> object:
    # twelve ordinary members earning 100, 110, … 210 points; member 13 earns 5,000
    rows = [(m, 1, "2026-03-05 12:00", 10_000, 0, 90 + 10 * m) for m in range(1, 13)]
    rows.append((13, 1, "2026-03-06 12:00", 10_000, 0, 5_000))
    return activity(purchases(*rows))


def test_robust_z_flags_the_member_far_from_the_median() -> None:
    act = _outlier_chain()
    flags = found(only("robust_z", min_members=10), act)
    assert set(flags) == {13}
    logs = np.log1p(np.array([90 + 10 * m for m in range(1, 13)] + [5_000], dtype=float))
    med = np.median(logs)
    mad = np.median(np.abs(logs - med))
    z = 0.6745 * (np.log1p(5_000) - med) / mad
    f = flags[13]
    assert f.params["feature"] == "points_earned"
    assert f.params["z"] == pytest.approx(z, abs=0.01)
    assert f.score == pytest.approx(z / 4.0, abs=1e-3)
    assert words(f) == (
        f"Points earned: 5,000, 31.2× the chain's median (160); robust z-score {z:.1f} (flagged from 4.0)."
    )
    scores = feature_scores(member_features(act), 10)  # type: ignore[arg-type]
    assert "purchases" not in scores.medians or scores.z["purchases"].abs().max() == 0  # one each: no spread


def test_robust_z_needs_enough_members() -> None:
    detected = detect(_outlier_chain(), only("robust_z"))  # type: ignore[arg-type]
    assert (detected.findings, detected.skipped) == ([], {"robust_z": "too_few_members"})


def test_isolation_forest_is_seeded_and_finds_the_outlier() -> None:
    rules = only("isolation_forest", min_members=10, min_score=0.6)
    first = found(rules, _outlier_chain())
    again = found(rules, _outlier_chain())
    assert 13 in first
    assert {k: f.score for k, f in first.items()} == {k: f.score for k, f in again.items()}
    assert max(first.values(), key=lambda f: f.score).member_id == 13
    assert "isolation score" in words(first[13])


def test_reasons_are_in_chinese_too() -> None:
    params = {"count": 6, "limit": 6, "first": "2026-03-05 10:00", "last": "2026-03-05 10:50"}
    chinese = reason("velocity", params, "zh-CN")
    assert chinese != reason("velocity", params, "en")
    assert "2026-03-05 10:50" in chinese


def test_rule_changes_are_checked_and_name_the_field() -> None:
    current = resolve()
    changed = validated(current, {"velocity": {"params": {"per_hour": 8}}, "robust_z": {"enabled": False}})
    assert changed["velocity"]["per_hour"] == 8
    assert changed["robust_z"].enabled is False
    for change, field in (
        ({"nope": {}}, "rules.nope"),
        ({"velocity": {"params": {"per_day": 3}}}, "rules.velocity.params.per_day"),
        ({"velocity": {"params": {"per_hour": 1}}}, "rules.velocity.params.per_hour"),
        ({"velocity": {"params": {"per_hour": 6.5}}}, "rules.velocity.params.per_hour"),
        ({"return_ratio": {"params": {"ratio": "high"}}}, "rules.return_ratio.params.ratio"),
        ({"velocity": {"enabled": "yes"}}, "rules.velocity.enabled"),
        ({}, "rules"),
    ):
        with pytest.raises(InvalidInput) as err:
            validated(current, change)
        assert err.value.code == "ANOMALY_RULE_INVALID"
        assert err.value.details["errors"][0]["field"] == field, change
