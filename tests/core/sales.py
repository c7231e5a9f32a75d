"""A one-line sale for the job tests: what a member bought, at the clock's time."""

from __future__ import annotations

from loyalty.bootstrap import Context
from loyalty.services.schemas import PurchaseIn, PurchaseLineIn


def food_sale(ctx: Context, store_id: int, member_id: int, order: str, amount: int) -> PurchaseIn:
    """One line of food for `amount` minor units, posted now by `store_id`'s till as `order`."""
    return PurchaseIn(
        store_id=store_id,
        order_id=order,
        occurred_at=ctx.now(),
        member_id=member_id,
        lines=[PurchaseLineIn(sku="s", category="food", quantity=1, unit_price_minor=amount)],
    )
