"""Sales and returns for the core tests, made at the clock's time."""

from __future__ import annotations

from loyalty.bootstrap import Context
from loyalty.services.schemas import PurchaseIn, PurchaseLineIn, ReturnIn, ReturnLineIn


def food_sale(ctx: Context, store_id: int, member_id: int, order: str, amount: int) -> PurchaseIn:
    """One line of food for `amount` minor units, posted now by `store_id`'s till as `order`."""
    return PurchaseIn(
        store_id=store_id,
        order_id=order,
        occurred_at=ctx.now(),
        member_id=member_id,
        lines=[PurchaseLineIn(sku="s", category="food", quantity=1, unit_price_minor=amount)],
    )


def sale_return(
    ctx: Context,
    store_id: int,
    order: str,
    return_id: str,
    *,
    lines: list[ReturnLineIn] | None = None,
    refund_minor: int | None = None,
) -> ReturnIn:
    """A return of `order` posted now by `store_id`'s till as `return_id`: the `lines` taken back, or
    else `refund_minor` of money."""
    return ReturnIn(
        store_id=store_id,
        return_id=return_id,
        order_id=order,
        occurred_at=ctx.now(),
        lines=lines,
        refund_minor=refund_minor,
    )
