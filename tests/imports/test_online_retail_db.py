"""Online Retail (first weeks of the UCI file) imported into SQLite and PostgreSQL with its mapping."""

from __future__ import annotations

import gzip
from pathlib import Path

import duckdb
import pytest
from sqlalchemy import text

from loyalty.bootstrap import Context
from loyalty.imports.runner import ImportOptions, import_file

ROOT = Path(__file__).resolve().parents[2]
DATA = Path("/work/shared/data/online_retail.csv.gz")
if not DATA.exists():
    DATA = ROOT.parent.parent / "shared" / "data" / "online_retail.csv.gz"
MAPPING = ROOT / "examples" / "online_retail.yaml"
LINES = 15_000

pytestmark = pytest.mark.skipif(not DATA.exists(), reason="Online Retail data file not present")


@pytest.fixture(scope="module")
def subset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("or") / "online_retail_head.csv.gz"
    with gzip.open(DATA, "rt", encoding="utf-8") as src, gzip.open(path, "wt", encoding="utf-8") as dst:
        for i, line in enumerate(src):
            if i > LINES:
                break
            dst.write(line)
    return path


def test_online_retail_imports_members_purchases_returns(ctx: Context, subset: Path, tmp_path: Path) -> None:
    summary = import_file(
        ctx, "purchases", subset, ImportOptions(mapping_file=MAPPING, reject_path=tmp_path / "r.csv")
    )
    raw = duckdb.connect()
    raw.execute(f"CREATE TABLE t AS SELECT * FROM read_csv('{subset}', all_varchar=true)")

    def one(sql: str) -> int:
        return int(raw.execute(sql).fetchall()[0][0])

    sales = "InvoiceNo NOT LIKE 'C%' AND CAST(Quantity AS INT) > 0 AND CAST(UnitPrice AS DECIMAL(18,3)) >= 0"
    with ctx.engine.connect() as conn:
        got = {
            k: int(conn.execute(text(q)).scalar_one())
            for k, q in {
                "members": "SELECT count(*) FROM members",
                "purchases": "SELECT count(*) FROM purchases",
                "anonymous": "SELECT count(*) FROM purchases WHERE member_id IS NULL",
                "anonymous points": "SELECT max(points_earned) FROM purchases WHERE member_id IS NULL",
                "lines": "SELECT count(*) FROM purchase_lines",
                "returns": "SELECT count(*) FROM returns",
            }.items()
        }
    assert got["members"] == one(
        f"SELECT count(DISTINCT CustomerID) FROM t WHERE {sales} AND CustomerID IS NOT NULL"
    )
    assert got["purchases"] == one(f"SELECT count(DISTINCT InvoiceNo) FROM t WHERE {sales}")
    # Invoices without a CustomerID are kept as anonymous sales, which earn nothing.
    assert (
        got["anonymous"]
        == one(f"SELECT count(DISTINCT InvoiceNo) FROM t WHERE {sales} AND CustomerID IS NULL")
        > 0
    )
    assert got["anonymous points"] == 0
    assert got["lines"] == one(f"SELECT count(*) FROM t WHERE {sales}")
    assert got["returns"] == summary.created["returns"] > 0
    assert summary.read == LINES
    assert summary.read == summary.imported + summary.rejected + summary.duplicates
    assert "no_member" not in summary.reasons
    assert len((tmp_path / "r.csv").read_text(encoding="utf-8-sig").splitlines()) == summary.rejected + 1
    again = import_file(
        ctx, "purchases", subset, ImportOptions(mapping_file=MAPPING, reject_path=tmp_path / "r2.csv")
    )
    assert again.imported == 0
    with ctx.engine.connect() as conn:
        assert int(conn.execute(text("SELECT count(*) FROM purchases")).scalar_one()) == got["purchases"]
        assert int(conn.execute(text("SELECT count(*) FROM returns")).scalar_one()) == got["returns"]
