"""`loyalty analytics rfm|clv`: the stable column lists and PARAMS.json keys."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
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
    ]
    assert len(df) == 2357
    assert df["rfm_code"].str.fullmatch("[12]{3}").all()


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
