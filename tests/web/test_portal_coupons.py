"""The member portal's coupons page, on both backends: the member's own coupons with what each
gives in words, a next-order coupon marked as waiting with its first day, used and other members'
coupons absent; in English and Chinese."""

from __future__ import annotations

import itertools

from loyalty.services.offers.book import OfferLimits, define_offer
from loyalty.services.offers.coupons import issue_coupons
from tests.api.api_world import World
from tests.web.test_portal import Portal, _member

_serial = itertools.count(1)


def test_a_member_sees_their_coupons_in_words(world: World) -> None:
    tag = next(_serial)
    mine, theirs = _member(world, "Coupon"), _member(world, "Other")
    ladder, later = f"portal-ladder-{tag}", f"portal-next-{tag}"
    steps = [{"over": 100, "off": 20}, {"over": 300, "off": 80}]
    define_offer(world.ctx, {"code": ladder, "name": "满减券", "kind": "ladder", "steps": steps})
    define_offer(
        world.ctx,
        {
            "code": later,
            "name": "下次九折",
            "kind": "percent_off",
            "percent": 10,
            "when": {"categories": ["coffee"]},
        },
        limits=OfferLimits(activation_days=7, validity_days=30),
    )
    now_code = issue_coupons(world.ctx, ladder, member_ids=[mine.id]).codes[0]
    next_code = issue_coupons(world.ctx, later, member_ids=[mine.id]).codes[0]
    other_code = issue_coupons(world.ctx, ladder, member_ids=[theirs.id]).codes[0]
    portal = Portal(world)
    try:
        portal.sign_in(mine.phone)
        page = portal.get("/m/coupons")
        assert page.status_code == 200
        text = page.text
        assert now_code in text
        assert next_code in text
        assert other_code not in text
        assert "Spend CN¥100.00, CN¥20.00 off; Spend CN¥300.00, CN¥80.00 off" in text
        assert "10% off · on coffee" in text
        assert "Usable from" in text
        assert "Valid until" in text
        assert 'href="/m/coupons" aria-current="page"' in text
        portal.post("/m/language", {"lang": "zh-CN", "next": "/m/coupons"})
        chinese = portal.get("/m/coupons").text
        assert "我的优惠券" in chinese
        assert "满 ¥100.00 减 ¥20.00" in chinese
    finally:
        portal.close()
    signed_out = Portal(world).get("/m/coupons")
    assert signed_out.status_code in (302, 303)
