"""Header synonyms (English and Chinese), mapping files and flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from loyalty.imports.mapping import (
    Kind,
    MappingError,
    load_mapping_file,
    parse_flag_pairs,
    resolve_mapping,
)

ZH_PURCHASE_HEADERS = [
    "会员卡号",
    "手机号",
    "订单号",
    "消费金额",
    "交易时间",
    "门店",
    "商品编码",
    "品类",
    "数量",
    "单价",
]


def test_chinese_headers_map_by_default() -> None:
    m = resolve_mapping(Kind.purchases, ZH_PURCHASE_HEADERS)
    assert m.columns == {
        "card_no": "会员卡号",
        "phone": "手机号",
        "order_id": "订单号",
        "amount": "消费金额",
        "occurred_at": "交易时间",
        "store": "门店",
        "sku": "商品编码",
        "category": "品类",
        "quantity": "数量",
        "unit_price": "单价",
    }


def test_english_headers_are_case_space_and_punctuation_insensitive() -> None:
    headers = ["Order No.", "Store Code", "Transaction Time", "Card Number", "Unit Price", "QTY", "SKU"]
    m = resolve_mapping(Kind.purchases, headers)
    assert m.columns["order_id"] == "Order No."
    assert m.columns["store"] == "Store Code"
    assert m.columns["occurred_at"] == "Transaction Time"
    assert m.columns["card_no"] == "Card Number"
    assert m.columns["unit_price"] == "Unit Price"
    assert m.columns["quantity"] == "QTY"


def test_member_headers() -> None:
    m = resolve_mapping(
        Kind.members, ["会员卡号", "手机号码", "姓名", "性别", "出生日期", "注册时间", "邮箱"]
    )
    assert m.columns == {
        "card_no": "会员卡号",
        "phone": "手机号码",
        "name": "姓名",
        "gender": "性别",
        "birthday": "出生日期",
        "registered_at": "注册时间",
        "email": "邮箱",
    }


def test_flags_override_file_which_overrides_synonyms(tmp_path: Path) -> None:
    cfg = tmp_path / "m.yaml"
    cfg.write_text("kind: purchases\ncolumns:\n  order_id: 小票\n  amount: 实收\ndefaults:\n  store: S1\n")
    headers = ["小票", "单号", "实收", "金额", "时间"]
    m = resolve_mapping(Kind.purchases, headers, config=load_mapping_file(cfg), flags={"amount": "金额"})
    assert m.columns["order_id"] == "小票"
    assert m.columns["amount"] == "金额"
    assert m.defaults == {"store": "S1"}


def test_toml_mapping_file(tmp_path: Path) -> None:
    cfg = tmp_path / "m.toml"
    cfg.write_text(
        'timezone = "Europe/London"\n[columns]\norder_id = "Invoice"\n[returns]\norder_prefix = "C"\n'
    )
    m = resolve_mapping(
        Kind.purchases,
        ["Invoice", "When", "Total", "Shop"],
        config=load_mapping_file(cfg),
        flags={"occurred_at": "When", "store": "Shop", "amount": "Total"},
    )
    assert m.timezone == "Europe/London"
    assert m.returns.order_prefix == "C"


def test_missing_required_column_names_what_is_missing() -> None:
    with pytest.raises(MappingError, match="order_id"):
        resolve_mapping(Kind.purchases, ["门店", "交易时间", "消费金额"])


def test_unknown_field_or_column_is_an_error_not_ignored() -> None:
    with pytest.raises(MappingError, match="unknown field"):
        resolve_mapping(Kind.members, ["卡号"], flags={"shoe_size": "卡号"})
    with pytest.raises(MappingError, match="not in the file"):
        resolve_mapping(Kind.members, ["卡号"], flags={"card_no": "Card"})


def test_flag_pairs() -> None:
    assert parse_flag_pairs(["a=b", " c = d "]) == {"a": "b", "c": "d"}
    with pytest.raises(MappingError):
        parse_flag_pairs(["nope"])
