"""Which source column feeds which field: defaults by header synonyms, a mapping file, CLI flags.

Chains export the same facts under many headers (`会员卡号`, `Card No`, `card_no` …). Resolution order
is: explicit `--map field=column` flags, then the mapping file's `columns`, then the synonym table below
(case-, space- and punctuation-insensitive). A mapping file can also fix constants (`defaults`) such as
the store code of a single-store export, the date format, the currency unit, and a return marker.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from loyalty.domain.errors import InvalidInput


class Kind(StrEnum):
    """The four things a chain migrates."""

    members = "members"
    purchases = "purchases"
    returns = "returns"
    balances = "balances"


# Canonical field -> header synonyms (English and Chinese). Keys are the names used everywhere else.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "card_no": (
        "card_no",
        "card",
        "card number",
        "member card",
        "membership card",
        "member_no",
        "customer id",
        "customerid",
        "customer",
        "customer_id",
        "member id",
        "memberid",
        "会员卡号",
        "卡号",
        "会员号",
        "会员编号",
        "会员id",
        "顾客编号",
        "客户编号",
    ),
    "member_code": ("member_code", "member code", "会员代码", "会员码"),
    "phone": (
        "phone",
        "mobile",
        "phone number",
        "mobile phone",
        "cellphone",
        "tel",
        "telephone",
        "手机号",
        "手机号码",
        "手机",
        "电话",
        "联系电话",
        "会员手机号",
    ),
    "name": ("name", "full name", "member name", "customer name", "姓名", "会员姓名", "名字", "客户姓名"),
    "email": ("email", "e-mail", "mail", "邮箱", "电子邮箱", "电子邮件"),
    "birthday": ("birthday", "birth date", "date of birth", "dob", "birthdate", "生日", "出生日期"),
    "gender": ("gender", "sex", "性别"),
    "registered_at": (
        "registered_at",
        "registration date",
        "registered",
        "join date",
        "joined",
        "signup date",
        "created_at",
        "注册时间",
        "注册日期",
        "入会时间",
        "入会日期",
        "开卡时间",
        "开卡日期",
    ),
    "consent": (
        "consent",
        "marketing consent",
        "marketing_consent",
        "opt in",
        "optin",
        "营销同意",
        "同意营销",
        "接收营销",
        "是否同意营销",
    ),
    "store": (
        "store",
        "store code",
        "store_code",
        "shop",
        "shop code",
        "branch",
        "outlet",
        "门店",
        "门店编码",
        "门店代码",
        "门店编号",
        "店铺",
        "店号",
        "注册门店",
    ),
    "order_id": (
        "order_id",
        "order",
        "order no",
        "order number",
        "invoice",
        "invoiceno",
        "invoice no",
        "receipt",
        "receipt no",
        "ticket",
        "transaction id",
        "订单号",
        "订单编号",
        "单号",
        "小票号",
        "流水号",
        "交易单号",
    ),
    "occurred_at": (
        "occurred_at",
        "date",
        "datetime",
        "time",
        "invoicedate",
        "invoice date",
        "order date",
        "purchase date",
        "transaction date",
        "transaction time",
        "交易时间",
        "消费时间",
        "下单时间",
        "购买时间",
        "交易日期",
        "消费日期",
        "日期",
        "时间",
    ),
    "amount": (
        "amount",
        "total",
        "total amount",
        "order total",
        "paid",
        "paid amount",
        "消费金额",
        "实付金额",
        "金额",
        "订单金额",
        "交易金额",
        "支付金额",
        "应付金额",
    ),
    "sku": (
        "sku",
        "product code",
        "item code",
        "stockcode",
        "stock code",
        "product id",
        "item",
        "barcode",
        "商品编码",
        "商品代码",
        "商品编号",
        "货号",
        "条码",
        "sku编码",
    ),
    "category": (
        "category",
        "product category",
        "department",
        "品类",
        "类别",
        "商品类别",
        "分类",
        "品类名称",
    ),
    "brand": ("brand", "brand name", "品牌", "品牌名称"),
    "quantity": ("quantity", "qty", "count", "数量", "购买数量", "件数"),
    "unit_price": ("unit_price", "unit price", "unitprice", "price", "单价", "售价", "商品单价"),
    "discount": ("discount", "discount amount", "折扣", "优惠", "优惠金额", "折扣金额"),
    "description": ("description", "product name", "item name", "商品名称", "品名", "描述"),
    "currency": ("currency", "币种", "货币"),
    "channel": (
        "channel",
        "sales channel",
        "order channel",
        "order source",
        "渠道",
        "销售渠道",
        "订单渠道",
        "下单渠道",
        "订单来源",
    ),
    "staff": (
        "staff",
        "staff code",
        "staff id",
        "cashier",
        "cashier code",
        "cashier id",
        "cashier no",
        "clerk",
        "operator",
        "salesperson",
        "sales person",
        "employee",
        "employee id",
        "收银员",
        "收银员编号",
        "收银员工号",
        "收银员代码",
        "营业员",
        "导购",
        "导购员",
        "销售员",
        "员工",
        "员工编号",
        "工号",
        "操作员",
    ),
    "registered_by": (
        "registered_by",
        "registered by",
        "signed up by",
        "recruited by",
        "staff",
        "staff code",
        "employee",
        "employee id",
        "开卡人",
        "开卡员工",
        "办卡人",
        "办卡员工",
        "注册员工",
        "发展人",
        "员工",
        "员工编号",
        "工号",
    ),
    "return_id": (
        "return_id",
        "return no",
        "return number",
        "refund id",
        "refund no",
        "退货单号",
        "退款单号",
        "退单号",
    ),
    "original_order_id": (
        "original_order_id",
        "original order",
        "original order id",
        "original invoice",
        "原订单号",
        "原单号",
        "原小票号",
    ),
    "refund": ("refund", "refund amount", "refunded", "退款金额", "退货金额", "退款"),
    "points": (
        "points",
        "balance",
        "point balance",
        "points balance",
        "积分",
        "积分余额",
        "可用积分",
        "剩余积分",
    ),
    "earned_at": (
        "earned_at",
        "earn date",
        "earned",
        "earned on",
        "获得时间",
        "积分获得时间",
        "发放时间",
        "获得日期",
    ),
    "expires_at": (
        "expires_at",
        "expiry",
        "expiry date",
        "expires",
        "expiration",
        "valid until",
        "过期时间",
        "到期时间",
        "有效期至",
        "过期日期",
        "到期日期",
    ),
    "country": ("country", "国家", "地区"),
}

# What each kind needs. A member can be identified by any one of `MEMBER_KEYS`.
MEMBER_KEYS = ("card_no", "phone", "member_code")
FIELDS: dict[Kind, tuple[str, ...]] = {
    Kind.members: (
        "card_no",
        "member_code",
        "phone",
        "name",
        "email",
        "birthday",
        "gender",
        "registered_at",
        "consent",
        "store",
        "registered_by",
    ),
    Kind.purchases: (
        "card_no",
        "phone",
        "member_code",
        "store",
        "order_id",
        "occurred_at",
        "amount",
        "sku",
        "category",
        "brand",
        "quantity",
        "unit_price",
        "discount",
        "description",
        "currency",
        "channel",
        "staff",
    ),
    Kind.returns: (
        "card_no",
        "phone",
        "member_code",
        "store",
        "return_id",
        "original_order_id",
        "occurred_at",
        "refund",
        "sku",
        "quantity",
    ),
    Kind.balances: ("card_no", "phone", "member_code", "points", "earned_at", "expires_at"),
}
REQUIRED: dict[Kind, tuple[str, ...]] = {
    Kind.members: (),
    Kind.purchases: ("store", "order_id", "occurred_at"),
    Kind.returns: ("store", "return_id", "original_order_id", "occurred_at"),
    Kind.balances: ("points",),
}


class MappingError(InvalidInput, ValueError):
    """The file cannot be imported as asked (a required column is missing or a mapping is invalid)."""

    default_code = "MAPPING_INVALID"


def _norm(header: str) -> str:
    return re.sub(r"[\s_\-./()（）:：#]+", "", header.strip().lower())


@dataclass(frozen=True)
class ReturnMarker:
    """Rows of a purchases file that are really returns (e.g. Online Retail's `C…` invoices)."""

    order_prefix: str | None = None
    negative_quantity: bool = False


@dataclass(frozen=True)
class ColumnMap:
    """Field -> source column, constants, and parsing options for one import."""

    kind: Kind
    columns: dict[str, str] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=dict)
    date_formats: tuple[str, ...] = ()
    timezone: str | None = None
    amount_unit: str = "major"  # "major" (12.50) or "minor" (1250)
    phone_region: str = "CN"
    create_members: bool = False
    card_no_strip_decimal: bool = True
    returns: ReturnMarker = field(default_factory=ReturnMarker)
    line_amount: str = "quantity*unit_price"

    def source(self, name: str) -> str | None:
        return self.columns.get(name)

    def has(self, name: str) -> bool:
        return name in self.columns or name in self.defaults

    def member_keys(self) -> list[str]:
        return [k for k in MEMBER_KEYS if self.has(k)]


def load_mapping_file(path: str | Path) -> dict[str, Any]:
    """Parse a YAML (`.yml/.yaml`) or TOML mapping file into a plain dict."""
    p = Path(path)
    raw = p.read_text(encoding="utf-8")
    data: Any = tomllib.loads(raw) if p.suffix.lower() == ".toml" else yaml.safe_load(raw)
    if not isinstance(data, dict):
        raise MappingError(
            "MAPPING_INVALID",
            "{file}: a mapping file must be a table/object at the top level",
            {"file": p.name},
        )
    return data


def parse_flag_pairs(pairs: Iterable[str]) -> dict[str, str]:
    """`["order_id=InvoiceNo", …]` -> dict; used by `--map` and `--set` CLI flags."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise MappingError("MAPPING_INVALID", "expected FIELD=VALUE, got {pair!r}", {"pair": pair})
        out[key.strip()] = value.strip()
    return out


def resolve_mapping(
    kind: Kind,
    headers: Iterable[str],
    *,
    config: Mapping[str, Any] | None = None,
    flags: Mapping[str, str] | None = None,
    defaults: Mapping[str, str] | None = None,
) -> ColumnMap:
    """Build the effective mapping for a file with `headers`.

    `config` is a parsed mapping file; `flags` are `--map field=column`; `defaults` are `--set field=value`.
    Unknown fields or columns are errors rather than silently ignored, so a typo cannot drop data.
    """
    cfg: dict[str, Any] = dict(config or {})
    headers = list(headers)
    allowed = FIELDS[kind]
    by_norm = {_norm(h): h for h in headers}
    columns: dict[str, str] = {}

    explicit = {**dict(cfg.get("columns") or {}), **dict(flags or {})}
    for fld, col in explicit.items():
        if fld not in allowed:
            raise MappingError(
                "MAPPING_INVALID",
                "unknown field {field!r} for {kind}; expected one of {allowed}",
                {"field": fld, "kind": kind.value, "allowed": ", ".join(allowed)},
            )
        if col in headers:
            columns[fld] = col
        elif _norm(str(col)) in by_norm:
            columns[fld] = by_norm[_norm(str(col))]
        else:
            raise MappingError(
                "COLUMN_MISSING",
                "column {column!r} (for {field}) is not in the file; columns are {columns}",
                {"column": col, "field": fld, "columns": ", ".join(headers)},
            )

    used = set(columns.values())
    for fld in allowed:
        if fld in columns:
            continue
        for synonym in SYNONYMS.get(fld, (fld,)):
            hit = by_norm.get(_norm(synonym))
            if hit is not None and hit not in used:
                columns[fld] = hit
                used.add(hit)
                break

    consts = {str(k): str(v) for k, v in {**dict(cfg.get("defaults") or {}), **dict(defaults or {})}.items()}
    for fld in consts:
        if fld not in allowed:
            raise MappingError(
                "MAPPING_INVALID", "unknown default {field!r} for {kind}", {"field": fld, "kind": kind.value}
            )

    ret_cfg = dict(cfg.get("returns") or {})
    fmt = cfg.get("date_format") or cfg.get("date_formats") or ()
    mapping = ColumnMap(
        kind=kind,
        columns=columns,
        defaults=consts,
        date_formats=tuple([fmt] if isinstance(fmt, str) else fmt),
        timezone=cfg.get("timezone"),
        amount_unit=str(cfg.get("amount_unit", "major")),
        phone_region=str(cfg.get("phone_region", "CN")),
        create_members=bool(cfg.get("create_members", False)),
        returns=ReturnMarker(
            order_prefix=ret_cfg.get("order_prefix"), negative_quantity=bool(ret_cfg.get("negative_quantity"))
        ),
    )
    if mapping.amount_unit not in {"major", "minor"}:
        raise MappingError("MAPPING_INVALID", "amount_unit must be 'major' or 'minor'")
    missing = [f for f in REQUIRED[kind] if not mapping.has(f)]
    if kind is Kind.purchases and not (mapping.has("amount") or mapping.has("unit_price")):
        missing.append("amount (or unit_price)")
    if kind is Kind.returns and not (mapping.has("refund") or mapping.has("unit_price")):
        missing.append("refund")
    if kind in (Kind.members, Kind.balances) and not mapping.member_keys():
        missing.append("card_no|phone|member_code")
    if missing:
        raise MappingError(
            "COLUMN_MISSING",
            "cannot import {kind}: no column for {missing} "
            "(columns are {columns}; map them with --map FIELD=COLUMN or a mapping file)",
            {"kind": kind.value, "missing": ", ".join(missing), "columns": ", ".join(headers)},
        )
    return mapping


def with_overrides(mapping: ColumnMap, **changes: Any) -> ColumnMap:
    """A copy of `mapping` with some options changed (used by the demo and tests)."""
    return replace(mapping, **changes)
