"""Coupons and promotions through the API, on both backends (the PostgreSQL world posts through the
set-based batches, which leave such sales to go alone): the sale's answer lists what each took off,
the quote says the same first, and a used code is one 409 for every reason."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from loyalty.bootstrap import FrozenClock
from loyalty.services.offers.book import define_offer
from loyalty.services.offers.coupons import issue_coupons
from tests.api.api_world import World, purchase_body

_n = itertools.count(1)


def test_a_sale_with_a_coupon_and_promotions_over_http(world: World) -> None:
    tag = next(_n)
    clock = world.ctx.clock
    world.ctx.clock = FrozenClock(datetime.now(UTC) - timedelta(days=400))  # in force for the sales
    try:
        define_offer(
            world.ctx, {"code": f"http-cpn-{tag}", "name": "立减10", "kind": "amount_off", "amount": "10"}
        )
        define_offer(
            world.ctx,
            {
                "code": f"http-promo-{tag}",
                "name": "全场95折",
                "kind": "percent_off",
                "percent": 5,
                "automatic": True,
            },
        )
        code = issue_coupons(world.ctx, f"http-cpn-{tag}", member_ids=[world.member_a["id"]]).codes[0]
    finally:
        world.ctx.clock = clock
    body = purchase_body(world.store_a, world.member_a["id"], f"HTTP-CPN-{tag}", price="100.00")
    body["occurred_at"] = datetime.now(UTC).isoformat()
    body |= {"coupon_codes": [code.lower()], "apply_promotions": True}
    cart = {k: v for k, v in body.items() if k != "order_id"}
    quoted = world.client.post("/api/v1/checkout/quote", json=cart, headers=world.as_("pos"))
    assert quoted.status_code == 200, quoted.text
    posted = world.client.post("/api/v1/purchases", json=body, headers=world.as_("pos"))
    assert posted.status_code == 201, posted.text
    sale = posted.json()
    used = {(c["code"], c["offer_code"]): c["discount"]["amount"] for c in sale["coupons"]}
    assert used[(code, f"http-cpn-{tag}")] == "10.00"
    assert (None, f"http-promo-{tag}") in used
    assert sale["total"] == quoted.json()["total"]
    assert sale["points_earned"] == quoted.json()["points"]
    again = dict(body, order_id=f"HTTP-CPN-{tag}-2")
    refused = world.client.post("/api/v1/purchases", json=again, headers=world.as_("pos"))
    assert (refused.status_code, refused.json()["code"]) == (409, "COUPON_NOT_USABLE")
