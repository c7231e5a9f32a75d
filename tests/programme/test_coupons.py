"""Coupons on both backends: issued to wallets and as shared codes, typed back however printed, one
answer for every code that cannot be used, activation delay and expiry, limits per member, per code
and per offer, given back when the sale is fully returned; and on PostgreSQL, 50 checkouts racing
for a code limited to 10 uses give exactly 10 uses."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from loyalty.bootstrap import Context, FrozenClock
from loyalty.db.offer_tables import offers
from loyalty.domain.errors import Conflict, InvalidInput
from loyalty.services import members, merchants, purchases, seed
from loyalty.services.offers.book import OfferLimits, define_offer
from loyalty.services.offers.coupons import (
    ALPHABET,
    find_usable,
    issue_coupons,
    release_coupons,
    typed,
    use_coupon,
    wallet,
)
from loyalty.services.schemas import MemberIn, PurchaseIn, PurchaseLineIn
from tests.conftest import pg_context
from tests.core.conftest import clock, ctx

__all__ = ["clock", "ctx"]
LADDER = {"code": "ladder", "name": "满100减20", "kind": "ladder", "steps": [{"over": 100, "off": 20}]}


def _members(ctx: Context, n: int, tag: str) -> list[int]:
    return [
        members.register_member(ctx, MemberIn(phone=f"+86139{tag}{i:06d}", name=f"M{i}")).id for i in range(n)
    ]


def _use(ctx: Context, code: str, member: int | None, discount: int = 2_000) -> int:
    with ctx.engine.begin() as conn:
        return use_coupon(conn, find_usable(conn, code, member, ctx.now()), member, discount, ctx.now())


def test_a_coupons_life(ctx: Context) -> None:
    seed.ensure_programme(ctx)
    a, b = _members(ctx, 2, "10")
    define_offer(ctx, LADDER, limits=OfferLimits(per_member=2, activation_days=7, validity_days=30))
    issued = issue_coupons(ctx, "ladder", member_ids=[a, b])
    code_a, code_b = issued.codes
    assert len(typed(code_a)) == 16
    assert set(typed(code_a)) <= set(ALPHABET)
    assert code_a.count("-") == 3
    assert [c.code for c in wallet(ctx, a)] == [code_a]
    with ctx.engine.connect() as conn:
        for code, who in ((code_a, a), ("NOPE-NOPE-NOPE-NOPE", a), (code_b, a)):
            with pytest.raises(Conflict) as refused:  # not active yet / unknown / another's: one answer
                find_usable(conn, code, who, ctx.now())
            assert refused.value.code == "COUPON_NOT_USABLE"
    ctx.clock = FrozenClock(ctx.now() + timedelta(days=8))
    assert _use(ctx, code_a.lower().replace("-", " "), a) > 0  # typed back in any case, with spaces
    with pytest.raises(Conflict):
        _use(ctx, code_a, a)  # used
    ctx.clock = FrozenClock(ctx.now() + timedelta(days=40))
    with pytest.raises(Conflict):
        _use(ctx, code_b, b)  # expired
    assert wallet(ctx, b) == []


def test_shared_codes_limits_and_returns(ctx: Context) -> None:
    seed.ensure_programme(ctx)
    store = merchants.list_stores(ctx)[0].id
    people = _members(ctx, 4, "20")
    define_offer(ctx, LADDER | {"code": "shared"}, limits=OfferLimits(per_member=1, max_uses=3))
    code = issue_coupons(ctx, "shared", count=1, max_uses=5).codes[0]
    sale = purchases.post_purchase(
        ctx,
        PurchaseIn(
            store_id=store,
            member_id=people[0],
            order_id="cp-1",
            occurred_at=ctx.now(),
            lines=[PurchaseLineIn(sku="A", quantity=1, unit_price_minor=12_000)],
        ),
    )
    with ctx.engine.begin() as conn:
        use_coupon(
            conn, find_usable(conn, code, people[0], ctx.now()), people[0], 2_000, ctx.now(), sale.purchase_id
        )
    with pytest.raises(Conflict):
        _use(ctx, code, people[0])  # once per member
    _use(ctx, code, people[1])
    _use(ctx, code, people[2])
    with pytest.raises(Conflict):
        _use(ctx, code, people[3])  # the offer's 3 uses are gone
    with ctx.engine.begin() as conn:  # the first sale fully returned: its coupon is given back
        assert release_coupons(conn, sale.purchase_id, ctx.now()) == 1
    _use(ctx, code, people[3])  # the use given back is usable again
    with ctx.engine.connect() as conn:
        assert tuple(conn.execute(select(offers.c.uses, offers.c.discounted_minor)).one()) == (3, 6_000)


def test_definitions_that_cannot_work_are_refused(ctx: Context) -> None:
    seed.ensure_programme(ctx)
    with pytest.raises(InvalidInput) as refused:
        define_offer(ctx, LADDER | {"when": {"stores": ["NOWHERE"]}})
    assert refused.value.details["errors"][0]["field"] == "when.stores"
    with pytest.raises(InvalidInput):
        define_offer(ctx, LADDER, limits=OfferLimits(max_uses=0))
    define_offer(ctx, LADDER)
    with pytest.raises(InvalidInput) as taken:
        define_offer(ctx, LADDER)
    assert taken.value.code == "OFFER_EXISTS"
    with pytest.raises(InvalidInput):
        issue_coupons(ctx, "ladder", count=0)


@pytest.mark.postgres
def test_50_checkouts_racing_for_a_code_limited_to_10() -> None:
    with pg_context() as ctx:
        seed.ensure_programme(ctx)
        people = _members(ctx, 50, "30")
        define_offer(ctx, LADDER | {"code": "race"}, limits=OfferLimits(budget_minor=100_000))
        code = issue_coupons(ctx, "race", count=1, max_uses=10).codes[0]
        start = threading.Barrier(50)
        answers: list[str] = []

        def checkout(member: int) -> None:
            start.wait()
            try:
                _use(ctx, code, member)
                answers.append("used")
            except Conflict as exc:
                answers.append(exc.code)

        threads = [threading.Thread(target=checkout, args=(m,)) for m in people]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(answers) == ["COUPON_NOT_USABLE"] * 40 + ["used"] * 10
        with ctx.engine.connect() as conn:
            assert tuple(conn.execute(select(offers.c.uses, offers.c.discounted_minor)).one()) == (10, 20_000)
