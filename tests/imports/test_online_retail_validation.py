"""The UCI Online Retail file through read + map + validate (the database import is tested separately).

Expected counts are recomputed independently from the raw file with plain DuckDB SQL, and pinned to
the published shape of the data set (541,909 rows, 3,836 cancellation invoices).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow.compute as pc
import pytest

from loyalty.imports.mapping import Kind, load_mapping_file, resolve_mapping
from loyalty.imports.readers import read_table
from loyalty.imports.validate import Reference, validate

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent.parent / "shared" / "data" / "online_retail.csv.gz"
if not DATA.exists():
    DATA = Path("/work/shared/data/online_retail.csv.gz")
MAPPING = ROOT / "examples" / "online_retail.yaml"

pytestmark = pytest.mark.skipif(not DATA.exists(), reason="Online Retail data file not present")


def test_online_retail_validates_with_explained_rejects() -> None:
    result = read_table(DATA)
    config = load_mapping_file(MAPPING)
    mapping = resolve_mapping(Kind.purchases, result.columns, config=config)
    checked = validate(result.table, mapping, Reference.empty([("UK-ONLINE", 1, "Europe/London")]))

    raw = duckdb.connect()
    raw.execute(f"CREATE TABLE t AS SELECT * FROM read_csv('{DATA}', all_varchar=true)")

    def one(sql: str) -> int:
        return int(raw.execute(sql).fetchall()[0][0])

    assert checked.read == 541_909 == one("SELECT count(*) FROM t")
    sales = "InvoiceNo NOT LIKE 'C%' AND CAST(Quantity AS INT) > 0 AND CAST(UnitPrice AS DECIMAL(18,3)) >= 0"
    assert checked.good.num_rows == one(f"SELECT count(*) FROM t WHERE {sales}")
    # Sales without a CustomerID are kept, as anonymous sales.
    assert pc.sum(checked.good.column("anonymous")).as_py() == one(
        f"SELECT count(*) FROM t WHERE {sales} AND CustomerID IS NULL"
    )
    assert "no_member" not in checked.reasons()
    assert checked.reasons()["negative_amount"] == one(
        f"SELECT count(*) FROM t WHERE InvoiceNo NOT LIKE 'C%' AND NOT ({sales})"
    )
    cancellation_lines = one("SELECT count(*) FROM t WHERE InvoiceNo LIKE 'C%'")
    returns = checked.extra["returns"]
    matched_lines = sum(returns.column("lines").to_pylist())
    reasons = checked.reasons()
    assert matched_lines + reasons["unknown_order"] + reasons.get("refund_exceeds", 0) == cancellation_lines
    # cancellations without a customer can never be matched to an original invoice
    assert checked.reasons()["unknown_order"] >= one(
        "SELECT count(*) FROM t WHERE InvoiceNo LIKE 'C%' AND CustomerID IS NULL"
    )
    assert checked.read == checked.good.num_rows + checked.rejected + matched_lines
    new_members = checked.extra["new_members"].num_rows
    assert new_members == one(
        f"SELECT count(DISTINCT CustomerID) FROM t WHERE {sales} AND CustomerID IS NOT NULL"
    )
    # pinned figures for this exact file (sha256 in SOURCES.md)
    assert (checked.good.num_rows, checked.rejected, returns.num_rows, matched_lines, new_members) == (
        531_283,
        3_150,
        3_759,
        7_476,
        4_339,
    )
    # every matched return refunds no more than the customer paid for those lines
    assert min(returns.column("refund_minor").to_pylist()) >= 0
