"""Fixtures for the analytics tests: the two public data sets, loaded once per session."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

DATA = Path(__file__).resolve().parents[2] / ".." / ".." / "shared" / "data"
CANDIDATES = [Path("/work/shared/data"), DATA, Path(__file__).resolve().parents[2] / "shared" / "data"]


def _data_dir() -> Path:
    for c in CANDIDATES:
        if (c / "cdnow_sample.csv").exists():
            return c
    pytest.skip("shared data sets not found")
    raise AssertionError  # unreachable


@pytest.fixture(scope="session")
def cdnow_path() -> Path:
    return _data_dir() / "cdnow_sample.csv"


@pytest.fixture(scope="session")
def cdnow(cdnow_path: Path) -> pd.DataFrame:
    return pd.read_csv(cdnow_path, dtype={"customer_id": str})


@pytest.fixture(scope="session")
def retail() -> pd.DataFrame:
    """UCI Online Retail: identified customers' sales lines, amount = quantity × unit price."""
    raw = pd.read_csv(
        _data_dir() / "online_retail.csv.gz",
        usecols=["InvoiceNo", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID"],
        dtype={"InvoiceNo": str},
    )
    raw = raw[raw["CustomerID"].notna() & (raw["Quantity"] > 0) & (raw["UnitPrice"] >= 0)]
    return pd.DataFrame(
        {
            "customer_id": raw["CustomerID"].astype("int64").astype(str),
            "date": pd.to_datetime(raw["InvoiceDate"]),
            "amount": raw["Quantity"] * raw["UnitPrice"],
        }
    ).reset_index(drop=True)
