"""Bad inputs get clear errors that say what and where."""

from __future__ import annotations

import pandas as pd
import pytest

from loyalty.analytics import Columns, ConvergenceError, InputError, summary
from loyalty.analytics.pipeline import fit_clv


def _tx(**over: list[object]) -> pd.DataFrame:
    base: dict[str, list[object]] = {
        "customer_id": ["a", "a", "b"],
        "date": ["2024-01-01", "2024-02-01", "2024-01-05"],
        "amount": [10.0, 20.0, 5.0],
    }
    base.update(over)
    return pd.DataFrame(base)


def test_missing_columns_named() -> None:
    with pytest.raises(InputError, match=r"missing column\(s\): when, value"):
        summary(_tx(), Columns("customer_id", "when", "value"))


def test_unparseable_dates_name_rows() -> None:
    with pytest.raises(InputError, match=r"unparseable dates in rows \[2\]") as info:
        summary(_tx(date=["2024-01-01", "31/02/2024", "2024-01-05"]))
    assert info.value.details["rows"] == [2]


def test_non_numeric_amounts_name_rows() -> None:
    with pytest.raises(InputError, match=r"non-numeric amounts in rows \[3\]"):
        summary(_tx(amount=["1", "2", "x"]))


def test_negative_amounts_rejected_or_netted() -> None:
    tx = _tx(
        customer_id=["a", "a", "a", "b"],
        date=["2024-01-01", "2024-02-01", "2024-02-01", "2024-01-05"],
        amount=[10.0, 20.0, -15.0, 5.0],
    )
    with pytest.raises(InputError, match=r"negative amounts \(returns\) in rows \[3\]"):
        summary(tx)
    s = summary(tx, returns="net").set_index("customer_id")
    assert s.loc["a", "monetary_value"] == 5.0
    assert s.loc["a", "total_spend"] == 15.0


def test_return_only_day_is_not_a_purchase_day() -> None:
    tx = _tx(
        customer_id=["a", "a", "a"],
        date=["2024-01-01", "2024-01-03", "2024-02-01"],
        amount=[10.0, -10.0, 4.0],
    )
    s = summary(tx, returns="net").set_index("customer_id")
    assert s.loc["a", "frequency"] == 1


def test_calibration_end_outside_data() -> None:
    with pytest.raises(InputError, match="outside the data"):
        summary(_tx(), calibration_end="2025-01-01")
    with pytest.raises(InputError, match="outside the data"):
        summary(_tx(), calibration_end="2023-12-31")


def test_too_few_repeat_customers() -> None:
    with pytest.raises(ConvergenceError, match="too few repeat customers"):
        fit_clv(_tx(), calibration_end="2024-01-20")


def test_missing_file_and_type(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match="no such file"):
        summary(tmp_path / "nope.csv")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(InputError, match="unsupported file type"):
        summary(tmp_path / "x.json")
