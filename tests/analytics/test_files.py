"""Plain transaction files are read, checked and summarised without Ibis, with the Ibis path's results.

`summary(path)` takes the file path (`loyalty.analytics.files`); `summary(to_table(path))` forces the
Ibis path on the same file. Both must give the same table and the same errors, and the `rfm`/`clv`
commands must not import Ibis (nor SciPy for `rfm`): that import cost more than the command's work.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from loyalty.analytics import Columns, InputError, summary
from loyalty.analytics.features import to_table
from loyalty.analytics.files import read_checked


def _both(path: Path, columns: Columns | None = None, **kw: object) -> tuple[pd.DataFrame, pd.DataFrame]:
    fast = summary(path, columns, **kw)  # type: ignore[arg-type]
    via_ibis = summary(to_table(path), columns, **kw)  # type: ignore[arg-type]
    return fast, via_ibis


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".parquet"])
@pytest.mark.parametrize(
    "options",
    [{}, {"calibration_end": "1997-09-30", "time_unit": "week"}],
    ids=["whole", "calibration-weeks"],
)
def test_file_summary_equals_the_ibis_summary(
    cdnow: pd.DataFrame, tmp_path: Path, suffix: str, options: dict[str, str]
) -> None:
    path = tmp_path / f"tx{suffix}"
    if suffix == ".parquet":
        cdnow.assign(date=pd.to_datetime(cdnow["date"])).to_parquet(path)
    else:
        cdnow.to_csv(path, index=False)
    assert read_checked(path, Columns()) is not None  # the file path really is taken
    fast, via_ibis = _both(path, **options)
    assert len(fast) == 2357
    assert_frame_equal(fast, via_ibis)


def test_renamed_columns_text_padding_and_netted_returns(tmp_path: Path) -> None:
    path = tmp_path / "pos.csv"
    path.write_text(
        "会员,日期,金额,门店\n"
        "a, 2024-01-01 ,10.5,S1\n"
        "a,2024-02-01, 20 ,S1\n"
        "a,2024-02-01,-5,S1\n"
        "b,2024-01-05 09:30:00,7,S2\n"
        "b,2024-03-05,8,S2\n",
        encoding="utf-8",
    )
    cols = Columns("会员", "日期", "金额")
    fast, via_ibis = _both(path, cols, returns="net")
    assert_frame_equal(fast, via_ibis)
    assert fast.set_index("customer_id").loc["a", "total_spend"] == 25.5


@pytest.mark.parametrize(
    ("rows", "returns", "message"),
    [
        ("a,2024-01-01,1\nb,31/02/2024,2\nc,2024-01-03,x\n", "reject", r"unparseable dates in rows \[2\]"),
        ("a,2024-01-01,1\nb,2024-01-02,2\nc,2024-01-03,x\n", "reject", r"non-numeric amounts in rows \[3\]"),
        ("a,2024-01-01,1\n,2024-01-02,2\nc,2024-01-03,\n", "reject", r"empty .* in rows \[2, 3\]"),
        ("a,2024-01-01,1\nb,2024-01-02,-2\nc,2024-01-03,3\n", "reject", r"negative amounts .* rows \[2\]"),
        ("a,2024-01-01,1\nb,2024-01-02,x\nc,2024-01-03,-3\n", "net", r"non-numeric amounts in rows \[2\]"),
    ],
    ids=["date", "amount", "empty", "negative", "amount-before-negative"],
)
def test_file_errors_equal_the_ibis_errors(tmp_path: Path, rows: str, returns: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("customer_id,date,amount\n" + rows, encoding="utf-8")
    with pytest.raises(InputError, match=message) as fast:
        summary(path, returns=returns)  # type: ignore[arg-type]
    with pytest.raises(InputError) as via_ibis:
        summary(to_table(path), returns=returns)  # type: ignore[arg-type]
    assert (fast.value.message, fast.value.details) == (via_ibis.value.message, via_ibis.value.details)


def test_missing_columns_and_files(tmp_path: Path) -> None:
    path = tmp_path / "tx.csv"
    path.write_text("cust,day,amount\na,2024-01-01,1\n", encoding="utf-8")
    with pytest.raises(
        InputError, match=r"missing column\(s\): customer_id, date \(available: cust, day, amount\)"
    ):
        summary(path)
    with pytest.raises(InputError, match="no such file"):
        summary(tmp_path / "nope.csv")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(InputError, match="unsupported file type"):
        summary(tmp_path / "x.json")


def test_zoned_timestamps_are_left_to_the_ibis_path(tmp_path: Path) -> None:
    path = tmp_path / "tz.parquet"
    pd.DataFrame(
        {
            "customer_id": ["a", "a", "b"],
            "date": pd.to_datetime(["2024-01-01 10:00", "2024-02-01 10:00", "2024-01-05 10:00"]).tz_localize(
                "UTC"
            ),
            "amount": [1.0, 2.0, 3.0],
        }
    ).to_parquet(path)
    assert read_checked(path, Columns()) is None
    fast, via_ibis = _both(path)
    assert_frame_equal(fast, via_ibis)


PROBE = """
import json, sys
from loyalty.cli import main
sys.argv = ["loyalty", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit as exc:
    assert exc.code in (0, None), exc.code
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules} & {"ibis", "scipy", "sqlalchemy", "alembic"})))
"""


@pytest.mark.parametrize(
    ("command", "absent"),
    [
        (["rfm"], {"ibis", "scipy", "sqlalchemy", "alembic"}),
        (["clv", "--calibration-end", "1997-09-30"], {"ibis", "sqlalchemy", "alembic"}),
    ],
    ids=["rfm", "clv"],
)
def test_commands_on_a_file_import_neither_ibis_nor_the_database(
    cdnow_path: Path, tmp_path: Path, command: list[str], absent: set[str]
) -> None:
    argv = ["analytics", command[0], str(cdnow_path), "-o", str(tmp_path / "out.csv"), *command[1:]]
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(argv)],
        capture_output=True,
        text=True,
        env={**os.environ, "LOYALTY_LOCALE": "en"},
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "out.csv").exists()
    imported = set(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert imported & absent == set()
