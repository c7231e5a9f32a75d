"""RFM scoring: both schemes, names and actions, ties, sleeping members."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loyalty.analytics import BetaGeo, summary
from loyalty.analytics.rfm import (
    BINARY_SEGMENTS,
    quintile_segment,
    rfm,
    rfm_features,
    score,
    sleeping_members,
)
from loyalty.analytics.segments import QUINTILE_SEGMENTS


def _tx() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b", "c", "c", "d"],
            "date": [
                "2024-01-01",
                "2024-01-01",
                "2024-03-01",
                "2024-02-01",
                "2024-01-15",
                "2024-03-10",
                "2024-03-09",
            ],
            "amount": [10.0, 5.0, 20.0, 100.0, 1.0, 2.0, 50.0],
        }
    )


def test_features_by_hand() -> None:
    f = rfm_features(_tx(), as_of="2024-03-11").set_index("customer_id")
    assert f.loc["a"].tolist() == [10, 2, 35.0]  # two purchase days (same-day orders count once)
    assert f.loc["b"].tolist() == [39, 1, 100.0]
    assert f.loc["c", "recency_days"] == 1


def test_binary_scheme_mean_and_median() -> None:
    f = rfm_features(_tx(), as_of="2024-03-11")
    out = score(f, scheme="binary", threshold="mean").set_index("customer_id")
    # mean recency 13.25 → a,c,d recent; mean frequency 1.5 → a,c frequent; mean spend 48.25 → b,d big
    assert out["rfm_code"].to_dict() == {"a": "221", "b": "112", "c": "221", "d": "212"}
    assert out.loc["b", "segment_zh"] == "重要挽留客户"
    assert out.loc["d", "segment_en"] == "Develop"
    assert out.loc["a", "action_en"] == "Frequent but small baskets: upsell, raise basket size"
    assert out.loc["a", "action_zh"] == "常来但客单价低：推荐升级，提高客单价"
    med = score(f, scheme="binary", threshold="median").set_index("customer_id")
    assert med.loc["d", "rfm_code"] == "212"  # median spend 35 → d (50) large
    assert med.loc["a", "m_score"] == 1


def test_all_eight_binary_groups_named() -> None:
    assert sorted(BINARY_SEGMENTS) == sorted(f"{r}{f}{m}" for r in "12" for f in "12" for m in "12")
    assert BINARY_SEGMENTS["222"].zh == "重要价值客户"
    assert BINARY_SEGMENTS["111"].zh == "一般挽留客户"
    assert len({s.code for s in BINARY_SEGMENTS.values()}) == 8
    assert all(s.zh and s.en and s.action_zh and s.action_en for s in BINARY_SEGMENTS.values())


def test_quintile_groups_named_in_both_languages() -> None:
    out = score(rfm_features(_tx(), as_of="2024-03-11"), scheme="quintile")
    named = {seg: QUINTILE_SEGMENTS[seg] for seg in out["segment"]}
    for row in out.itertuples():
        s = named[row.segment]
        assert (row.segment_zh, row.segment_en, row.action_zh, row.action_en) == (
            s.zh,
            s.en,
            s.action_zh,
            s.action_en,
        )
    # every segment the R×F map can produce has names and actions
    assert {quintile_segment(r, f) for r in range(1, 6) for f in range(1, 6)} <= set(QUINTILE_SEGMENTS)


def test_quintile_scores_balanced_and_ordered(cdnow: pd.DataFrame) -> None:
    out = rfm(cdnow)
    assert set(out["r_score"]) <= {1, 2, 3, 4, 5}
    # better recency ⇒ score never lower
    o = out.sort_values("recency_days")
    assert (np.diff(o["r_score"].to_numpy()) <= 0).all()
    o = out.sort_values("monetary")
    assert (np.diff(o["m_score"].to_numpy()) >= 0).all()
    # ties share a score
    assert out.groupby("frequency")["f_score"].nunique().max() == 1
    counts = out["m_score"].value_counts()
    assert counts.min() > 0.15 * len(out)
    assert out["rfm_code"].str.fullmatch(r"[1-5]{3}").all()
    assert out["segment"].notna().all()


def test_as_of_before_data_rejected() -> None:
    from loyalty.analytics import InputError

    with pytest.raises(InputError, match="before the last purchase"):
        rfm(_tx(), as_of="2024-02-01")


def test_sleeping_members(cdnow: pd.DataFrame) -> None:
    s = summary(cdnow, time_unit="week")
    m = BetaGeo().fit(s["frequency"], s["recency"], s["T"])
    p = m.predict_p_alive(s["frequency"], s["recency"], s["T"])
    sleeping = sleeping_members(s, p, overdue_factor=1.5)
    assert len(sleeping) > 0
    assert (sleeping["frequency"] > 0).all()
    assert (sleeping["since_last"] > 1.5 * sleeping["interval"]).all()
    assert sleeping["p_alive"].is_monotonic_decreasing
    assert set(sleeping["customer_id"]) < set(s["customer_id"])
    # a member buying every ~week who has been gone for 20 weeks is asleep; one gone 1 week is not
    tiny = pd.DataFrame(
        {"customer_id": ["x", "y"], "frequency": [10.0, 10.0], "recency": [10.0, 29.0], "T": [30.0, 30.0]}
    )
    got = sleeping_members(tiny, [0.2, 0.9])
    assert got["customer_id"].tolist() == ["x"]


def test_rfm_from_summary_equals_direct(cdnow: pd.DataFrame) -> None:
    from loyalty.analytics.rfm import rfm_from_summary

    direct = rfm_features(cdnow, as_of="1998-06-30")
    via = rfm_from_summary(summary(cdnow, observation_end="1998-06-30", time_unit="day"))
    pd.testing.assert_frame_equal(
        direct.reset_index(drop=True), via.reset_index(drop=True), check_dtype=False
    )
