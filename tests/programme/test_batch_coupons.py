"""Sales with coupons in the POS batches (`posting.batch_coupons`, PostgreSQL's strategy; the batch
itself runs on both backends): a batch takes its sales' codes, prices them as a sale alone would and
records their uses with its rows; a code it cannot take leaves the whole batch to go alone, which
refuses that sale and posts the others; and on PostgreSQL, 50 sales racing in batches for a code
limited to 10 give exactly 10 uses. SQLite's group commit posts a large group by the same routine."""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from loyalty.bootstrap import Context, FrozenClock
from loyalty.db.core_tables import purchase_lines, purchases
from loyalty.db.migrate import upgrade
from loyalty.db.offer_tables import coupon_uses, coupons, offers
from loyalty.domain.actors import SYSTEM
from loyalty.domain.errors import Conflict
from loyalty.services import members, merchants, seed
from loyalty.services.earning_rules.book import define_rules
from loyalty.services.offers.book import OfferLimits, define_offer
from loyalty.services.offers.coupons import issue_coupons
from loyalty.services.posting.alone import post_alone
from loyalty.services.posting.group_commit import SET_BASED_FROM, GroupCommit
from loyalty.services.posting.sale_request import SaleRequest
from loyalty.services.posting.set_based_batches import ALONE, SetBasedBatches
from loyalty.services.schemas import MemberIn, PurchaseIn
from tests.conftest import pg_context
from tests.core.conftest import clock, ctx
from tests.programme.paths_world import assert_same_rows, dump
from tests.programme.test_checkout_coupons import LADDER, _count, _sale

__all__ = ["clock", "ctx"]


def _request(sale: PurchaseIn) -> SaleRequest:
    return SaleRequest(sale, SYSTEM, render=lambda result: result.model_dump(mode="json"))


def _chain(ctx: Context, n_members: int) -> tuple[int, list[int]]:
    seed.ensure_programme(ctx)
    store = merchants.list_stores(ctx)[0].id
    people = [
        members.register_member(ctx, MemberIn(phone=f"+86139500{i:05d}", name=f"B{i}")).id
        for i in range(n_members)
    ]
    return store, people


def test_a_batch_takes_its_sales_coupons(ctx: Context) -> None:
    store, people = _chain(ctx, 3)
    define_offer(ctx, LADDER)
    wallet = issue_coupons(ctx, "ladder", member_ids=people[:2]).codes
    shared = issue_coupons(ctx, "ladder", count=1, max_uses=5).codes[0]
    now = ctx.now()
    sales = [
        _sale(store, people[0], "B-1", now, [wallet[0]]),
        _sale(store, people[1], "B-2", now, []),
        _sale(store, people[2], "B-3", now, [shared.lower()]),  # typed, as a person would
        _sale(store, None, "B-4", now, [shared]),  # an anonymous sale may use a shared code
        _sale(store, people[1], "B-5", now, [wallet[1]]),  # the member's second sale of the batch
    ]
    outcomes = SetBasedBatches(ctx)._transaction([_request(s) for s in sales])
    assert all(ok and value is not ALONE for ok, value in outcomes), outcomes  # the batch took them all
    bodies = [value.body for _, value in outcomes]
    # ¥130 each: 满100减20 takes ¥20 off a sale with a code, nothing off the one without
    assert [b["total_minor"] for b in bodies] == [11_000, 13_000, 11_000, 11_000, 11_000]
    assert [len(b["coupons"]) for b in bodies] == [1, 0, 1, 1, 1]
    assert bodies[2]["coupons"][0]["code"] == shared  # as printed, however it was typed
    with ctx.engine.connect() as conn:
        uses = conn.execute(
            select(coupon_uses.c.purchase_id, coupon_uses.c.member_id, coupon_uses.c.discount_minor).order_by(
                coupon_uses.c.id
            )
        ).all()
        ids = {r.order_id: r.id for r in conn.execute(select(purchases.c.order_id, purchases.c.id)).all()}
        discounts = conn.execute(
            select(func.sum(purchase_lines.c.discount_minor)).where(
                purchase_lines.c.purchase_id == ids["B-3"]
            )
        ).scalar_one()
        counters = conn.execute(select(coupons.c.code, coupons.c.uses)).all()
        offer = conn.execute(select(offers.c.uses, offers.c.discounted_minor)).one()
    assert [(u.purchase_id, u.member_id, u.discount_minor) for u in uses] == [
        (ids["B-1"], people[0], 2_000),
        (ids["B-3"], people[2], 2_000),
        (ids["B-4"], None, 2_000),
        (ids["B-5"], people[1], 2_000),
    ]
    assert discounts == 2_000  # the coupon's share is in the lines' discounts, as a sale alone stores it
    assert sorted(u for _, u in counters) == [1, 1, 2]
    assert (offer.uses, offer.discounted_minor) == (4, 8_000)
    # points are earned line by line on what was paid: ¥84.62 → 84 and ¥25.38 → 25 at the base rate
    assert [b["points_earned"] for b in bodies] == [109, 130, 109, 0, 109]


def test_a_batch_prices_the_promotions_its_sales_ask_for_as_alone(ctx: Context) -> None:
    """Sales asking for promotions are priced in the batch with the promotions in force at each one's
    time (the 满减 below ends between two of them), write a promotion's use without a coupon or any
    counter, and answer as each posted alone does."""
    store, people = _chain(ctx, 2)
    now = ctx.now()
    define_offer(
        ctx,
        LADDER | {"code": "auto", "automatic": True},
        valid_from=now - timedelta(hours=1),
        valid_to=now - timedelta(minutes=7),
    )

    def sales(prefix: str) -> list[PurchaseIn]:
        drawn = [
            (people[0], 10, True),  # in force: ¥130 - ¥20
            (people[1], 5, True),  # ended two minutes before
            (None, 9, True),  # an anonymous sale gets it too
            (people[0], 4, False),  # does not ask
        ]
        return [
            _sale(store, member, f"{prefix}-{i}", now - timedelta(minutes=ago), []).model_copy(
                update={"apply_promotions": asks}
            )
            for i, (member, ago, asks) in enumerate(drawn)
        ]

    batched = SetBasedBatches(ctx)._transaction([_request(s) for s in sales("P")])
    assert all(ok and value is not ALONE for ok, value in batched), batched  # the batch took them all
    bodies = [value.body for _, value in batched]
    assert [b["total_minor"] for b in bodies] == [11_000, 13_000, 11_000, 13_000]
    assert bodies[0]["coupons"] == [
        {"code": None, "offer_code": "auto", "offer_name": "满100减20", "discount_minor": 2_000}
    ]
    with ctx.engine.connect() as conn:
        ids = {r.order_id: r.id for r in conn.execute(select(purchases.c.order_id, purchases.c.id)).all()}
        uses = conn.execute(
            select(
                coupon_uses.c.purchase_id,
                coupon_uses.c.coupon_id,
                coupon_uses.c.member_id,
                coupon_uses.c.discount_minor,
            ).order_by(coupon_uses.c.id)
        ).all()
        counters = conn.execute(select(offers.c.uses, offers.c.discounted_minor)).one()
    assert [tuple(u) for u in uses] == [(ids["P-0"], None, people[0], 2_000), (ids["P-2"], None, None, 2_000)]
    assert tuple(counters) == (0, 0)  # a promotion has no limits to count against
    alone = [post_alone(ctx, _request(s)).body for s in sales("A")]

    def as_compared(body: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in body.items() if k not in ("purchase_id", "order_id")}

    assert [as_compared(b) for b in bodies] == [as_compared(b) for b in alone]


def test_a_code_the_batch_cannot_take_leaves_it_whole(ctx: Context) -> None:
    store, people = _chain(ctx, 2)
    define_offer(ctx, LADDER)
    good = issue_coupons(ctx, "ladder", member_ids=[people[0]]).codes[0]
    theirs = issue_coupons(ctx, "ladder", member_ids=[people[0]]).codes[0]  # another member's wallet
    now = ctx.now()
    sales = [_sale(store, people[0], "L-1", now, [good]), _sale(store, people[1], "L-2", now, [theirs])]
    requests = [_request(s) for s in sales]
    outcomes = SetBasedBatches(ctx)._transaction(requests)
    assert [value for _, value in outcomes] == [ALONE, ALONE]
    assert _count(ctx, purchases) == 0  # nothing written
    assert _count(ctx, coupon_uses) == 0
    # alone, each is answered as it should be: the first posted, the second refused
    assert post_alone(ctx, requests[0]).status == 201
    with pytest.raises(Conflict) as refused:
        post_alone(ctx, requests[1])
    assert refused.value.code == "COUPON_NOT_USABLE"
    assert _count(ctx, purchases) == 1
    assert _count(ctx, coupon_uses) == 1


@pytest.mark.postgres
def test_50_sales_racing_in_batches_for_a_code_limited_to_10() -> None:
    with pg_context() as ctx:
        store, people = _chain(ctx, 50)
        define_offer(ctx, LADDER | {"code": "race"}, limits=OfferLimits(budget_minor=1_000_000))
        code = issue_coupons(ctx, "race", count=1, max_uses=10).codes[0]
        batches = SetBasedBatches(ctx)

        async def checkout(i: int) -> str:
            try:
                answer = await batches.post(_request(_sale(store, people[i], f"RACE-{i}", ctx.now(), [code])))
            except Conflict as exc:
                return exc.code
            return "posted" if answer.status == 201 else str(answer.status)

        async def race() -> list[str]:
            return list(await asyncio.gather(*(checkout(i) for i in range(50))))

        answers = asyncio.run(race())
        assert sorted(answers) == ["COUPON_NOT_USABLE"] * 40 + ["posted"] * 10
        assert _count(ctx, purchases) == 10
        with ctx.engine.connect() as conn:
            assert conn.execute(select(coupons.c.uses)).scalar_one() == 10
            assert conn.execute(select(func.count()).select_from(coupon_uses)).scalar_one() == 10
            assert conn.execute(select(offers.c.uses)).scalar_one() == 10


def test_sqlite_group_commit_posts_a_large_group_set_based_as_sale_by_sale(tmp_path: Path) -> None:
    """SQLite's group commit posts a group of `SET_BASED_FROM` sales or more set-based where the
    programme has rules: the rows are those of posting the same sales one by one, coupons
    and rules included, and so are the answers; a smaller group is posted sale by sale."""
    first = tmp_path / "grouped.db"
    ctx = Context.from_url(f"sqlite:///{first}")
    upgrade(ctx.engine)
    ctx.clock = FrozenClock(datetime(2026, 11, 8, 9, 0, tzinfo=UTC))  # the programme, then the sales
    store, people = _chain(ctx, 6)
    define_rules(
        ctx,
        [
            {
                "code": "coffee",
                "kind": "multiplier",
                "multiplier_pct": 150,
                "when": {"categories": ["coffee"]},
            },
            {
                "code": "day",
                "kind": "fixed_bonus",
                "points": 30,
                "when": {"member_day": {"days_of_month": [8]}},
            },
        ],
    )
    define_offer(ctx, LADDER)
    wallet = issue_coupons(ctx, "ladder", member_ids=people).codes
    shared = issue_coupons(ctx, "ladder", count=1, max_uses=3).codes[0]
    ctx.engine.dispose()
    second = tmp_path / "alone.db"
    shutil.copy(first, second)
    alone = Context.from_url(f"sqlite:///{second}")
    ctx.clock = alone.clock = FrozenClock(datetime(2026, 11, 8, 12, 0, tzinfo=UTC))  # the rule's member day
    now = ctx.now() - timedelta(minutes=5)
    sales = [
        _sale(store, None if i % 7 == 3 else people[i % 6], f"G-{i}", now + timedelta(seconds=i), codes)
        for i, codes in enumerate(
            [
                [wallet[i]] if i < 6 and i % 2 == 0 else [shared] if i in (9, 13) else []
                for i in range(SET_BASED_FROM + 6)
            ]
        )
    ]
    committer = GroupCommit(ctx)
    grouped = committer._transaction([committer.job(_request(s)) for s in sales])
    assert committer.set_based == 1
    one_by_one = [post_alone(alone, _request(s)) for s in sales]
    assert [value.body for _, value in grouped] == [a.body for a in one_by_one]
    assert_same_rows(dump(ctx), dump(alone), "a group posted set-based against one by one")
    smaller = SET_BASED_FROM - 1
    small = committer._transaction([committer.job(_request(s)) for s in _renamed(sales[:smaller], "S")])
    assert all(ok for ok, _ in small)
    assert committer.set_based == 1  # a small group went sale by sale
    fewest = [committer.job(_request(s)) for s in _renamed(sales[:SET_BASED_FROM], "F")]
    assert all(ok for ok, _ in committer._transaction(fewest))
    assert committer.set_based == 2  # the fewest worth it went set-based
    ctx.engine.dispose()
    alone.engine.dispose()


def test_sqlite_group_commit_posts_as_few_sales_set_based_with_the_base_rule_alone(tmp_path: Path) -> None:
    """With no earning rules a group of `SET_BASED_FROM` sales is posted set-based too, and one of
    fewer sale by sale."""
    ctx = Context.from_url(f"sqlite:///{tmp_path / 'base.db'}")
    upgrade(ctx.engine)
    ctx.clock = FrozenClock(datetime(2026, 11, 9, 9, 0, tzinfo=UTC))
    store, people = _chain(ctx, 4)
    now = ctx.now() - timedelta(minutes=5)
    committer = GroupCommit(ctx)

    def group(n: int, prefix: str) -> list[Any]:
        return [
            committer.job(
                _request(_sale(store, people[i % 4], f"{prefix}-{i}", now + timedelta(seconds=i), []))
            )
            for i in range(n)
        ]

    small = committer._transaction(group(SET_BASED_FROM - 1, "S"))
    assert all(ok for ok, _ in small)
    assert committer.set_based == 0
    large = committer._transaction(group(SET_BASED_FROM, "L"))
    assert all(ok for ok, _ in large)
    assert committer.set_based == 1
    assert _count(ctx, purchases) == 2 * SET_BASED_FROM - 1
    ctx.engine.dispose()


def _renamed(sales: list[PurchaseIn], prefix: str) -> list[PurchaseIn]:
    return [s.model_copy(update={"order_id": f"{prefix}{s.order_id}", "coupon_codes": []}) for s in sales]
