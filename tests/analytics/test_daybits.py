"""The day-bitmap summary equals the Ibis/SQL expression customer by customer, whatever the log."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loyalty.analytics import daybits, summary
from loyalty.analytics.features import _summary_sql, checked_transactions, summary_from_arrow
from loyalty.analytics.rfm import _quintile

_BASE = pd.Timestamp("2024-01-01")


@st.composite
def logs(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(1, 60))
    kind = draw(st.sampled_from(["dense", "sparse", "text"]))
    pool = draw(st.integers(1, 12))
    who = draw(st.lists(st.integers(0, pool - 1), min_size=n, max_size=n))
    if kind == "dense":
        ids: list[object] = [w + 1 for w in who]
    elif kind == "sparse":  # phone-number-like ids: far too sparse to index directly
        ids = [13_800_000_000 + w * 7_919_003 for w in who]
    else:
        ids = [f"c{w * 37 % 101:03d}" for w in who]
    # minutes over ~300 days, with many near midnight and many on the same day
    minutes = draw(st.lists(st.integers(0, 300 * 1440), min_size=n, max_size=n))
    cents = draw(st.lists(st.integers(0, 50_000), min_size=n, max_size=n))
    return pd.DataFrame(
        {
            "customer_id": ids,
            "date": [_BASE + pd.Timedelta(minutes=m) for m in minutes],
            "amount": [c / 100 for c in cents],
        }
    )


def _both(df: pd.DataFrame, **kw: object) -> tuple[pd.DataFrame | None, pd.DataFrame]:
    tx, has_returns = checked_transactions(df)
    assert not has_returns
    fast = summary_from_arrow(tx.to_pyarrow(), **kw)  # type: ignore[arg-type]
    slow = _summary_sql(tx, kw["observation_end"], kw.get("calibration_end"), kw.get("time_unit", "day"))  # type: ignore[arg-type]
    return fast, slow


def _assert_same(fast: pd.DataFrame | None, slow: pd.DataFrame) -> None:
    assert fast is not None
    assert list(fast.columns) == list(slow.columns)
    assert fast["customer_id"].astype(str).tolist() == slow["customer_id"].astype(str).tolist()
    for col in fast.columns.drop("customer_id"):
        if col in ("monetary_value", "monetary_value_holdout", "total_spend"):
            np.testing.assert_allclose(fast[col], slow[col], rtol=1e-12, atol=1e-9, err_msg=col)
        else:
            np.testing.assert_array_equal(fast[col].to_numpy(), slow[col].to_numpy(), err_msg=col)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(df=logs(), unit=st.sampled_from(["day", "week"]), split=st.integers(1, 298))
def test_bitmap_equals_sql_with_holdout(df: pd.DataFrame, unit: str, split: int) -> None:
    cal = _BASE + pd.Timedelta(days=split)
    obs = _BASE + pd.Timedelta(days=299)
    if not (df["date"] <= cal + pd.Timedelta(days=1)).any():
        return
    fast, slow = _both(df, observation_end=obs, calibration_end=cal, time_unit=unit)
    _assert_same(fast, slow)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(df=logs(), cut=st.integers(0, 301))
def test_bitmap_equals_sql_without_holdout(df: pd.DataFrame, cut: int) -> None:
    obs = _BASE + pd.Timedelta(days=cut)
    if not (df["date"] < obs + pd.Timedelta(days=1)).any():
        return
    fast, slow = _both(df, observation_end=obs)
    _assert_same(fast, slow)


def test_cdnow_both_paths(cdnow: pd.DataFrame) -> None:
    fast, slow = _both(cdnow, observation_end="1998-06-30", calibration_end="1997-09-30", time_unit="week")
    _assert_same(fast, slow)


def test_too_large_a_bitmap_falls_back_to_sql(cdnow: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    base = summary(cdnow, calibration_end="1997-09-30", time_unit="week")
    tx, _ = checked_transactions(cdnow)
    monkeypatch.setattr(daybits, "MAX_BITMAP_BYTES", 1024)
    assert summary_from_arrow(tx.to_pyarrow(), observation_end="1998-06-30") is None
    pd.testing.assert_frame_equal(
        summary(cdnow, calibration_end="1997-09-30", time_unit="week"), base, check_dtype=False
    )


def test_returns_netted_go_through_sql() -> None:
    df = pd.DataFrame(
        {
            "customer_id": [1, 1, 1, 2],
            "date": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-05", "2024-01-02"]),
            "amount": [30.0, -10.0, 5.0, 8.0],
        }
    )
    s = summary(df, returns="net").set_index("customer_id")
    assert s.loc[1, "total_spend"] == pytest.approx(25.0)  # 30 − 10 on the first day, then 5
    assert s.loc[1, "frequency"] == 1


def test_customer_codes_sort_like_ids() -> None:
    for ids in (pa.array([5, 3, 9, 3]), pa.array([10**15, 7, 10**15]), pa.array(["b", "a", "c", "a"])):
        enc = daybits.encode_customers(ids)
        decoded = enc.ids.take(pa.array(enc.codes)).to_pylist()
        assert decoded == ids.to_pylist()
        present = sorted(set(ids.to_pylist()))
        assert [v for v in enc.ids.to_pylist() if v in present] == present


@given(st.lists(st.integers(-50, 50), min_size=1, max_size=200), st.booleans())
def test_quintile_cuts_equal_ranks(values: list[int], higher: bool) -> None:
    v = np.asarray(values, dtype=np.float64)
    w = v if higher else -v
    worse = np.searchsorted(np.sort(w), w, side="left")
    expected = np.minimum(5, 1 + (5 * worse) // v.size)
    np.testing.assert_array_equal(_quintile(v, higher_is_better=higher), expected)
