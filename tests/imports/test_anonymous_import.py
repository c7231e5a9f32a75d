"""Importing anonymous sales and channels into a real database (SQLite and PostgreSQL).

A sales file whose member column is empty on some rows keeps those rows as anonymous sales (no member,
no points, no ledger movement) instead of rejecting them; a key naming no member is still rejected.
The channel column, in Chinese or English, is stored on each sale. Returns against an anonymous sale
refund it without touching points, a re-run adds nothing, and the ledger still verifies.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.csv as pacsv
from sqlalchemy import text

from loyalty.bootstrap import Context
from loyalty.exports.service import export
from loyalty.imports.loaders import insert_members
from loyalty.imports.runner import ImportOptions, import_file
from loyalty.services import points
from tests.imports.test_bulk_equivalence import anonymous_sale_transfers


def test_anonymous_sales_and_channels_are_imported(ctx: Context, tmp_path: Path) -> None:
    with ctx.engine.begin() as conn:
        ((card, member_id),) = insert_members(conn, [{"member_code": "IMP-1"}], ctx.now(), None).items()
    sales = tmp_path / "sales.csv"
    sales.write_text(
        "订单号,门店,交易时间,会员卡号,商品编码,品类,数量,单价,渠道\n"
        f"S1,SH01,2026-09-01 10:00:00,{card},A,咖啡,2,30.00,门店\n"
        "S2,SH01,2026-09-01 11:00:00,,A,咖啡,1,30.00,外卖\n"
        "S2,SH01,2026-09-01 11:00:00,,B,烘焙,2,12.50,外卖\n"
        f"S3,SH01,2026-09-02 09:00:00,{card},B,烘焙,1,12.50,小程序\n"
        "S4,SH01,2026-09-02 12:00:00,,A,咖啡,1,30.00,\n"
        "S5,SH01,2026-09-02 12:30:00,8800000000000000,A,咖啡,1,30.00,门店\n"  # names nobody
        f"S6,SH01,2026-09-03 08:00:00,{card},A,咖啡,1,30.00,电话\n",  # no such channel
        encoding="utf-8",
    )
    summary = import_file(ctx, "purchases", sales, ImportOptions(reject_path=tmp_path / "r.csv"))
    assert summary.reasons == {"bad_channel": 1, "unknown_member": 1}
    assert summary.imported == 5
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT order_id, member_id, channel, total_minor, points_earned, rule FROM purchases "
                "ORDER BY order_id"
            )
        ).all()
        assert [tuple(r) for r in rows] == [
            ("S1", member_id, "store", 6000, rows[0].points_earned, rows[0].rule),
            ("S2", None, "delivery", 5500, 0, "anonymous"),
            ("S3", member_id, "mini_program", 1250, rows[2].points_earned, rows[2].rule),
            ("S4", None, "store", 3000, 0, "anonymous"),
        ]
        assert rows[0].points_earned > 0
        assert anonymous_sale_transfers(conn) == 0
        lines = conn.execute(
            text(
                "SELECT count(*), sum(l.points) FROM purchase_lines l "
                "JOIN purchases p ON p.id = l.purchase_id WHERE p.member_id IS NULL"
            )
        ).one()
        assert tuple(lines) == (3, 0)

    refunds = tmp_path / "returns.csv"
    refunds.write_text(
        "退货单号,原订单号,门店,交易时间,退款金额\nR1,S2,SH01,2026-09-05 10:00:00,12.50\n", encoding="utf-8"
    )
    returned = import_file(ctx, "returns", refunds, ImportOptions(reject_path=tmp_path / "rr.csv"))
    assert (returned.imported, returned.rejected) == (1, 0)
    with ctx.engine.connect() as conn:
        got = conn.execute(
            text(
                "SELECT r.refund_minor, r.points_reversed, p.refunded_minor FROM returns r "
                "JOIN purchases p ON p.id = r.purchase_id"
            )
        ).one()
        assert tuple(got) == (1250, 0, 1250)

    again = import_file(ctx, "purchases", sales, ImportOptions(reject_path=tmp_path / "r2.csv"))
    assert again.imported == 0
    assert again.duplicates == summary.imported  # the good lines of the first run
    with ctx.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM purchases")).scalar_one() == 4
    report = points.verify_ledger(ctx)
    assert report["ok"], report

    exported = export(ctx, "purchases", tmp_path / "p.csv", role="admin")
    table = pacsv.read_csv(exported.path, convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
    assert exported.rows == 4
    got = dict(zip(table.column("order_id").to_pylist(), table.column("channel").to_pylist(), strict=True))
    assert got == {"S1": "store", "S2": "delivery", "S3": "mini_program", "S4": "store"}
    cards = dict(zip(table.column("order_id").to_pylist(), table.column("card_no").to_pylist(), strict=True))
    assert cards["S2"] is None
    assert cards["S4"] is None
