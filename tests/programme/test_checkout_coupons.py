"""Coupons at checkout, on both backends: a sale takes its codes' discounts on its lines, earns on
what is left and uses each coupon in its own transaction; a replay answers the same; a code that
cannot be used refuses the sale and writes nothing; a full return gives the coupon back and a
partial one keeps it used. On PostgreSQL, 50 sales racing for a code limited to 10 → exactly 10."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from loyalty.bootstrap import Context
from loyalty.db.core_tables import purchase_lines, purchases
from loyalty.db.offer_tables import coupon_uses, coupons, offers
from loyalty.domain.errors import Conflict, InvalidInput
from loyalty.services import members, merchants, seed
from loyalty.services import purchases as purchase_service
from loyalty.services.offers.book import OfferLimits, define_offer
from loyalty.services.offers.coupons import issue_coupons
from loyalty.services.schemas import MemberIn, PurchaseIn, PurchaseLineIn, ReturnIn, ReturnLineIn
from tests.conftest import pg_context
from tests.core.conftest import clock, ctx

__all__ = ["clock", "ctx"]
LADDER = {"code": "ladder", "name": "满100减20", "kind": "ladder", "steps": [{"over": 100, "off": 20}]}
COFFEE = {
    "code": "coffee10",
    "name": "咖啡九折",
    "kind": "percent_off",
    "percent": 10,
    "group": "coffee",
    "when": {"categories": ["coffee"]},
}


def _sale(store: int, member: int | None, order: str, at: object, codes: list[str]) -> PurchaseIn:
    return PurchaseIn(
        store_id=store,
        member_id=member,
        order_id=order,
        occurred_at=at,
        coupon_codes=codes,
        lines=[
            PurchaseLineIn(sku="BEANS", category="coffee", quantity=2, unit_price_minor=5_000),
            PurchaseLineIn(sku="MUG", category="homeware", quantity=1, unit_price_minor=3_000),
        ],
    )


def _count(ctx: Context, table: object) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_a_sale_takes_its_coupons_and_a_full_return_gives_them_back(ctx: Context) -> None:
    seed.ensure_programme(ctx)
    store = merchants.list_stores(ctx)[0].id
    member = members.register_member(ctx, MemberIn(phone="+8613900000001", name="Coupon")).id
    define_offer(ctx, LADDER)
    define_offer(ctx, COFFEE)
    ladder = issue_coupons(ctx, "ladder", member_ids=[member]).codes[0]
    coffee = issue_coupons(ctx, "coffee10", count=1, max_uses=100).codes[0]
    now = ctx.now()

    sale = _sale(store, member, "C-1", now, [ladder.lower(), coffee.replace("-", " ")])
    posted = purchase_service.post_purchase(ctx, sale)
    # ¥130: coffee 10 % off ¥100 = ¥10 (coffee line only); the ladder's ¥20 shared ¥100 : ¥30
    assert {c.offer_code: c.discount_minor for c in posted.coupons} == {"coffee10": 1_000, "ladder": 2_000}
    assert posted.total_minor == 13_000 - 3_000
    with ctx.engine.connect() as conn:
        lines = conn.execute(
            select(purchase_lines.c.amount_minor, purchase_lines.c.discount_minor, purchase_lines.c.points)
            .where(purchase_lines.c.purchase_id == posted.purchase_id)
            .order_by(purchase_lines.c.line_no)
        ).all()
        uses = conn.execute(select(coupon_uses.c.purchase_id, coupon_uses.c.discount_minor)).all()
    # the coffee line: 10,000 − 1,000 − 1,538 (its share of 2,000 by 9,000 : 3,000 → 1,500) …
    assert sum(r.discount_minor for r in lines) == 3_000
    assert [r.amount_minor + r.discount_minor for r in lines] == [10_000, 3_000]
    assert posted.points_earned == sum(r.points for r in lines)
    assert posted.points_earned == sum(r.amount_minor // 100 for r in lines)  # earned on what was paid
    assert sorted(u.discount_minor for u in uses) == [1_000, 2_000]
    assert {u.purchase_id for u in uses} == {posted.purchase_id}

    replay = purchase_service.post_purchase(ctx, sale)
    assert replay.replayed
    assert replay.coupons == posted.coupons

    # the wallet coupon is used: the next sale bringing it is refused and writes nothing
    before = _count(ctx, purchases)
    with pytest.raises(Conflict) as refused:
        purchase_service.post_purchase(ctx, _sale(store, member, "C-2", now, [ladder]))
    assert refused.value.code == "COUPON_NOT_USABLE"
    assert _count(ctx, purchases) == before
    with pytest.raises(Conflict):
        purchase_service.post_purchase(ctx, _sale(store, member, "C-2", now, ["NOPE-NOPE-NOPE-NOPE"]))
    with pytest.raises(InvalidInput) as twice:
        purchase_service.post_purchase(ctx, _sale(store, member, "C-2", now, [coffee, coffee.lower()]))
    assert twice.value.details["errors"][0]["field"] == "coupon_codes.1"

    # a partial return keeps the coupons used; returning the rest gives them back
    later = now + timedelta(minutes=5)
    purchase_service.post_return(
        ctx, ReturnIn(store_id=store, order_id="C-1", return_id="R-1", occurred_at=later,
                      lines=[ReturnLineIn(line_no=2, quantity=1)]),
    )  # fmt: skip
    with ctx.engine.connect() as conn:
        assert conn.execute(select(coupons.c.uses).order_by(coupons.c.id)).scalars().all() == [1, 1]
    purchase_service.post_return(
        ctx, ReturnIn(store_id=store, order_id="C-1", return_id="R-2", occurred_at=later,
                      lines=[ReturnLineIn(line_no=1, quantity=2)]),
    )  # fmt: skip
    with ctx.engine.connect() as conn:
        assert conn.execute(select(coupons.c.uses).order_by(coupons.c.id)).scalars().all() == [0, 0]
        assert tuple(
            conn.execute(select(func.sum(offers.c.uses), func.sum(offers.c.discounted_minor))).one()
        ) == (
            0,
            0,
        )
    again = purchase_service.post_purchase(ctx, _sale(store, member, "C-3", later, [ladder]))
    assert [c.offer_code for c in again.coupons] == ["ladder"]


def test_a_code_the_cart_does_not_qualify_for_stays_unused(ctx: Context) -> None:
    seed.ensure_programme(ctx)
    store = merchants.list_stores(ctx)[0].id
    define_offer(ctx, LADDER | {"steps": [{"over": 500, "off": 50}]})
    code = issue_coupons(ctx, "ladder", count=1).codes[0]
    posted = purchase_service.post_purchase(ctx, _sale(store, None, "A-1", ctx.now(), [code]))
    assert (posted.coupons, posted.total_minor) == ([], 13_000)  # ¥130 is short of ¥500: nothing used
    with ctx.engine.connect() as conn:
        assert conn.execute(select(coupons.c.uses)).scalar_one() == 0


@pytest.mark.postgres
def test_50_sales_racing_for_a_code_limited_to_10() -> None:
    with pg_context() as ctx:
        seed.ensure_programme(ctx)
        store = merchants.list_stores(ctx)[0].id
        people = [
            members.register_member(ctx, MemberIn(phone=f"+86139400{i:05d}", name=f"R{i}")).id
            for i in range(50)
        ]
        define_offer(ctx, LADDER | {"code": "race"}, limits=OfferLimits(budget_minor=1_000_000))
        code = issue_coupons(ctx, "race", count=1, max_uses=10).codes[0]
        start = threading.Barrier(50)
        answers: list[str] = []

        def checkout(i: int) -> None:
            start.wait()
            try:
                purchase_service.post_purchase(ctx, _sale(store, people[i], f"RACE-{i}", ctx.now(), [code]))
                answers.append("posted")
            except Conflict as exc:
                answers.append(exc.code)

        threads = [threading.Thread(target=checkout, args=(i,)) for i in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(answers) == ["COUPON_NOT_USABLE"] * 40 + ["posted"] * 10
        assert _count(ctx, purchases) == 10
        with ctx.engine.connect() as conn:
            assert conn.execute(select(coupons.c.uses)).scalar_one() == 10
            assert conn.execute(select(func.count()).select_from(coupon_uses)).scalar_one() == 10


def test_the_quote_is_what_posting_does(ctx: Context) -> None:
    from loyalty.services.earning_rules.book import define_rules
    from loyalty.services.earning_rules.quote import QuoteIn, quote

    seed.ensure_programme(ctx)
    store = merchants.list_stores(ctx)[0].id
    member = members.register_member(ctx, MemberIn(phone="+8613900000002", name="Quote")).id
    define_rules(
        ctx,
        [
            {
                "code": "coffee-x2",
                "kind": "multiplier",
                "multiplier_pct": 200,
                "when": {"categories": ["coffee"]},
            }
        ],
    )
    define_offer(ctx, LADDER)
    define_offer(ctx, COFFEE)
    codes = [issue_coupons(ctx, "ladder", member_ids=[member]).codes[0]]
    codes.append(issue_coupons(ctx, "coffee10", count=1).codes[0])
    now = ctx.now()
    sale = _sale(store, member, "Q-1", now, codes)
    quoted = quote(
        ctx,
        QuoteIn(store_id=store, member_id=member, occurred_at=now, lines=sale.lines, coupon_codes=codes),
    )
    with ctx.engine.connect() as conn:
        assert conn.execute(select(func.sum(coupons.c.uses))).scalar_one() == 0  # a quote uses nothing
    posted = purchase_service.post_purchase(ctx, sale)
    assert quoted.points == posted.points_earned
    assert quoted.total_minor == posted.total_minor
    assert [(c.offer_code, c.discount_minor) for c in quoted.coupons.applied] == [
        (c.offer_code, c.discount_minor) for c in posted.coupons
    ]
    with ctx.engine.connect() as conn:
        stored = conn.execute(
            select(purchase_lines.c.amount_minor, purchase_lines.c.points)
            .where(purchase_lines.c.purchase_id == posted.purchase_id)
            .order_by(purchase_lines.c.line_no)
        ).all()
    assert [(ln.amount_minor, ln.points) for ln in quoted.lines] == [tuple(r) for r in stored]


def test_promotions_apply_when_the_sale_asks_for_them(ctx: Context) -> None:
    """A 满减 promotion for everyone and a gold tier's 95折, without coupons: applied to the sales
    that ask for promotions (not to the others, an import's among them), chosen best-for-member with
    the coupons, recorded without a coupon, released by a full return."""
    seed.ensure_programme(ctx)
    store = merchants.list_stores(ctx)[0].id
    member = members.register_member(ctx, MemberIn(phone="+8613900000003", name="Promo")).id
    tier = members.get_member(ctx, member).tier_code
    define_offer(ctx, LADDER | {"code": "everyone-100-20", "automatic": True, "group": "site"})
    define_offer(
        ctx,
        {"code": "tier-95", "name": "等级95折", "kind": "percent_off", "percent": 5, "automatic": True,
         "when": {"tiers": [tier]}},
    )  # fmt: skip
    now = ctx.now()
    plain = purchase_service.post_purchase(ctx, _sale(store, member, "PR-0", now, []))
    assert (plain.coupons, plain.total_minor) == ([], 13_000)  # not asked: nothing applied
    asked = _sale(store, member, "PR-1", now, []).model_copy(update={"apply_promotions": True})
    from loyalty.services.earning_rules.quote import QuoteIn, quote

    quoted = quote(
        ctx,
        QuoteIn(store_id=store, member_id=member, occurred_at=now, lines=asked.lines, apply_promotions=True),
    )
    posted = purchase_service.post_purchase(ctx, asked)
    assert (quoted.total_minor, quoted.points) == (
        posted.total_minor,
        posted.points_earned,
    )  # quote = posting
    # ¥130: 满100减20 and 5 % of ¥130 (¥6.50) stack (no shared group)
    assert {(c.code, c.offer_code, c.discount_minor) for c in posted.coupons} == {
        (None, "everyone-100-20", 2_000),
        (None, "tier-95", 650),
    }
    assert posted.total_minor == 13_000 - 2_650
    assert purchase_service.post_purchase(ctx, asked).coupons == posted.coupons  # a replay answers the same
    with ctx.engine.connect() as conn:
        assert (
            conn.execute(
                select(func.count()).select_from(coupon_uses).where(coupon_uses.c.coupon_id.is_(None))
            ).scalar_one()
            == 2
        )
    purchase_service.post_return(
        ctx,
        ReturnIn(
            store_id=store,
            order_id="PR-1",
            return_id="PR-R",
            occurred_at=now,
            refund_minor=posted.total_minor,
        ),
    )
    with ctx.engine.connect() as conn:
        released = conn.execute(
            select(func.count()).select_from(coupon_uses).where(coupon_uses.c.released_at.is_not(None))
        ).scalar_one()
    assert released == 2
    with pytest.raises(InvalidInput) as limited:
        define_offer(ctx, LADDER | {"code": "capped", "automatic": True}, limits=OfferLimits(max_uses=5))
    assert limited.value.details["errors"][0]["field"] == "max_uses"
