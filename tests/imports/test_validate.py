"""Set-based validation: every rejection reason, duplicates, time zones and money parsing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty.imports.mapping import Kind, resolve_mapping
from loyalty.imports.validate import Checked, Reference, validate

STORES = [("SH01", 1, "Asia/Shanghai"), ("UR01", 2, "Asia/Urumqi")]


def _table(headers: list[str], rows: list[list[str]]) -> pa.Table:
    cols = {h: pa.array([r[i] for r in rows], pa.string()) for i, h in enumerate(headers)}
    cols["_line"] = pa.array(range(2, len(rows) + 2), pa.int64())
    return pa.table(cols)


def _ref(members: list[tuple[int, str | None, str | None]] | None = None) -> Reference:
    ref = Reference.empty(STORES)
    rows = members or []
    ref.members = pa.table(
        {
            "id": pa.array([m[0] for m in rows], pa.int64()),
            "card_no": pa.array([m[1] for m in rows], pa.string()),
            "phone": pa.array([m[2] for m in rows], pa.string()),
            "member_code": pa.array([None for _ in rows], pa.string()),
        }
    )
    return ref


def _check(kind: Kind, headers: list[str], rows: list[list[str]], ref: Reference, **cfg: object) -> Checked:
    table = _table(headers, rows)
    mapping = resolve_mapping(kind, headers, config=cfg or None)
    return validate(table, mapping, ref)


def _reject_map(checked: Checked) -> dict[int, str]:
    return dict(
        zip(
            checked.rejects.column("_line").to_pylist(),
            checked.rejects.column("reason").to_pylist(),
            strict=True,
        )
    )


MEMBER_HEADERS = ["会员卡号", "手机号", "姓名", "邮箱", "生日", "注册时间", "注册门店", "营销同意", "性别"]


def test_member_rejections_and_normalisation() -> None:
    rows = [
        [
            "C1",
            "138 0013 8000",
            "张三",
            "a@b.cn",
            "1990-05-01",
            "2024-01-02 10:00:00",
            "SH01",
            "是",
            "女",
        ],  # ok
        ["C2", "12345", "李四", "", "", "", "", "", ""],  # bad_phone
        ["C3", "13900139000", "王五", "not-an-email", "", "", "", "", ""],  # bad_email
        ["C4", "13700137000", "赵六", "", "1990-13-45", "", "", "", ""],  # unparseable birthday
        ["C5", "13600136000", "钱七", "", "", "2024-01-02", "XX99", "", ""],  # unknown_store
        ["C1", "13500135000", "孙八", "", "", "", "", "", ""],  # duplicate card in file
        ["", "", "周九", "", "", "", "", "", ""],  # no key at all
        ["C8", "+86 13300133000", "吴十", "", "", "", "", "", ""],  # phone of an existing member
        ["OLD", "13200132000", "郑", "", "", "", "", "", ""],  # existing card: duplicate, not reject
        ["C9", "", "", "", "", "", "", "", ""],  # only a card number is fine
        ["C10", "2025-01-01", "x", "", "", "not a date", "", "", ""],  # bad phone wins (first reason)
    ]
    ref = _ref([(50, "OLD", "+8613200132000"), (51, "OTHER", "+8613300133000")])
    checked = _check(Kind.members, MEMBER_HEADERS, rows, ref)
    assert _reject_map(checked) == {
        3: "bad_phone",
        4: "bad_email",
        5: "unparseable_date",
        6: "unknown_store",
        7: "duplicate_member",
        8: "missing_field",
        9: "phone_in_use",
        12: "bad_phone",
    }
    assert checked.duplicates == 1
    good = checked.good.to_pylist()
    assert [g["card_no"] for g in good] == ["C1", "C9"]
    first = good[0]
    assert first["phone"] == "+8613800138000"
    assert first["consent"] is True
    assert first["gender"] == "female"
    assert first["store_id"] == 1
    assert first["registered_us"] == int(datetime(2024, 1, 2, 2, 0, tzinfo=UTC).timestamp() * 1_000_000)
    assert checked.read == checked.good.num_rows + checked.rejected + checked.duplicates


PURCHASE_HEADERS = ["订单号", "门店", "交易时间", "会员卡号", "商品编码", "数量", "单价"]


def test_purchase_rejections_each_reason() -> None:
    rows = [
        ["A1", "SH01", "2024-03-01 10:00:00", "M1", "S1", "2", "¥1,234.50"],  # ok
        ["A1", "SH01", "2024-03-01 10:00:00", "M1", "S2", "1", "3"],  # ok, second line of A1
        ["A2", "XX", "2024-03-01 10:00:00", "M1", "S1", "1", "3"],  # unknown_store
        ["A3", "SH01", "yesterday", "M1", "S1", "1", "3"],  # unparseable_date
        ["A4", "SH01", "2024-03-01 10:00:00", "M1", "S1", "1", "abc"],  # bad_amount
        ["A5", "SH01", "2024-03-01 10:00:00", "M1", "S1", "1.5", "3"],  # bad_quantity
        ["A6", "SH01", "2024-03-01 10:00:00", "M1", "S1", "1", "-3"],  # negative_amount
        ["A7", "SH01", "2024-03-01 10:00:00", "NOBODY", "S1", "1", "3"],  # unknown_member
        ["A1", "SH01", "2024-03-02 10:00:00", "M2", "S1", "1", "3"],  # duplicate_order (other member)
        ["", "SH01", "2024-03-01 10:00:00", "M1", "S1", "1", "3"],  # missing_field
        ["OLD", "SH01", "2024-03-01 10:00:00", "M1", "S1", "1", "3"],  # already imported -> duplicate
        ["A8", "UR01", "2024-03-01 10:00", "M2", "S1", "1", "3"],  # Urumqi time
        ["A9", "SH01", "2024-03-01 10:00:00", "M1", "S1", "-1", "3"],  # negative quantity
        ["A10", "SH01", "2024-03-01 10:00:00", "", "S1", "1", "3"],  # anonymous sale: kept
    ]
    ref = _ref([(1, "M1", None), (2, "M2", None)])
    ref.orders = pa.table(
        {
            "store_id": pa.array([1], pa.int64()),
            "order_id": pa.array(["OLD"]),
            "id": pa.array([9], pa.int64()),
            "member_id": pa.array([1], pa.int64()),
            "total_minor": pa.array([300], pa.int64()),
            "refunded_minor": pa.array([0], pa.int64()),
        }
    )
    checked = _check(Kind.purchases, PURCHASE_HEADERS, rows, ref)
    assert _reject_map(checked) == {
        4: "unknown_store",
        5: "unparseable_date",
        6: "bad_amount",
        7: "bad_quantity",
        8: "negative_amount",
        9: "unknown_member",
        10: "duplicate_order",
        11: "missing_field",
        14: "negative_amount",
    }
    assert checked.duplicates == 1
    good = checked.good.to_pylist()
    assert [(g["order_id"], g["amount_minor"], g["member_id"], g["anonymous"]) for g in good] == [
        ("A1", 246900, 1, False),
        ("A1", 300, 1, False),
        ("A10", 300, None, True),
        ("A8", 300, 2, False),
    ]
    shanghai = good[0]["occurred_us"]
    urumqi = good[3]["occurred_us"]
    assert shanghai == int(datetime(2024, 3, 1, 2, 0, tzinfo=UTC).timestamp() * 1_000_000)
    assert urumqi - shanghai == 2 * 3600 * 1_000_000  # Urumqi is UTC+6
    detail = checked.rejects.filter(pa.compute.equal(checked.rejects.column("_line"), 10)).column("detail")
    assert detail[0].as_py() == "order A1 first seen at line 2"
    # the reject keeps the original text of the row
    assert (
        checked.rejects.column("单价").to_pylist()[checked.rejects.column("_line").to_pylist().index(6)]
        == "abc"
    )


def test_purchase_channels_in_chinese_and_english_and_anonymous_sales() -> None:
    """A channel column in either language becomes the closed set (empty: store), a text naming no
    channel is refused naming it, and an order's lines agree on the channel; a sale without a member
    key is an anonymous sale, one whose key names nobody is still refused."""
    headers = [*PURCHASE_HEADERS, "渠道"]
    rows = [
        ["C1", "SH01", "2024-03-01 10:00:00", "M1", "S1", "1", "3", "门店"],
        ["C2", "SH01", "2024-03-01 10:00:00", "M1", "S1", "1", "3", "线上"],
        ["C3", "SH01", "2024-03-01 10:00:00", "", "S1", "1", "3", "小程序"],
        ["C4", "SH01", "2024-03-01 10:00:00", "", "S1", "1", "3", "外卖"],
        ["C5", "SH01", "2024-03-01 10:00:00", "M1", "S1", "1", "3", "Mini-Program"],
        ["C6", "SH01", "2024-03-01 10:00:00", "M1", "S1", "1", "3", " E-Commerce "],
        ["C7", "SH01", "2024-03-01 10:00:00", "M1", "S1", "1", "3", ""],  # no channel: a store sale
        ["C8", "SH01", "2024-03-01 10:00:00", "M1", "S1", "1", "3", "电话"],  # bad_channel
        ["C9", "SH01", "2024-03-01 10:00:00", "", "S1", "1", "3", "delivery"],
        ["C9", "SH01", "2024-03-01 10:00:00", "", "S2", "1", "3", "store"],  # another order's channel
        ["C10", "SH01", "2024-03-01 10:00:00", "NOBODY", "S1", "1", "3", "store"],  # unknown_member
    ]
    checked = _check(Kind.purchases, headers, rows, _ref([(1, "M1", None)]))
    assert _reject_map(checked) == {9: "bad_channel", 11: "duplicate_order", 12: "unknown_member"}
    detail = checked.rejects.filter(pa.compute.equal(checked.rejects.column("_line"), 9)).column("detail")
    assert detail[0].as_py() == "channel 电话"
    got = {g["order_id"]: (g["channel"], g["member_id"], g["anonymous"]) for g in checked.good.to_pylist()}
    assert got == {
        "C1": ("store", 1, False),
        "C2": ("online", 1, False),
        "C3": ("mini_program", None, True),
        "C4": ("delivery", None, True),
        "C5": ("mini_program", 1, False),
        "C6": ("online", 1, False),
        "C7": ("store", 1, False),
        "C9": ("delivery", None, True),
    }
    # A constant channel for a single-channel export; no channel column at all: store sales.
    online = _check(
        Kind.purchases, PURCHASE_HEADERS, rows[:1], _ref([(1, "M1", None)]), defaults={"channel": "线上"}
    )
    assert online.good.column("channel").to_pylist() == ["online"]
    plain = _check(Kind.purchases, PURCHASE_HEADERS, rows[:1], _ref([(1, "M1", None)]))
    assert plain.good.column("channel").to_pylist() == ["store"]


def test_header_level_file_with_repeated_order_is_duplicate_order() -> None:
    headers = ["订单号", "门店", "交易时间", "消费金额", "会员卡号"]
    rows = [["B1", "SH01", "2024-03-01", "10", "M1"], ["B1", "SH01", "2024-03-01", "10", "M1"]]
    checked = _check(Kind.purchases, headers, rows, _ref([(1, "M1", None)]))
    assert _reject_map(checked) == {3: "duplicate_order"}
    assert checked.good.column("amount_minor").to_pylist() == [1000]


def test_iso_offsets_win_over_store_zone() -> None:
    headers = ["订单号", "门店", "交易时间", "消费金额", "会员卡号"]
    rows = [
        ["B1", "UR01", "2024-03-01T10:00:00+08:00", "10", "M1"],
        ["B2", "UR01", "2024-03-01T02:00:00Z", "10", "M1"],
    ]
    us = _check(Kind.purchases, headers, rows, _ref([(1, "M1", None)])).good.column("occurred_us").to_pylist()
    assert us[0] == us[1] == int(datetime(2024, 3, 1, 2, tzinfo=UTC).timestamp() * 1_000_000)


def test_embedded_returns_find_their_original_invoice() -> None:
    headers = ["InvoiceNo", "StockCode", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID"]
    rows = [
        ["100", "X", "6", "2011-01-01 10:00:00", "2.5", "17850.0"],
        ["101", "Y", "1", "2011-01-02 10:00:00", "4", "17850.0"],
        ["C200", "X", "-2", "2011-01-03 10:00:00", "2.5", "17850.0"],  # matches 100 by customer + sku
        ["C201", "Z", "-1", "2011-01-03 10:00:00", "1", "17850.0"],  # nothing bought: unknown_order
        ["C202", "X", "-1", "2011-01-03 10:00:00", "2.5", ""],  # no customer: unknown_order
    ]
    table = _table(headers, rows)
    mapping = resolve_mapping(
        Kind.purchases,
        headers,
        config={"defaults": {"store": "SH01"}, "create_members": True, "returns": {"order_prefix": "C"}},
    )
    checked = validate(table, mapping, _ref())
    assert _reject_map(checked) == {5: "unknown_order", 6: "unknown_order"}
    rets = checked.extra["returns"].to_pylist()
    assert [(r["return_id"], r["original_order_id"], r["refund_minor"]) for r in rets] == [
        ("C200/100", "100", 500)
    ]
    assert checked.extra["new_members"].column("card_no").to_pylist() == ["17850"]
    assert sorted(set(checked.good.column("order_id").to_pylist())) == ["100", "101"]


RETURN_HEADERS = ["退货单号", "原订单号", "门店", "交易时间", "退款金额"]


def test_return_rejections() -> None:
    ref = _ref()
    ref.orders = pa.table(
        {
            "store_id": pa.array([1, 1], pa.int64()),
            "order_id": pa.array(["O1", "O2"]),
            "id": pa.array([10, 11], pa.int64()),
            "member_id": pa.array([1, 1], pa.int64()),
            "total_minor": pa.array([1000, 500], pa.int64()),
            "refunded_minor": pa.array([0, 400], pa.int64()),
        }
    )
    ref.returns = pa.table({"store_id": pa.array([1], pa.int64()), "return_id": pa.array(["R0"])})
    rows = [
        ["R1", "O1", "SH01", "2024-03-02 10:00:00", "6"],  # ok
        ["R2", "O1", "SH01", "2024-03-02 10:00:00", "5"],  # 6 + 5 > 10: refund_exceeds
        ["R3", "NOPE", "SH01", "2024-03-02 10:00:00", "1"],  # unknown_order
        ["R1", "O1", "SH01", "2024-03-02 10:00:00", "1"],  # duplicate_return in file
        ["R4", "O2", "SH01", "2024-03-02 10:00:00", "1.01"],  # only 1.00 left
        ["R5", "O1", "SH01", "2024-03-02 10:00:00", "-1"],  # negative
        ["R0", "O1", "SH01", "2024-03-02 10:00:00", "1"],  # already imported
    ]
    checked = _check(Kind.returns, RETURN_HEADERS, rows, ref)
    assert _reject_map(checked) == {
        3: "refund_exceeds",
        4: "unknown_order",
        5: "duplicate_return",
        6: "refund_exceeds",
        7: "negative_amount",
    }
    assert checked.duplicates == 1
    assert checked.good.to_pylist()[0]["purchase_id"] == 10


def test_balance_rejections() -> None:
    headers = ["会员卡号", "积分", "获得时间", "过期时间"]
    rows = [
        ["M1", "100", "2024-01-01", "2025-12-31"],  # ok
        ["M1", "12.5", "2024-01-01", ""],  # bad_points
        ["M1", "100", "2024-01-01", "2023-12-31"],  # bad_expiry
        ["NOPE", "100", "2024-01-01", ""],  # unknown_member
        ["M1", "100", "someday", ""],  # unparseable_date
    ]
    checked = _check(Kind.balances, headers, rows, _ref([(1, "M1", None)]))
    assert _reject_map(checked) == {
        3: "bad_points",
        4: "bad_expiry",
        5: "unknown_member",
        6: "unparseable_date",
    }
    assert checked.good.column("points").to_pylist() == [100]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["SH01", "UR01"]),
            st.integers(0, 6),  # order number
            st.integers(0, 5),  # hour of the line
            st.integers(1, 3),  # quantity
        ),
        min_size=1,
        max_size=40,
    ),
    st.randoms(use_true_random=False),
)
@settings(max_examples=60, deadline=None)
def test_good_lines_come_in_posting_order(lines: list[tuple[str, int, int, int]], rnd: Any) -> None:
    """Orders by the time of their first line (UTC), orders at the same instant in file order; an order's
    lines together, in file order; every line carries its order's time, whatever order the file is in."""
    rows = [[store, f"O{n}", f"2026-01-0{1 + h % 3} 0{h}:00:00", "C1", f"S{i}", str(q), "1.00"]
            for i, (store, n, h, q) in enumerate(lines)]  # fmt: skip
    rnd.shuffle(rows)
    headers = ["门店", "订单号", "交易时间", "会员卡号", "商品编码", "数量", "单价"]
    checked = _check(Kind.purchases, headers, rows, _ref([(7, "C1", None)]))
    assert checked.rejected == 0
    tz = {code: ZoneInfo(zone) for code, _, zone in STORES}
    first_us: dict[tuple[str, str], int] = {}
    first_line: dict[tuple[str, str], int] = {}
    keys = []
    for line, (store, order, at) in enumerate(((r[0], r[1], r[2]) for r in rows), start=2):
        us = int(datetime.fromisoformat(at).replace(tzinfo=tz[store]).timestamp() * 1_000_000)
        key = (store, order)
        first_us[key] = min(first_us.get(key, us), us)
        first_line.setdefault(key, line)
        keys.append((key, line))
    want = [
        (first_us[key], key[1], line)
        for _, _, line, key in sorted((first_us[k], first_line[k], ln, k) for k, ln in keys)
    ]
    got = list(
        zip(
            checked.good.column("occurred_us").to_pylist(),
            checked.good.column("order_id").to_pylist(),
            checked.good.column("_line").to_pylist(),
            strict=True,
        )
    )
    assert got == want


def test_duckdb_never_draws_a_progress_bar_on_stdout() -> None:
    """A long validation must not print DuckDB's progress bar into `loyalty import --json` output."""
    from loyalty.analytics.features import connect
    from loyalty.imports.validate import Validator

    headers = PURCHASE_HEADERS
    table = _table(headers, [["A1", "SH01", "2024-03-01 10:00:00", "M1", "S1", "1", "3"]])
    validator = Validator(table, resolve_mapping("purchases", headers), _ref([(1, "M1", None)]))
    setting = "SELECT current_setting('enable_progress_bar')"
    assert validator.con.execute(setting).fetchall() == [(False,)]
    assert connect().raw_sql(setting).fetchall() == [(False,)]
