"""Core migrations that reshape tables holding ledger rows, run over rows the services wrote."""

from __future__ import annotations

from sqlalchemy import text

from loyalty.bootstrap import Context
from loyalty.db.migrate import downgrade, upgrade
from loyalty.services import members, points, purchases, seed
from loyalty.services.schemas import MemberIn, PurchaseIn, PurchaseLineIn, ReturnIn, ReturnLineIn

#: the lines' columns as core_0006 left them (later revisions add more)
_LINE_COLUMNS = (
    "purchase_id", "line_no", "sku", "category", "quantity", "unit_price_minor", "discount_minor",
    "amount_minor", "points", "returned_quantity",
)  # fmt: skip


def _lines(ctx: Context) -> list[tuple[object, ...]]:
    with ctx.engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                text(f"SELECT {', '.join(_LINE_COLUMNS)} FROM purchase_lines ORDER BY purchase_id, line_no")
            )
        ]


def _without_rowid(ctx: Context) -> bool:
    with ctx.engine.connect() as conn:
        sql = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'purchase_lines'")).scalar_one()
    return "WITHOUT ROWID" in sql.upper()


def test_core_0007_keeps_every_line_in_and_out_of_a_rowid_table(
    ctx: Context, programme: seed.ProgrammeIds
) -> None:
    m = members.register_member(ctx, MemberIn(phone="13800138300", name="W"))
    for k in range(3):
        purchases.post_purchase(
            ctx,
            PurchaseIn(
                store_id=programme.store_id,
                order_id=f"w{k}",
                occurred_at=ctx.now(),
                member_id=m.id,
                lines=[
                    PurchaseLineIn(sku=f"s{j}", category="food", quantity=j + 1, unit_price_minor=1000 + j)
                    for j in range(k + 1)
                ],
            ),
        )
    before = _lines(ctx)
    assert len(before) == 6
    sqlite = ctx.engine.dialect.name == "sqlite"
    assert _without_rowid(ctx) if sqlite else True
    downgrade(ctx.engine, "core_0006")
    assert _lines(ctx) == before
    assert not _without_rowid(ctx) if sqlite else True
    upgrade(ctx.engine)
    assert _lines(ctx) == before
    assert _without_rowid(ctx) if sqlite else True
    # The rebuilt table takes part in the live path: a line return updates it.
    purchases.post_return(
        ctx,
        ReturnIn(
            store_id=programme.store_id,
            order_id="w2",
            return_id="r1",
            occurred_at=ctx.now(),
            lines=[ReturnLineIn(line_no=2, quantity=1)],
        ),
    )
    assert [r[-1] for r in _lines(ctx)] == [0, 0, 0, 0, 1, 0]  # returned_quantity of w2 line 2
    assert points.verify_ledger(ctx)["ok"]
