"""Imports read card numbers and member codes as the card and QR show them, refuse the future and any
currency that is not the programme's (issue 22, items 3, 4 and 10): history may be old, never ahead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa

from loyalty.domain.cards import QR_PREFIX
from loyalty.imports.mapping import Kind, resolve_mapping
from loyalty.imports.validate import Checked, Reference, validate

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
NOW_US = int(NOW.timestamp() * 1_000_000)
CARD = "8856635459642410"
CODE = "LMABCDEFGHJKLMNPQRSTUV"


def _ref(currency: str = "CNY") -> Reference:
    ref = Reference.empty([("SH01", 1, "Asia/Shanghai")])
    ref.members = pa.table(
        {
            "id": pa.array([1, 2], pa.int64()),
            "card_no": pa.array([CARD, "OLD-1"], pa.string()),
            "phone": pa.array([None, None], pa.string()),
            "member_code": pa.array([CODE, None], pa.string()),
        }
    )
    ref.currency = currency
    return ref


def _check(kind: Kind, headers: list[str], rows: list[list[str]], ref: Reference) -> Checked:
    cols = {h: pa.array([r[i] for r in rows], pa.string()) for i, h in enumerate(headers)}
    cols["_line"] = pa.array(range(2, len(rows) + 2), pa.int64())
    return validate(pa.table(cols), resolve_mapping(kind, headers), ref, now_us=NOW_US, skew_us=300_000_000)


def _rejects(checked: Checked) -> dict[int, str]:
    lines = checked.rejects.column("_line").to_pylist()
    return dict(zip(lines, checked.rejects.column("reason").to_pylist(), strict=True))


def _local(delta: timedelta) -> str:
    return (NOW + delta).astimezone().strftime("%Y-%m-%dT%H:%M:%S%z")


SALE = ["订单号", "门店", "交易时间", "会员卡号", "会员码", "商品编码", "数量", "单价", "币种"]


def test_a_sale_dated_ahead_of_now_is_refused_but_old_history_is_not() -> None:
    rows = [
        ["O1", "SH01", _local(-timedelta(days=3650)), CARD, "", "A", "1", "10", ""],  # ten years old: fine
        ["O2", "SH01", _local(timedelta(minutes=4)), CARD, "", "A", "1", "10", ""],  # a fast clock: fine
        ["O3", "SH01", _local(timedelta(days=365)), CARD, "", "A", "1", "10", ""],  # a year ahead
    ]
    assert _rejects(_check(Kind.purchases, SALE, rows, _ref())) == {4: "future_date"}


def test_a_sale_in_another_currency_is_refused() -> None:
    at = _local(-timedelta(days=30))
    rows = [
        ["O1", "SH01", at, CARD, "", "A", "1", "10", "CNY"],
        ["O2", "SH01", at, CARD, "", "A", "1", "10", "usd"],  # the currency column
        ["O3", "SH01", at, CARD, "", "A", "1", "$10.00", ""],  # a dollar sign in the amount
        ["O4", "SH01", at, CARD, "", "A", "1", "¥10.00", ""],  # the programme's own sign
        ["O5", "SH01", at, CARD, "", "A", "1", "€10", ""],
    ]
    checked = _check(Kind.purchases, SALE, rows, _ref())
    assert _rejects(checked) == {3: "bad_currency", 4: "bad_currency", 6: "bad_currency"}
    lines, details = checked.rejects.column("_line").to_pylist(), checked.rejects.column("detail").to_pylist()
    detail = dict(zip(lines, details, strict=True))
    assert "CNY" in detail[3]


def test_the_dollar_is_the_programmes_own_sign_on_a_usd_programme() -> None:
    rows = [["O1", "SH01", _local(-timedelta(days=1)), CARD, "", "A", "1", "$10.00", "USD"]]
    assert _rejects(_check(Kind.purchases, SALE, rows, _ref("USD"))) == {}


def test_cards_and_codes_are_matched_as_the_card_and_qr_show_them() -> None:
    at = _local(-timedelta(days=1))
    printed = " ".join(CARD[i : i + 4] for i in range(0, 16, 4))
    rows = [
        ["O1", "SH01", at, printed, "", "A", "1", "10", ""],
        ["O2", "SH01", at, "-".join(CARD[i : i + 4] for i in range(0, 16, 4)), "", "A", "1", "10", ""],
        ["O3", "SH01", at, "", f"{QR_PREFIX}{CODE}", "A", "1", "10", ""],
        ["O4", "SH01", at, "OLD-1", "", "A", "1", "10", ""],  # an old system's number, dash and all
    ]
    checked = _check(Kind.purchases, SALE, rows, _ref())
    assert _rejects(checked) == {}
    members = {r["order_id"]: r["member_id"] for r in checked.good.to_pylist()}
    assert members == {"O1": 1, "O2": 1, "O3": 1, "O4": 2}


RETURN = ["退货单号", "原订单号", "门店", "交易时间", "退款金额"]


def test_a_return_dated_ahead_or_refunded_in_another_currency_is_refused() -> None:
    ref = _ref()
    ref.orders = pa.table(
        {
            "store_id": pa.array([1], pa.int64()),
            "order_id": pa.array(["O1"]),
            "id": pa.array([10], pa.int64()),
            "member_id": pa.array([1], pa.int64()),
            "total_minor": pa.array([100_000], pa.int64()),
            "refunded_minor": pa.array([0], pa.int64()),
        }
    )
    rows = [
        ["R1", "O1", "SH01", _local(-timedelta(days=400)), "1"],
        ["R2", "O1", "SH01", _local(timedelta(days=2)), "1"],
        ["R3", "O1", "SH01", _local(-timedelta(days=1)), "$1"],
    ]
    assert _rejects(_check(Kind.returns, RETURN, rows, ref)) == {3: "future_date", 4: "bad_currency"}
