"""A sale in a currency that is not the programme's is refused by the core itself, on each way a sale
is posted (one by one, the anonymous path, and together with others), never posted as if it were the
programme's; a return of both lines and a refund is refused naming both (issue 22, items 4 and 6)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from loyalty.bootstrap import Context
from loyalty.db.core_tables import purchases as purchases_t
from loyalty.domain.errors import InvalidInput
from loyalty.services import members, purchases, seed
from loyalty.services.posting.pos_batch import post_sales
from loyalty.services.schemas import MemberIn, PurchaseIn, PurchaseLineIn, ReturnLineIn
from tests.core.sales import sale_return


def _sale(ctx: Context, store_id: int, member_id: int | None, order: str, currency: str | None) -> PurchaseIn:
    return PurchaseIn(
        store_id=store_id,
        order_id=order,
        occurred_at=ctx.now(),
        member_id=member_id,
        currency=currency,
        lines=[PurchaseLineIn(sku="s", quantity=1, unit_price_minor=10_000)],
    )


def _posted(ctx: Context) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(purchases_t)).scalar_one())


@pytest.mark.parametrize("anonymous", [False, True], ids=["member sale", "anonymous sale"])
def test_a_sale_in_another_currency_is_refused_naming_currency(
    ctx: Context, programme: seed.ProgrammeIds, anonymous: bool
) -> None:
    member = None if anonymous else members.register_member(ctx, MemberIn(phone="13800138101", name="A")).id
    with pytest.raises(InvalidInput) as refused:
        purchases.post_purchase(ctx, _sale(ctx, programme.store_id, member, "usd-1", "USD"))
    assert refused.value.code == "CURRENCY_MISMATCH"
    assert refused.value.localized_errors("en") == [
        {"field": "currency", "message": "the programme's currency is CNY, not USD"}
    ]
    assert _posted(ctx) == 0
    assert purchases.post_purchase(ctx, _sale(ctx, programme.store_id, member, "cny-1", "CNY")).total_minor


def test_sales_posted_together_leave_another_currency_to_the_one_by_one_routine(
    ctx: Context, programme: seed.ProgrammeIds
) -> None:
    member = members.register_member(ctx, MemberIn(phone="13800138102", name="B")).id
    with ctx.engine.begin() as conn:
        assert post_sales(conn, ctx, [_sale(ctx, programme.store_id, member, "usd-2", "USD")]) is None
    assert _posted(ctx) == 0
    with ctx.engine.begin() as conn:
        assert post_sales(conn, ctx, [_sale(ctx, programme.store_id, member, "cny-2", "CNY")]) is not None


def test_a_return_of_both_lines_and_a_refund_is_refused_naming_both(
    ctx: Context, programme: seed.ProgrammeIds
) -> None:
    member = members.register_member(ctx, MemberIn(phone="13800138103", name="C")).id
    purchases.post_purchase(ctx, _sale(ctx, programme.store_id, member, "o-1", None))
    both = sale_return(
        ctx, programme.store_id, "o-1", "r-1", lines=[ReturnLineIn(line_no=1, quantity=1)], refund_minor=100
    )
    with pytest.raises(InvalidInput) as refused:
        purchases.post_return(ctx, both)
    assert [e["field"] for e in refused.value.localized_errors("en") or []] == ["lines", "refund"]
    lines_only = sale_return(
        ctx, programme.store_id, "o-1", "r-1", lines=[ReturnLineIn(line_no=1, quantity=1)]
    )
    assert purchases.post_return(ctx, lines_only).refund_minor == 10_000
