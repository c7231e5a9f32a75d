"""The cashier's sale form takes coupon codes, on both backends: the quote shows what each takes off
and which stay unused, posting uses them (the flash says how much they took off), and a used code is
refused beside the field with the one answer for every unusable code, nothing posted."""

from __future__ import annotations

import itertools
import re

from sqlalchemy import func, select

from loyalty.db.core_tables import purchases
from loyalty.services import members as members_service
from loyalty.services.offers.book import define_offer
from loyalty.services.offers.coupons import issue_coupons
from loyalty.services.schemas import MemberIn
from tests.api.api_world import World
from tests.web.console_client import Console, as_

_serial = itertools.count(1)


def _form(world: World, order: str, codes: str) -> dict[str, str]:
    return {
        "store_id": str(world.store_a),
        "order_id": order,
        "sku_0": "BEANS",
        "category_0": "coffee",
        "qty_0": "2",
        "price_0": "60.00",
        "coupons": codes,
    }


def _purchases(world: World) -> int:
    with world.ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(purchases)).scalar_one())


def test_a_cashier_quotes_and_posts_a_sale_with_coupons(world: World) -> None:
    tag = next(_serial)
    member = members_service.register_member(
        world.ctx, MemberIn(phone=f"+86136{tag:08d}", name="Coupon", registration_store_id=world.store_a)
    ).id
    ladder, far = f"console-ladder-{tag}", f"console-far-{tag}"
    define_offer(
        world.ctx,
        {"code": ladder, "name": "满100减20", "kind": "ladder", "steps": [{"over": 100, "off": 20}]},
    )
    define_offer(
        world.ctx, {"code": far, "name": "满999减99", "kind": "ladder", "steps": [{"over": 999, "off": 99}]}
    )
    mine = issue_coupons(world.ctx, ladder, member_ids=[member]).codes[0]
    unused = issue_coupons(world.ctx, far, count=1).codes[0]
    cashier = as_(world.app, "cashier1")
    path = f"/console/members/{member}"

    quoted = cashier.post(f"{path}/sales/quote", _form(world, "unused", f"{mine.lower()}, {unused}"))
    assert quoted.status_code == 200, quoted.text
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", quoted.text))
    assert f"Coupon {mine} (满100减20): CN¥20.00 off" in text
    assert f"Coupon {unused} gives this cart nothing and stays unused." in text
    assert "Points this sale would earn: 100" in text  # ¥100 after the coupon: 1 point a yuan

    order = f"CPN-{tag}"
    posted = cashier.post(f"{path}/sales", _form(world, order, f"{mine}, {unused}"))
    assert posted.status_code == 303, posted.text
    page = cashier.get(path).text
    assert (
        f"Sale {order} posted: CN¥100.00 after CN¥20.00 off by coupons and promotions, 100 points earned."
        in page
    )

    before = _purchases(world)
    again = cashier.post(f"{path}/sales", _form(world, f"{order}-2", mine))
    assert again.status_code == 422
    assert "this coupon cannot be used" in again.text
    assert 'id="sale-coupons-error"' in again.text
    assert _purchases(world) == before
    bad = cashier.post(f"{path}/sales", _form(world, f"{order}-3", "NOT/A/CODE"))
    assert bad.status_code == 422
    assert "A coupon code has letters, digits, spaces and dashes only." in bad.text
    chinese = cashier.post(
        f"{path}/sales", _form(world, f"{order}-4", mine), headers={"Accept-Language": "zh-CN"}
    )
    assert "此优惠券无法使用" in chinese.text


def test_the_members_card_lists_their_coupons(world: World) -> None:
    tag = next(_serial)
    member = members_service.register_member(
        world.ctx, MemberIn(phone=f"+86136{tag + 500:08d}", name="Card", registration_store_id=world.store_a)
    ).id
    offer = f"card-ladder-{tag}"
    define_offer(
        world.ctx, {"code": offer, "name": "满100减20", "kind": "ladder", "steps": [{"over": 100, "off": 20}]}
    )
    code = issue_coupons(world.ctx, offer, member_ids=[member]).codes[0]
    page = as_(world.app, "cashier1").get(f"/console/members/{member}").text
    assert 'id="member-coupons"' in page
    assert code in page
    assert "Spend CN¥100.00, CN¥20.00 off" in page


def test_the_quote_offers_what_sells_with_the_cart(world: World) -> None:
    """The sale form's quote lists what the stored basket rules offer beside the cart, in words."""
    from datetime import date

    from loyalty.services.basket_rules import MinedSet, RuleRow, write_sets

    rule = RuleRow(("BEANS",), ("FILTERS",), 40, 0.04, 0.8, 3.2, 0.0275, 4.8)
    day = world.ctx.now().date()
    mined = MinedSet(
        store_id=None, level="sku", period_start=date(day.year, 1, 1), period_end=day, min_support=0.01,
        min_count=10, min_confidence=0.5, min_length=2, max_length=4, baskets=1000, lines=2500, items=30,
        frequent_items=12, itemsets=20, rules_found=1, computed_at=world.ctx.now(), rules=[rule],
    )  # fmt: skip
    write_sets(world.ctx, [mined])
    member = members_service.register_member(
        world.ctx,
        MemberIn(phone=f"+86137{next(_serial):08d}", name="Cross", registration_store_id=world.store_a),
    ).id
    cashier = as_(world.app, "cashier1")
    quoted = cashier.post(f"/console/members/{member}/sales/quote", _form(world, "cross", ""))
    assert quoted.status_code == 200, quoted.text
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", quoted.text))
    assert (
        "Often bought with this cart: FILTERS · 80.0% of baskets with BEANS have it too (3.2× likelier)"
        in text
    )
    zh = Console(world.app, **{"Accept-Language": "zh-CN"})
    assert zh.login("cashier1").status_code == 303
    shown = zh.post(f"/console/members/{member}/sales/quote", _form(world, "cross", "")).text
    assert "常与本单商品一起购买" in shown
    assert "含 BEANS 的订单中有" in shown
