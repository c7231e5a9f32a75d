"""Who rang each sale and who signed each member up, imported (SQLite and PostgreSQL).

A sales file's cashier column (`收银员`, `staff`, …) is kept on each order (an order's is its first
line's), anonymous sales included; a code that is not a staff code (`domain.staff`) is refused naming
its line; no column, or an empty cell, names nobody. A members file's `开卡员工` column is kept as who
signed each member up. Both by the import's set-based path and, a batch it leaves to the live routine,
the same; a re-run adds nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text

from loyalty.bootstrap import Context
from loyalty.domain.errors import IdempotencyMismatch
from loyalty.imports.loaders import insert_members
from loyalty.imports.mapping import Kind, resolve_mapping
from loyalty.imports.runner import ImportOptions, import_file
from loyalty.services import merchants, purchases
from loyalty.services.schemas import PurchaseIn, PurchaseLineIn


def test_the_cashier_of_each_sale_is_imported(ctx: Context, tmp_path: Path) -> None:
    with ctx.engine.begin() as conn:
        ((card, _member_id),) = insert_members(conn, [{"member_code": "STF-1"}], ctx.now(), None).items()
    sales = tmp_path / "sales.csv"
    long = "C" * 101
    sales.write_text(
        "订单号,门店,交易时间,会员卡号,商品编码,数量,单价,收银员\n"
        f"S1,SH01,2026-09-01 10:00:00,{card},A,2,30.00,SH01-C1\n"
        f"S1,SH01,2026-09-01 10:00:00,{card},B,1,5.00,SH01-C1\n"
        "S2,SH01,2026-09-01 11:00:00,,A,1,30.00,  收银员 07  \n"  # trimmed, as every cell
        f"S3,SH01,2026-09-02 09:00:00,{card},B,1,12.50,\n"  # nobody named
        f"S4,SH01,2026-09-02 10:00:00,{card},B,1,12.50,{long}\n"  # too long: bad_staff
        'S5,SH01,2026-09-02 11:00:00,,B,1,12.50,"li.wei, ""the"" {cashier}"\n',
        encoding="utf-8",
    )
    summary = import_file(ctx, "purchases", sales, ImportOptions(reject_path=tmp_path / "r.csv"))
    assert summary.reasons == {"bad_staff": 1}
    assert summary.imported == 5  # lines
    assert f"staff {long}" in (tmp_path / "r.csv").read_text(encoding="utf-8")
    with ctx.engine.connect() as conn:
        rows = conn.execute(text("SELECT order_id, staff FROM purchases ORDER BY order_id")).all()
    assert [tuple(r) for r in rows] == [
        ("S1", "SH01-C1"),
        ("S2", "收银员 07"),
        ("S3", None),
        ("S5", 'li.wei, "the" {cashier}'),
    ]
    again = import_file(ctx, "purchases", sales, ImportOptions(reject_path=tmp_path / "r2.csv"))
    assert again.imported == 0
    # A till replaying an imported order (which kept no request hash) is compared by content, staff too.
    at = datetime(2026, 9, 1, 10, tzinfo=timezone(timedelta(hours=8)))
    lines = [
        PurchaseLineIn(sku="A", quantity=2, unit_price_minor=3_000),
        PurchaseLineIn(sku="B", quantity=1, unit_price_minor=500),
    ]
    sh01 = next(s.id for s in merchants.list_stores(ctx) if s.code == "SH01")
    s1 = PurchaseIn(store_id=sh01, order_id="S1", occurred_at=at, card_no=card, lines=lines, staff="SH01-C1")
    assert purchases.post_purchase(ctx, s1).replayed
    assert purchases.post_purchase(ctx, s1.model_copy(update={"staff": None})).replayed  # naming nobody
    with pytest.raises(IdempotencyMismatch):
        purchases.post_purchase(ctx, s1.model_copy(update={"staff": "SH01-C2"}))
    plain = tmp_path / "plain.csv"  # no cashier column: nobody named
    plain.write_text(
        f"订单号,门店,交易时间,会员卡号,商品编码,数量,单价\nP1,SH01,2026-09-03 10:00:00,{card},A,1,9.90\n",
        encoding="utf-8",
    )
    assert import_file(ctx, "purchases", plain, ImportOptions(reject_path=tmp_path / "r3.csv")).imported == 1
    with ctx.engine.connect() as conn:
        assert conn.execute(text("SELECT staff FROM purchases WHERE order_id = 'P1'")).scalar_one() is None


def test_who_signed_each_member_up_is_imported(ctx: Context, tmp_path: Path) -> None:
    people = tmp_path / "members.csv"
    people.write_text(
        "会员卡号,手机号,姓名,注册门店,开卡员工\n"
        "8800000000000018,13900001111,甲,SH01,SH01-C2\n"
        "8800000000000026,13900002222,乙,SH01,\n"
        "8800000000000034,13900003333,丙,SH01,\t\n",  # a tab: not printable, refused
        encoding="utf-8",
    )
    summary = import_file(ctx, "members", people, ImportOptions(reject_path=tmp_path / "r.csv"))
    assert (summary.imported, summary.reasons) == (2, {"bad_staff": 1})
    with ctx.engine.connect() as conn:
        rows = conn.execute(text("SELECT name, registered_by FROM members ORDER BY card_no")).all()
    assert [tuple(r) for r in rows] == [("甲", "SH01-C2"), ("乙", None)]


def test_staff_columns_are_found_by_their_usual_headers() -> None:
    for header in ("收银员", "Cashier", "staff code", "工号", "营业员"):
        mapping = resolve_mapping(Kind.purchases, ["订单号", "门店", "交易时间", "消费金额", header])
        assert mapping.source("staff") == header, header
    for header in ("开卡员工", "registered by", "员工编号"):
        mapping = resolve_mapping(Kind.members, ["手机号", header])
        assert mapping.source("registered_by") == header, header
