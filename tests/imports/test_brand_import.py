"""Each line's brand, imported (SQLite and PostgreSQL), and the brand rules it meets.

A sales file's brand column (`品牌`, `brand`) is kept on each line; a rule by brand earns on those
lines only, exactly as the till's sale of the same lines would; a brand longer than the column holds
is refused naming its line; no column, or an empty cell, names no brand. A till replaying an imported
order is compared by content, the brands too.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text

from loyalty.bootstrap import Context, FrozenClock
from loyalty.domain.errors import IdempotencyMismatch
from loyalty.imports.loaders import insert_members
from loyalty.imports.runner import ImportOptions, import_file
from loyalty.services import merchants, purchases
from loyalty.services.earning_rules.book import define_rules
from loyalty.services.schemas import PurchaseIn, PurchaseLineIn


def test_the_brand_of_each_line_is_imported_and_earns_by_its_rules(ctx: Context, tmp_path: Path) -> None:
    now = ctx.clock
    ctx.clock = FrozenClock(datetime(2026, 8, 1, tzinfo=UTC))
    define_rules(
        ctx, [{"code": "acme-x2", "kind": "multiplier", "multiplier_pct": 200, "when": {"brands": ["ACME"]}}]
    )
    ctx.clock = now
    with ctx.engine.begin() as conn:
        ((card, _member_id),) = insert_members(conn, [{"member_code": "BR-1"}], ctx.now(), None).items()
    sales = tmp_path / "sales.csv"
    long = "B" * 101
    sales.write_text(
        "订单号,门店,交易时间,会员卡号,商品编码,数量,单价,品牌\n"
        f"S1,SH01,2026-09-01 10:00:00,{card},A,2,30.00,ACME\n"
        f"S1,SH01,2026-09-01 10:00:00,{card},B,1,5.00,  星巴克 \n"  # trimmed, as every cell
        f"S2,SH01,2026-09-02 09:00:00,{card},B,1,12.50,\n"  # no brand
        f"S3,SH01,2026-09-02 10:00:00,{card},B,1,12.50,{long}\n",  # too long: bad_brand
        encoding="utf-8",
    )
    summary = import_file(ctx, "purchases", sales, ImportOptions(reject_path=tmp_path / "r.csv"))
    assert summary.reasons == {"bad_brand": 1}
    assert summary.imported == 3  # lines
    assert f"brand {long}" in (tmp_path / "r.csv").read_text(encoding="utf-8")
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT p.order_id, l.sku, l.brand, l.points, "
                "(SELECT sum(e.points) FROM purchase_line_rules e "
                " WHERE e.purchase_id = l.purchase_id AND e.line_no = l.line_no) "
                "FROM purchase_lines l JOIN purchases p ON p.id = l.purchase_id ORDER BY 1, 2"
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        ("S1", "A", "ACME", 120, 60),  # ¥60: 60 base points, doubled by the brand rule
        ("S1", "B", "星巴克", 5, None),
        ("S2", "B", None, 12, None),
    ]
    # A till replaying an imported order (which kept no request hash) is compared by content, brands too.
    at = datetime(2026, 9, 1, 10, tzinfo=timezone(timedelta(hours=8)))
    lines = [
        PurchaseLineIn(sku="A", quantity=2, unit_price_minor=3_000, brand="ACME"),
        PurchaseLineIn(sku="B", quantity=1, unit_price_minor=500, brand="星巴克"),
    ]
    sh01 = next(s.id for s in merchants.list_stores(ctx) if s.code == "SH01")
    s1 = PurchaseIn(store_id=sh01, order_id="S1", occurred_at=at, card_no=card, lines=lines)
    assert purchases.post_purchase(ctx, s1).replayed
    with pytest.raises(IdempotencyMismatch):
        purchases.post_purchase(
            ctx, s1.model_copy(update={"lines": [lines[0], lines[1].model_copy(update={"brand": None})]})
        )
