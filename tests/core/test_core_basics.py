"""Members, purchases, redemption, returns and adjustments on both backends."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from loyalty.bootstrap import Context, FrozenClock
from loyalty.db.core_tables import purchases as purchases_t
from loyalty.domain.cards import luhn_valid
from loyalty.domain.errors import Conflict, IdempotencyMismatch, InvalidInput, NotFound
from loyalty.services import members, points, purchases, seed, tiers
from loyalty.services.request_hashes import request_hash
from loyalty.services.schemas import (
    MemberIn,
    MemberUpdate,
    PurchaseIn,
    PurchaseLineIn,
    ReturnLineIn,
)
from tests.core.sales import sale_return


def _buy(
    ctx: Context, store_id: int, member_id: int, order: str, *amounts: int, cat: str = "food"
) -> PurchaseIn:
    return PurchaseIn(
        store_id=store_id,
        order_id=order,
        occurred_at=ctx.now(),
        member_id=member_id,
        lines=[
            PurchaseLineIn(sku=f"sku{i}", category=cat, quantity=1, unit_price_minor=a)
            for i, a in enumerate(amounts)
        ],
    )


def test_register_normalises_phone_and_issues_card(ctx: Context, programme: seed.ProgrammeIds) -> None:
    m = members.register_member(ctx, MemberIn(phone="138 0013 8000", name="张三", tags=["vip"]))
    assert m.phone == "+8613800138000"
    assert luhn_valid(m.card_no)
    assert len(m.card_no) == 16
    assert m.tier_code == "normal"
    assert members.find_member(ctx, phone="+86 138-0013-8000").id == m.id
    assert members.find_member(ctx, card_no=m.card_no).id == m.id
    assert members.find_member(ctx, member_code=m.member_code).id == m.id
    with pytest.raises(Conflict) as dup:
        members.register_member(ctx, MemberIn(phone="13800138000", name="李四"))
    assert dup.value.code == "DUPLICATE_PHONE"
    with pytest.raises(InvalidInput) as bad:
        members.register_member(ctx, MemberIn(phone="12345", name="王五"))
    assert bad.value.code == "PHONE_INVALID"
    assert members.count_members(ctx) == 1
    up = members.update_member(ctx, m.id, MemberUpdate(email="a@example.com"))
    assert up.email == "a@example.com"
    assert members.deactivate_member(ctx, m.id).status == "inactive"


def test_purchase_earns_with_exclusions_and_is_idempotent(ctx: Context, programme: seed.ProgrammeIds) -> None:
    m = members.register_member(ctx, MemberIn(phone="13800138001", name="A"))
    data = PurchaseIn(
        store_id=programme.store_id,
        order_id="o-1",
        occurred_at=ctx.now(),
        member_id=m.id,
        lines=[
            PurchaseLineIn(sku="rice", category="food", quantity=3, unit_price_minor=1999, discount_minor=97),
            PurchaseLineIn(sku="cig", category="tobacco", quantity=1, unit_price_minor=5000),
        ],
    )
    r = purchases.post_purchase(ctx, data)
    assert r.points_earned == (3 * 1999 - 97) // 100
    assert "tobacco" in r.rule
    again = purchases.post_purchase(ctx, data)
    assert again.replayed
    assert again.purchase_id == r.purchase_id
    with pytest.raises(IdempotencyMismatch):
        purchases.post_purchase(ctx, data.model_copy(update={"total_minor": 1}))
    bal = points.balance(ctx, m.id)
    assert bal.pending == r.points_earned
    assert bal.available == 0
    assert points.verify_ledger(ctx)["ok"]


def test_sale_stored_with_the_older_request_hash_still_replays(
    ctx: Context, programme: seed.ProgrammeIds
) -> None:
    """Sales posted before the hash became pydantic's JSON keep the sorted-key form: a till's retry of
    one is still a replay, and other content under its order id is still refused."""
    m = members.register_member(ctx, MemberIn(phone="13800138021", name="H"))
    sale = _buy(ctx, programme.store_id, m.id, "old-hash", 12_000, 3_000)
    first = purchases.post_purchase(ctx, sale)
    with ctx.engine.begin() as conn:
        conn.execute(
            update(purchases_t)
            .where(purchases_t.c.id == first.purchase_id)
            .values(request_hash=request_hash(sale.model_dump(mode="json")))
        )
    again = purchases.post_purchase(ctx, sale)
    assert again.replayed
    assert again.purchase_id == first.purchase_id
    with pytest.raises(IdempotencyMismatch):
        purchases.post_purchase(ctx, sale.model_copy(update={"total_minor": 1}))


def test_replay_after_the_member_left(ctx: Context, programme: seed.ProgrammeIds) -> None:
    """A till retrying an order whose member was merged or deactivated since gets the first answer;
    a new order for that member still gets the member error."""
    sid = programme.store_id
    a = members.register_member(ctx, MemberIn(phone="13800138011", name="A"))
    b = members.register_member(ctx, MemberIn(phone="13800138012", name="B"))
    c = members.register_member(ctx, MemberIn(phone="13800138013", name="C"))
    sale_a, sale_c = _buy(ctx, sid, a.id, "left-1", 9_900), _buy(ctx, sid, c.id, "left-2", 5_000)
    first_a, first_c = purchases.post_purchase(ctx, sale_a), purchases.post_purchase(ctx, sale_c)
    members.merge_members(ctx, duplicate_id=a.id, survivor_id=b.id)
    members.deactivate_member(ctx, c.id)
    for sale, first in ((sale_a, first_a), (sale_c, first_c)):
        again = purchases.post_purchase(ctx, sale)
        assert again.replayed
        assert again.purchase_id == first.purchase_id
    for member, code in ((a.id, "MEMBER_INACTIVE"), (c.id, "MEMBER_INACTIVE")):
        with pytest.raises(Conflict) as err:
            purchases.post_purchase(ctx, _buy(ctx, sid, member, f"new-{member}", 1_000))
        assert err.value.code == code


def test_redeem_return_debt_and_expiry(
    ctx: Context, programme: seed.ProgrammeIds, clock: FrozenClock
) -> None:
    sid = programme.store_id
    m = members.register_member(ctx, MemberIn(phone="13800138002", name="B"))
    purchases.post_purchase(ctx, _buy(ctx, sid, m.id, "o1", 50_000, 30_000))  # 800 points
    clock.advance(days=8)
    with pytest.raises(Conflict) as short:
        points.redeem(ctx, m.id, 801, store_id=sid)
    assert short.value.code == "POINTS_INSUFFICIENT"
    r = points.redeem(ctx, m.id, 600, store_id=sid, idempotency_key="k")
    assert r.value_minor == 600
    assert r.balance_after == 200
    assert points.redeem(ctx, m.id, 600, store_id=sid, idempotency_key="k").replayed
    ret = purchases.post_return(
        ctx, sale_return(ctx, sid, "o1", "r1", lines=[ReturnLineIn(line_no=1, quantity=1)])
    )
    assert ret.points_reversed == 500
    assert ret.debt_created == 300
    bal = points.balance(ctx, m.id)
    assert (bal.balance, bal.debt, bal.available) == (-300, 300, 0)
    # Later earnings pay the debt first.
    purchases.post_purchase(ctx, _buy(ctx, sid, m.id, "o2", 40_000))
    bal = points.balance(ctx, m.id)
    assert (bal.balance, bal.debt) == (100, 0)
    with pytest.raises(InvalidInput) as too_much:
        purchases.post_return(
            ctx, sale_return(ctx, sid, "o1", "r2", lines=[ReturnLineIn(line_no=1, quantity=1)])
        )
    assert too_much.value.code == "RETURN_EXCEEDS_SALE"
    with pytest.raises(NotFound) as unknown:
        purchases.post_return(ctx, sale_return(ctx, sid, "nope", "r3", refund_minor=1))
    assert unknown.value.code == "ORDER_NOT_FOUND"
    res = points.expire_points(ctx, ctx.now() + timedelta(days=400))
    assert res.points_expired == 100
    assert points.expire_points(ctx, ctx.now() + timedelta(days=400)).lots_expired == 0
    assert points.balance(ctx, m.id).balance == 0
    assert points.verify_ledger(ctx)["ok"]


def test_tiers_upgrade_at_once_and_downgrade_at_evaluation(
    ctx: Context, programme: seed.ProgrammeIds, clock: FrozenClock
) -> None:
    m = members.register_member(ctx, MemberIn(phone="13800138003", name="C"))
    r = purchases.post_purchase(ctx, _buy(ctx, programme.store_id, m.id, "big", 1_200_000))
    assert r.upgraded_to == "gold"
    assert tiers.evaluate_tiers(ctx, ctx.now()).downgraded == 0
    clock.advance(days=400)
    ev = tiers.evaluate_tiers(ctx, ctx.now())
    assert ev.downgraded == 1
    assert tiers.member_tier(ctx, m.id).tier.code == "silver"  # one step by default
    hist = [h.reason for h in tiers.tier_history(ctx, m.id)]
    assert hist == ["register", "upgrade", "evaluation_downgrade"]


def test_a_tier_won_by_a_sale_returned_in_full_goes_at_the_next_evaluation(
    ctx: Context, programme: seed.ProgrammeIds, clock: FrozenClock
) -> None:
    """The return keeps the tier (posting never downgrades); the tier job, reading the window's net
    spend (refunds taken off), moves the member down by the programme's downgrade policy."""
    sid = programme.store_id
    m = members.register_member(ctx, MemberIn(phone="13800138013", name="D"))
    assert purchases.post_purchase(ctx, _buy(ctx, sid, m.id, "big", 1_200_000)).upgraded_to == "gold"
    clock.advance(days=1)
    purchases.post_return(ctx, sale_return(ctx, sid, "big", "back", refund_minor=1_200_000))
    assert tiers.member_tier(ctx, m.id).tier.code == "gold"
    clock.advance(days=1)
    assert tiers.evaluate_tiers(ctx, ctx.now()).downgraded == 1
    assert tiers.member_tier(ctx, m.id).tier.code == "silver"  # one step by default
    reasons = [h.reason for h in tiers.tier_history(ctx, m.id)]
    assert reasons == ["register", "upgrade", "evaluation_downgrade"]


def test_merge_moves_points_and_history(
    ctx: Context, programme: seed.ProgrammeIds, clock: FrozenClock
) -> None:
    a = members.register_member(ctx, MemberIn(phone="13800138004", name="A"))
    b = members.register_member(ctx, MemberIn(phone="13800138005", name="B"))
    purchases.post_purchase(ctx, _buy(ctx, programme.store_id, a.id, "a1", 10_000))
    purchases.post_purchase(ctx, _buy(ctx, programme.store_id, b.id, "b1", 250_000))
    out = members.merge_members(ctx, duplicate_id=b.id, survivor_id=a.id)
    assert out.tier_code == "silver"
    assert points.balance(ctx, a.id).balance == 2600
    assert points.balance(ctx, b.id).balance == 0
    assert members.get_member(ctx, b.id).status == "merged"
    assert points.verify_ledger(ctx)["ok"]
