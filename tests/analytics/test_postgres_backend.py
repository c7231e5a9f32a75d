"""The same Ibis feature expressions run on PostgreSQL and give DuckDB's answer."""

from __future__ import annotations

from collections.abc import Iterator

import ibis
import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine

from loyalty.analytics import summary
from loyalty.analytics.rfm import rfm_features


def _root_conftest():  # type: ignore[no-untyped-def]
    """The shared helpers in tests/conftest.py (tests/ is not a package, so load it by path)."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "_loyalty_root_conftest", Path(__file__).parents[1] / "conftest.py"
    )
    assert spec is not None
    assert spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pg_tx(cdnow: pd.DataFrame) -> Iterator[ibis.BaseBackend]:
    helpers = _root_conftest()
    url = helpers.create_pg_database("loyalty_analytics")
    try:
        eng = create_engine(url)
        tx = cdnow.assign(ts=pd.to_datetime(cdnow["date"]).dt.tz_localize("UTC"))[
            ["customer_id", "ts", "amount"]
        ]
        tx.to_sql("purchases_flat", eng, index=False)
        eng.dispose()
        con = ibis.connect(url.replace("postgresql+psycopg://", "postgres://"))
        yield con
        con.disconnect()
    finally:
        helpers.drop_pg_database(url)


def test_summary_on_postgres_equals_duckdb(pg_tx: ibis.BaseBackend, cdnow: pd.DataFrame) -> None:
    table = pg_tx.table("purchases_flat")
    got = summary(table, calibration_end="1997-09-30", time_unit="week", columns=_cols())
    want = summary(cdnow, calibration_end="1997-09-30", time_unit="week")
    cols = ["frequency", "recency", "T", "monetary_value", "frequency_holdout", "orders", "total_spend"]
    assert got["customer_id"].tolist() == want["customer_id"].tolist()
    np.testing.assert_allclose(got[cols].to_numpy(float), want[cols].to_numpy(float), rtol=1e-12)


def test_rfm_features_on_postgres(pg_tx: ibis.BaseBackend, cdnow: pd.DataFrame) -> None:
    got = rfm_features(pg_tx.table("purchases_flat"), _cols())
    want = rfm_features(cdnow)
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True), check_dtype=False)


def _cols():  # type: ignore[no-untyped-def]
    from loyalty.analytics import Columns

    return Columns(date="ts")
