"""Every supported format and encoding reads into the same string table with line numbers."""

from __future__ import annotations

import gzip
from pathlib import Path

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from loyalty.imports.readers import LINE_COLUMN, ReadError, detect_encoding, read_table

ROWS = [
    ["会员卡号", "手机号", "姓名", "消费金额"],
    ["880001", "13800138000", "张三", "12.50"],
    ["880002", "13900139000", "李四, 二号", "7"],
]


def _csv_text(delimiter: str) -> str:
    def cell(value: str) -> str:
        return f'"{value}"' if delimiter in value or "," in value else value

    return "\n".join(delimiter.join(cell(v) for v in row) for row in ROWS) + "\n"


def _expect(result_rows: list[dict[str, object]]) -> None:
    assert [r["会员卡号"] for r in result_rows] == ["880001", "880002"]
    assert [r["姓名"] for r in result_rows] == ["张三", "李四, 二号"]
    assert [r["消费金额"] for r in result_rows] == ["12.50", "7"]
    assert [r[LINE_COLUMN] for r in result_rows] == [2, 3]


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_csv_any_delimiter_and_encoding_is_detected(tmp_path: Path, delimiter: str, encoding: str) -> None:
    path = tmp_path / "members.csv"
    path.write_bytes(_csv_text(delimiter).encode(encoding))
    result = read_table(path)
    assert result.delimiter == delimiter
    assert result.encoding == encoding
    _expect(result.table.to_pylist())


def test_gzipped_gb18030_csv(tmp_path: Path) -> None:
    path = tmp_path / "members.csv.gz"
    path.write_bytes(gzip.compress(_csv_text(",").encode("gb18030")))
    result = read_table(path)
    assert result.encoding == "gb18030"
    _expect(result.table.to_pylist())


def test_explicit_delimiter_and_encoding_override_detection(tmp_path: Path) -> None:
    path = tmp_path / "members.txt"
    path.write_bytes(_csv_text(";").encode("gb18030"))
    result = read_table(path, delimiter=";", encoding="gb18030")
    _expect(result.table.to_pylist())


def test_xlsx_numbers_keep_their_text_form(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["会员卡号", "手机号", "姓名", "消费金额"])
    ws.append([880001, 13800138000, "张三", 12.5])
    ws.append([])  # blank rows are skipped but line numbers stay those of the sheet
    ws.append([880002, 13900139000, "李四, 二号", 7])
    path = tmp_path / "members.xlsx"
    wb.save(path)
    rows = read_table(path).table.to_pylist()
    assert [r["手机号"] for r in rows] == ["13800138000", "13900139000"]
    assert [r["消费金额"] for r in rows] == ["12.5", "7"]
    assert [r[LINE_COLUMN] for r in rows] == [2, 4]


def test_parquet_typed_columns_become_text(tmp_path: Path) -> None:
    table = pa.table(
        {
            "card_no": pa.array(["880001", None]),
            "amount": pa.array([1250, 700], pa.int64()),
            "name": pa.array(["张三", "李四"]),
        }
    )
    path = tmp_path / "x.parquet"
    pq.write_table(table, path)
    rows = read_table(path).table.to_pylist()
    assert rows == [
        {"card_no": "880001", "amount": "1250", "name": "张三", LINE_COLUMN: 1},
        {"card_no": "", "amount": "700", "name": "李四", LINE_COLUMN: 2},
    ]


def test_utf8_is_preferred_over_statistical_guess() -> None:
    assert detect_encoding("手机号,金额\n13800138000,1\n".encode()) == "utf-8"
    assert detect_encoding("手机号,金额\n13800138000,1\n".encode("gb18030")) == "gb18030"


def test_missing_and_empty_files_are_read_errors(tmp_path: Path) -> None:
    with pytest.raises(ReadError):
        read_table(tmp_path / "nope.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ReadError):
        read_table(empty)


def test_duplicate_headers_are_kept_apart(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("a,a,b\n1,2,3\n")
    assert read_table(path).columns == ["a", "a_1", "b"]
