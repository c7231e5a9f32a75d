"""`loyalty analytics rfm|clv`: the stable column lists and PARAMS.json keys."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from loyalty.cli import app

runner = CliRunner()


def test_rfm_command_columns(cdnow_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "rfm.csv.gz"
    res = runner.invoke(
        app,
        [
            "analytics",
            "rfm",
            str(cdnow_path),
            "-o",
            str(out),
            "--scheme",
            "binary",
            "--threshold",
            "median",
            "--as-of",
            "1998-07-01",
        ],
    )
    assert res.exit_code == 0, res.output
    df = pd.read_csv(out, dtype={"customer_id": str, "rfm_code": str})
    assert df.columns.tolist() == [
        "customer_id",
        "recency_days",
        "frequency",
        "monetary",
        "r_score",
        "f_score",
        "m_score",
        "rfm_code",
        "segment",
        "segment_zh",
        "segment_en",
        "action_zh",
        "action_en",
    ]
    assert len(df) == 2357
    assert df["rfm_code"].str.fullmatch("[12]{3}").all()
    best = df[df["rfm_code"] == "222"].iloc[0]
    assert (best["segment"], best["segment_zh"], best["segment_en"]) == (
        "high_value",
        "重要价值客户",
        "High value",
    )
    assert best["action_zh"].startswith("保持满意")
    assert best["action_en"].startswith("Keep delighted")
    assert df[["segment_zh", "segment_en", "action_zh", "action_en"]].notna().all().all()


def test_clv_command_columns_and_params(cdnow_path: Path, tmp_path: Path) -> None:
    out, params = tmp_path / "clv.parquet", tmp_path / "PARAMS.json"
    res = runner.invoke(
        app,
        [
            "analytics",
            "clv",
            str(cdnow_path),
            "-o",
            str(out),
            "--calibration-end",
            "1997-09-30",
            "--time-unit",
            "week",
            "--params",
            str(params),
        ],
    )
    assert res.exit_code == 0, res.output
    df = pd.read_parquet(out)
    assert df.columns.tolist() == [
        "customer_id",
        "frequency",
        "recency",
        "T",
        "monetary_value",
        "p_alive",
        "expected_purchases",
        "expected_avg_value",
        "clv",
    ]
    p = json.loads(params.read_text())
    assert {"model", "r", "alpha", "a", "b", "log_likelihood", "n_customers", "gamma_gamma"} <= p.keys()
    assert {"p", "q", "v"} <= p["gamma_gamma"].keys()
    assert round(p["r"], 3) == 0.243
    assert p["n_customers"] == 2357


def test_clv_pareto_params(cdnow_path: Path, tmp_path: Path) -> None:
    params = tmp_path / "p.json"
    res = runner.invoke(
        app,
        [
            "analytics",
            "clv",
            str(cdnow_path),
            "-o",
            str(tmp_path / "c.csv"),
            "--calibration-end",
            "1997-09-30",
            "--model",
            "pareto",
            "--params",
            str(params),
        ],
    )
    assert res.exit_code == 0, res.output
    p = json.loads(params.read_text())
    assert p["model"] == "pareto"
    assert {"r", "alpha", "s", "beta"} <= p.keys()


def test_cli_errors_are_clear(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("cust,day,amount\na,2024-01-01,1\n")
    res = runner.invoke(app, ["analytics", "rfm", str(bad), "-o", str(tmp_path / "o.csv")])
    assert res.exit_code == 2
    assert "missing column(s): customer_id, date" in res.output
    res = runner.invoke(
        app,
        [
            "analytics",
            "clv",
            str(bad),
            "-o",
            str(tmp_path / "o.csv"),
            "--calibration-end",
            "2024-01-01",
            "--customer",
            "cust",
            "--date",
            "day",
        ],
    )
    assert res.exit_code == 2
    assert "outside the data" in res.output


def test_rfm_file_quintile_scheme_names_every_group(cdnow_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "rfm.csv"
    res = runner.invoke(app, ["analytics", "rfm", str(cdnow_path), "-o", str(out)])
    assert res.exit_code == 0, res.output
    df = pd.read_csv(out, dtype={"customer_id": str})
    assert "currency" not in df.columns  # a file's amounts keep their unit: the interface is unchanged
    champions = df[df["segment"] == "champions"].iloc[0]
    assert (champions["segment_zh"], champions["segment_en"]) == ("冠军客户", "Champions")
    assert df[["segment_zh", "segment_en", "action_zh", "action_en"]].notna().all().all()


@pytest.fixture
def shop_url(db_url: str) -> str:
    """A product database with member purchases in fen (one return), as `analytics refresh` reads it."""
    from loyalty.db.engine import make_engine
    from tests.analytics.test_refresh import _populate

    eng = make_engine(db_url)
    _populate(eng)
    eng.dispose()
    return db_url


def test_rfm_reads_the_product_database_in_major_units(shop_url: str, tmp_path: Path) -> None:
    from decimal import Decimal

    from loyalty.analytics.store import load_transactions
    from loyalty.db.engine import make_engine

    out = tmp_path / "rfm.parquet"
    res = runner.invoke(app, ["analytics", "rfm", "-o", str(out), "--database-url", shop_url])
    assert res.exit_code == 0, res.output
    assert "12 members scored (quintile, amounts in CNY)" in res.output
    df = pd.read_parquet(out)
    assert df.columns.tolist()[-1] == "currency"
    assert set(df["currency"]) == {"CNY"}
    eng = make_engine(shop_url)
    tx = load_transactions(eng)
    eng.dispose()
    # monetary: each member's spend in yuan, exact (Decimal, not 12.339999…), returns netted
    expected = tx.groupby("customer_id")["amount"].sum()
    for row in df.itertuples():
        assert isinstance(row.monetary, Decimal)
        assert row.monetary == Decimal(int(expected[row.customer_id])).scaleb(-2)
    assert df["segment_zh"].notna().all()


def test_clv_reads_the_product_database_in_major_units(shop_url: str, tmp_path: Path) -> None:
    out, params = tmp_path / "clv.csv", tmp_path / "PARAMS.json"
    res = runner.invoke(
        app, ["analytics", "clv", "-o", str(out), "--database-url", shop_url, "--params", str(params)]
    )
    assert res.exit_code == 0, res.output
    assert "(amounts in CNY)" in res.output
    df = pd.read_csv(out, dtype=str)
    assert df.columns.tolist()[-1] == "currency"
    assert set(df["currency"]) == {"CNY"}
    for column in ("monetary_value", "expected_avg_value", "clv"):
        assert df[column].str.fullmatch(r"-?\d+\.\d{2}").all(), column  # yuan and fen, no float tail
    assert json.loads(params.read_text())["currency"] == "CNY"


@pytest.mark.parametrize("command", ["rfm", "clv", "report"])
def test_a_database_without_member_purchases_is_an_input_error(
    command: str, db_url: str, tmp_path: Path
) -> None:
    """rfm, clv and report read the database through one loader: each says why there is nothing to score."""
    out = tmp_path / "out.csv"
    res = runner.invoke(app, ["analytics", command, "-o", str(out), "--database-url", db_url])
    assert res.exit_code == 2, res.output
    assert "the database has no member purchases yet" in res.output
    assert not out.exists()
