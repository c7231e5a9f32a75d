"""Rewards bought with points (gifts, coupons, services): the catalogue a marketer keeps (`catalog`),
an order made in one transaction — points spent, a unit of stock taken, a coupon issued (`redeem`) —
and its fulfilment or cancellation, which gives the points and the unit back (`settle`, `refund`).
Reads of orders and a member's view of the catalogue are in `orders`."""
