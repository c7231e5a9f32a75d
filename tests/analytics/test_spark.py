"""The RFM, basket-count and KPI expressions on PySpark (local mode) give DuckDB's answers.

One Spark session serves the whole file (starting one costs seconds); it is stopped at the end. Without
Java (or PySpark) the file is skipped with a notice on a developer's machine and fails under CI=true,
where a skip would hide that the Spark path went untested.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import os
import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import ibis
import numpy as np
import pandas as pd
import pytest

from loyalty.analytics import backends
from loyalty.analytics.basket import frequent_itemsets, from_lists
from loyalty.analytics.basket.counts import itemset_counts
from loyalty.analytics.features import Columns, summary_expr, transactions
from loyalty.analytics.kpis import KpiTotals, kpi_totals
from loyalty.analytics.rfm import rfm

# PySpark reads each result from a local socket that it leaves to the garbage collector to close
# (`pyspark.util._load_from_socket`), so every collect ends with an "unclosed socket" ResourceWarning,
# raised as the result is freed (inside the test that ran the query) and attributed to `socket`.
pytestmark = pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning")


def _spark_missing() -> str | None:
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "Java (17+) is not installed"
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "PySpark is not installed (pip install -e '.[dev]')"
    return None


@pytest.fixture(scope="session")
def spark() -> Iterator[ibis.BaseBackend]:
    """Ibis on one local Spark session (two cores, two shuffle partitions: the data is tiny)."""
    missing = _spark_missing()
    if missing is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the Spark tests must run in CI: {missing}")
        pytest.skip(f"NOTICE: Spark tests skipped: {missing}; this file's DuckDB checks still run")
    con = backends.spark_connect(
        master="local[2]",
        conf={
            "spark.sql.shuffle.partitions": "2",
            "spark.default.parallelism": "2",
            "spark.driver.memory": "1g",
            "spark.sql.adaptive.enabled": "false",
            # tiny data: interpreting a plan beats compiling it, and a JIT that stops at its first tier
            # starts sooner
            "spark.sql.codegen.wholeStage": "false",
            "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
        },
    )
    con._session.sparkContext.setLogLevel("ERROR")  # type: ignore[attr-defined]
    yield con
    con.disconnect()
    gc.collect()  # any result socket still waiting for the collector is closed here, not in a later test


# ---------------------------------------------------------------------------------------------- RFM


def _transactions() -> pd.DataFrame:
    """A fixed log: 40 customers, 400 purchases over a year, several on one day for some."""
    rng = np.random.default_rng(26)
    n = 400
    customer = rng.integers(1, 41, n)
    start = np.datetime64("2024-01-01T00:00:00")
    seconds = rng.integers(0, 365 * 86400, n)
    return pd.DataFrame(
        {
            "customer_id": customer.astype("int64"),
            "date": (start + seconds.astype("timedelta64[s]")).astype("datetime64[us]"),
            "amount": np.round(rng.gamma(2.0, 40.0, n), 2),
        }
    )


@pytest.fixture(scope="module")
def tx_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("spark") / "transactions.parquet"
    _transactions().to_parquet(path, index=False)
    return path


def test_rfm_on_spark_equals_duckdb(spark: ibis.BaseBackend, tx_file: Path) -> None:
    want = rfm(_transactions(), as_of="2025-01-15")
    got = rfm(spark.read_parquet(str(tx_file)), as_of="2025-01-15", con=spark)
    assert len(want) == 40
    pd.testing.assert_frame_equal(
        got.reset_index(drop=True), want.reset_index(drop=True), check_dtype=False, rtol=1e-12
    )


def test_summary_expression_on_spark_equals_duckdb(spark: ibis.BaseBackend, tx_file: Path) -> None:
    """The same Ibis expression, with a holdout period, run by both engines."""

    def run(con: ibis.BaseBackend) -> pd.DataFrame:
        tx = transactions(str(tx_file), Columns(), con=con)
        expr = summary_expr(tx, observation_end="2024-12-31", calibration_end="2024-09-30", time_unit="week")
        return expr.execute().reset_index(drop=True)

    want = run(backends.connect("duckdb"))
    got = run(spark)
    assert len(want) == 40
    pd.testing.assert_frame_equal(got, want, check_dtype=False, rtol=1e-12)


def test_rfm_from_a_frame_on_spark(spark: ibis.BaseBackend) -> None:
    """A pandas frame (the product database's purchases) becomes a Spark view, not a DuckDB table."""
    frame = _transactions().iloc[:120]
    got = rfm(frame, con=spark, scheme="binary")
    want = rfm(frame, scheme="binary")
    pd.testing.assert_frame_equal(
        got.reset_index(drop=True), want.reset_index(drop=True), check_dtype=False, rtol=1e-12
    )


# ------------------------------------------------------------------------------------------- basket

BASKETS = [
    ["milk", "bread", "eggs"],
    ["milk", "bread"],
    ["milk", "bread", "butter"],
    ["bread", "butter"],
    ["milk", "eggs", "butter", "jam"],
    ["milk", "bread", "eggs", "butter"],
    ["eggs", "jam"],
    ["milk", "bread", "eggs", "jam"],
    ["tea"],
    ["milk", "bread", "butter", "jam", "tea"],
    ["bread", "eggs", "butter"],
    ["milk", "milk", "bread"],  # an item twice in one basket counts once
]


def _lines() -> pd.DataFrame:
    rows = [(b, item) for b, items in enumerate(BASKETS) for item in items]
    rows.append((99, "  "))  # a blank item: no line, and basket 99 no basket
    return pd.DataFrame(rows, columns=["basket", "item"])


def test_basket_counts_on_duckdb_equal_the_miner() -> None:
    want = frequent_itemsets(from_lists(BASKETS), 0.25, max_length=3).to_frame()
    want = want.sort_values(["length", "items"]).reset_index(drop=True)
    duck = itemset_counts(ibis.memtable(_lines()), 0.25, max_length=3)
    assert duck.baskets == 12
    assert duck.min_count == 3
    pd.testing.assert_frame_equal(duck.frame, want, check_dtype=False)
    # by hand: {bread, milk} is in baskets 0, 1, 2, 5, 7, 9, 11
    counted = duck.frame.set_index("items")["count"]
    assert counted['["bread", "milk"]'] == 7
    assert '["tea"]' not in counted.index  # two baskets of twelve: under 25 %


def test_basket_counts_on_spark_equal_duckdb(spark: ibis.BaseBackend) -> None:
    duck = itemset_counts(ibis.memtable(_lines()), 0.25, max_length=3)
    on_spark = itemset_counts(backends.register(spark, _lines()), 0.25, max_length=3)
    assert (on_spark.baskets, on_spark.min_count) == (duck.baskets, duck.min_count)
    assert len(on_spark.frame) == len(duck.frame) > 10
    pd.testing.assert_frame_equal(on_spark.frame, duck.frame, check_dtype=False)


# --------------------------------------------------------------------------------------------- KPIs

START, END = dt.date(2024, 3, 1), dt.date(2024, 3, 31)
D = dt.date


def _kpi_tables() -> dict[str, pd.DataFrame]:
    """Two stores; member 5 was merged away, member 7 joins after the range, member 6 at no store."""
    members = pd.DataFrame(
        {
            "member_id": [1, 2, 3, 4, 5, 6, 7],
            "store_id": pd.array([1, 1, 2, 2, 1, None, 1], dtype="Int64"),
            "joined_day": [
                D(2024, 1, 10),
                D(2024, 3, 5),
                D(2024, 2, 1),
                D(2024, 3, 20),
                D(2024, 1, 1),
                D(2024, 2, 15),
                D(2024, 4, 2),
            ],
            "status": ["active", "active", "active", "active", "merged", "active", "active"],
        }
    )
    sales = pd.DataFrame(
        {
            "store_id": [1, 1, 1, 1, 2, 2, 1, 2, 1],
            "day": [
                D(2024, 2, 28),
                D(2024, 3, 1),
                D(2024, 3, 10),
                D(2024, 3, 12),
                D(2024, 3, 15),
                D(2024, 3, 31),
                D(2024, 4, 1),
                D(2024, 3, 20),
                D(2024, 3, 1),
            ],
            "member_id": pd.array([1, 1, 1, None, 3, 2, 4, None, 6], dtype="Int64"),
            "total_minor": [1000, 2000, 3000, 500, 4000, 1500, 9999, 701, 100],
        }
    )
    refunds = pd.DataFrame(
        {
            "store_id": [1, 2, 1],
            "day": [D(2024, 3, 11), D(2024, 3, 16), D(2024, 4, 5)],
            "member_id": pd.array([1, None, 1], dtype="Int64"),
            "refund_minor": [300, 201, 50],
        }
    )
    return {"sales": sales, "refunds": refunds, "members": members}


def _kpis(con: ibis.BaseBackend, stores: list[int] | None) -> KpiTotals:
    t = {name: backends.register(con, frame) for name, frame in _kpi_tables().items()}
    return kpi_totals(
        t["sales"], t["members"], refunds=t["refunds"], start=START, end=END, stores=stores, active_days=30
    )


CHAIN = KpiTotals(
    members_before=3,  # 1, 3, 6
    new_members=2,  # 2, 4
    members=5,
    active_members=3,  # 1, 2, 3 bought from 2 March; 6 only on 1 March, 4 after the range
    tickets=7,
    member_tickets=5,
    sales_minor=11801,
    member_sales_minor=10600,
    refunds_minor=501,
    member_refunds_minor=300,
    buyers=4,  # 1 (twice), 2, 3, 6
    repeat_buyers=1,
)
STORE_1 = KpiTotals(
    members_before=1,
    new_members=1,
    members=2,
    active_members=2,  # member 2 bought at store 2: active counts the whole chain
    tickets=4,
    member_tickets=3,
    sales_minor=5600,
    member_sales_minor=5100,
    refunds_minor=300,
    member_refunds_minor=300,
    buyers=2,
    repeat_buyers=1,
)


@pytest.mark.parametrize(("stores", "expected"), [(None, CHAIN), ([1], STORE_1)], ids=["chain", "store"])
def test_kpis_on_duckdb_equal_the_hand_count(stores: list[int] | None, expected: KpiTotals) -> None:
    assert _kpis(backends.connect("duckdb"), stores) == expected


@pytest.mark.parametrize("stores", [None, [1]], ids=["chain", "store"])
def test_kpis_on_spark_equal_duckdb(spark: ibis.BaseBackend, stores: list[int] | None) -> None:
    assert _kpis(spark, stores) == _kpis(backends.connect("duckdb"), stores)


def test_kpi_rates_by_hand() -> None:
    assert CHAIN.active_rate == Decimal("0.6000")
    assert CHAIN.repurchase_rate == Decimal("0.2500")
    assert CHAIN.member_sales_share == Decimal("0.9115")  # 10,300 / 11,300
    assert CHAIN.average_ticket_minor == 1686  # 11,801 / 7
    assert CHAIN.member_average_ticket_minor == 2120
    assert CHAIN.member_growth_rate == Decimal("0.6667")
    assert STORE_1.active_rate == Decimal("1.0000")


# ---------------------------------------------------------------------------------------------- CLI


def _cli(*args: str) -> str:
    from typer.testing import CliRunner

    from loyalty.cli import app

    res = CliRunner().invoke(app, ["analytics", *args], env={"LOYALTY_LOCALE": "en"})
    assert res.exit_code == 0, res.output
    return res.output


def test_cli_on_spark_writes_what_duckdb_writes(
    spark: ibis.BaseBackend, tx_file: Path, tmp_path: Path
) -> None:
    """`--engine spark` through the commands, on Parquet exports (sales as a folder of monthly parts,
    as Spark writes them); the session the test holds is the one the commands use."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = _kpi_tables()
    sales = tables["sales"].assign(month=[d.strftime("%Y-%m") for d in tables["sales"]["day"]])
    pq.write_to_dataset(pa.Table.from_pandas(sales, preserve_index=False), tmp_path / "sales", ["month"])
    tables["members"].to_parquet(tmp_path / "members.parquet", index=False)
    _lines().to_parquet(tmp_path / "lines.parquet", index=False)
    kpi = ["kpi-totals", "--sales", str(tmp_path / "sales"), "--members", str(tmp_path / "members.parquet")]
    kpi += ["--from", "2024-03-01", "--to", "2024-03-31", "--active-days", "30"]
    outputs = {}
    for engine in ("duckdb", "spark"):
        _cli("rfm", str(tx_file), "-o", str(tmp_path / f"rfm_{engine}.parquet"), "--engine", engine)
        _cli(
            "basket-counts",
            str(tmp_path / "lines.parquet"),
            "-o",
            str(tmp_path / f"counts_{engine}.csv"),
            "--min-support",
            "0.25",
            "--engine",
            engine,
        )
        outputs[engine] = json.loads(_cli(*kpi, "--engine", engine))
    assert outputs["spark"] == outputs["duckdb"]
    assert outputs["spark"]["active_rate"] == "0.6000"
    assert outputs["spark"]["member_sales_share"] == "0.8982"  # 10,600 / 11,801, no refunds given
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "rfm_spark.parquet"),
        pd.read_parquet(tmp_path / "rfm_duckdb.parquet"),
        rtol=1e-12,
    )
    counts = (tmp_path / "counts_spark.csv").read_text(encoding="utf-8")
    assert counts == (tmp_path / "counts_duckdb.csv").read_text(encoding="utf-8")
    assert '"[""bread"", ""milk""]",2,7,' in counts


# ------------------------------------------------------------------------------------------ engines


def test_engine_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from loyalty.analytics.errors import InputError

    monkeypatch.delenv(backends.ENGINE_SETTING, raising=False)
    assert backends.engine_name() == "duckdb"
    monkeypatch.setenv(backends.ENGINE_SETTING, "Spark")
    assert backends.engine_name() == "spark"
    assert backends.engine_name("duckdb") == "duckdb"
    with pytest.raises(InputError, match="unknown analytics engine"):
        backends.engine_name("hive")
