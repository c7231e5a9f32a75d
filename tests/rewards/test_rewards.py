"""Rewards on both backends: an order's life, prices per tier, limits per member, periods and stock,
refusals that write nothing, cancellation giving points (with their dates) and stock back, coupon
rewards issuing and voiding their coupon, and points as cash at checkout still held to their cap."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from loyalty.bootstrap import Context, FrozenClock
from loyalty.db.reward_tables import reward_orders
from loyalty.domain.errors import Conflict, InvalidInput, NotFound
from loyalty.domain.programme.rewards import RewardTerms
from loyalty.services import points
from loyalty.services.offers.book import define_offer
from loyalty.services.offers.coupons import find_usable, use_coupon, wallet
from loyalty.services.rewards import catalog, orders, redeem, settle
from tests.core.conftest import clock, ctx
from tests.rewards.helpers import available, chain, gift, member

__all__ = ["clock", "ctx"]


def _orders(ctx: Context) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(reward_orders)).scalar_one())


def test_a_reward_orders_life(ctx: Context) -> None:
    store = chain(ctx)
    mid = member(ctx, 1_000)
    catalog.define_reward(ctx, gift(stock=2))
    order = redeem.redeem(ctx, mid, "mug", store_id=store)
    assert (order.status, order.points, order.balance_after, order.kind) == ("reserved", 300, 700, "gift")
    assert catalog.get_reward(ctx, "mug").stock == 1
    assert available(ctx, mid) == 700
    entry = points.statement(ctx, mid)[-1]
    assert (entry.kind, entry.amount, entry.rule, entry.reason) == ("redeem", -300, "reward:mug", "保温杯")
    assert settle.fulfil(ctx, order.id, "shipped").status == "shipped"
    assert settle.fulfil(ctx, order.id, "collected").status == "collected"
    for refused in (lambda: settle.fulfil(ctx, order.id, "shipped"), lambda: settle.cancel(ctx, order.id)):
        with pytest.raises(Conflict) as final:
            refused()
        assert final.value.code == "REWARD_ORDER_FINAL"
    with pytest.raises(InvalidInput):
        settle.fulfil(ctx, order.id, "cancelled")  # cancelling gives points back: its own use case
    assert [o.id for o in orders.member_orders(ctx, mid)] == [order.id]
    assert points.verify_ledger(ctx)["ok"]


def test_tier_prices(ctx: Context) -> None:
    store = chain(ctx)
    mid = member(ctx, 1_000)
    catalog.define_reward(ctx, gift(tier_prices={"normal": 120, "gold": 90}))
    item = next(i for i in orders.member_catalogue(ctx, mid) if i.reward.code == "mug")
    assert (item.price, item.ordered, item.left_for_member) == (120, 0, None)
    assert redeem.redeem(ctx, mid, "mug", store_id=store).points == 120
    catalog.change_reward(ctx, "mug", {"tier_prices": {"gold": 90}})
    assert redeem.redeem(ctx, mid, "mug", store_id=store).points == 300  # no price of its own: the base
    assert available(ctx, mid) == 580
    with pytest.raises(InvalidInput) as unknown:
        catalog.change_reward(ctx, "mug", {"tier_prices": {"platinum-plus": 10}})
    assert unknown.value.details["errors"][0]["field"] == "tier_prices.platinum-plus"


def test_limits_periods_stock_and_points_refuse_and_write_nothing(ctx: Context, clock: FrozenClock) -> None:
    store = chain(ctx)
    mid = member(ctx, 500)
    start = ctx.now() + timedelta(days=2)
    catalog.define_reward(
        ctx, gift(per_member_limit=1, stock=5), valid_from=start, valid_to=start + timedelta(days=7)
    )
    catalog.define_reward(ctx, gift("spa", kind="service", points=2_000))
    catalog.define_reward(ctx, gift("gone", stock=0))

    def refused(code: str, reward: str) -> None:
        before = (_orders(ctx), available(ctx, mid))
        with pytest.raises(Conflict) as why:
            redeem.redeem(ctx, mid, reward, store_id=store)
        assert why.value.code == code
        assert (_orders(ctx), available(ctx, mid)) == before

    refused("REWARD_NOT_AVAILABLE", "mug")  # not yet
    refused("POINTS_INSUFFICIENT", "spa")
    refused("REWARD_OUT_OF_STOCK", "gone")
    with pytest.raises(NotFound):
        redeem.redeem(ctx, mid, "nothing", store_id=store)
    ctx.clock = FrozenClock(start + timedelta(hours=1))
    first = redeem.redeem(ctx, mid, "mug", store_id=store)
    refused("REWARD_LIMIT_REACHED", "mug")
    settle.cancel(ctx, first.id)  # a cancelled order no longer counts against the limit
    redeem.redeem(ctx, mid, "mug", store_id=store)
    ctx.clock = FrozenClock(start + timedelta(days=8))
    refused("REWARD_NOT_AVAILABLE", "mug")  # ended
    assert catalog.list_rewards(ctx, current=True)[0].code == "gone"
    assert [r.code for r in catalog.list_rewards(ctx)] == ["gone", "mug", "spa"]


def test_cancelling_gives_back_points_with_their_dates_and_the_unit(ctx: Context) -> None:
    store = chain(ctx)
    mid = member(ctx, 200)
    ctx.clock = FrozenClock(ctx.now() + timedelta(days=40))
    points.adjust(ctx, mid, 200, reason="later points", operator="test")  # a second lot, a later date
    catalog.define_reward(ctx, gift(points=350, stock=3))
    before = points.balance(ctx, mid)
    order = redeem.redeem(ctx, mid, "mug", store_id=store)
    assert available(ctx, mid) == 50
    cancelled = settle.cancel(ctx, order.id, reason="changed their mind")
    assert (cancelled.status, cancelled.balance_after) == ("cancelled", before.balance)
    after = points.balance(ctx, mid)
    assert (after.available, after.balance, after.expiry_schedule) == (
        before.available,
        before.balance,
        before.expiry_schedule,
    )
    assert catalog.get_reward(ctx, "mug").stock == 3
    last = points.statement(ctx, mid)[-1]
    assert (last.kind, last.amount, last.rule) == ("reward_refund", 350, "reward-cancel:mug")
    with pytest.raises(Conflict) as twice:
        settle.cancel(ctx, order.id)
    assert twice.value.code == "REWARD_ORDER_FINAL"
    assert points.verify_ledger(ctx)["ok"]


def test_a_coupon_reward_issues_its_coupon_and_a_cancellation_voids_it(ctx: Context) -> None:
    store = chain(ctx)
    mid = member(ctx, 1_000)
    define_offer(ctx, {"code": "ten-off", "name": "¥10 off", "kind": "amount_off", "amount": 10})
    catalog.define_reward(
        ctx, RewardTerms(code="c10", name="¥10 券", kind="coupon", points=100, offer_code="ten-off")
    )
    order = redeem.redeem(ctx, mid, "c10", store_id=store)
    assert order.status == "fulfilled"
    assert [c.code for c in wallet(ctx, mid)] == [order.coupon_code]
    settle.cancel(ctx, order.id)
    assert wallet(ctx, mid) == []
    assert available(ctx, mid) == 1_000
    used = redeem.redeem(ctx, mid, "c10", store_id=store)
    assert used.coupon_code is not None
    with ctx.engine.begin() as conn:
        use_coupon(conn, find_usable(conn, used.coupon_code, mid, ctx.now()), mid, 1_000, ctx.now())
    with pytest.raises(Conflict) as spent:
        settle.cancel(ctx, used.id)  # its coupon was used: nothing to give back
    assert spent.value.code == "REWARD_ORDER_FINAL"
    assert points.verify_ledger(ctx)["ok"]


def test_definitions_that_cannot_work_are_refused(ctx: Context) -> None:
    chain(ctx)
    cases = [
        (gift(code="Bad Code"), "code"),
        (gift(points=0), "points"),
        (gift(stock=-1), "stock"),
        (gift(per_member_limit=0), "per_member_limit"),
        (gift(kind="voucher"), "kind"),
        (gift(kind="coupon"), "offer_code"),
        (gift(offer_code="ten-off"), "offer_code"),
        (gift(name=" "), "name"),
        (RewardTerms(code="c", name="C", kind="coupon", points=1, offer_code="missing"), "offer_code"),
        (gift(tier_prices={"nowhere": 5}), "tier_prices.nowhere"),
    ]
    for terms, field in cases:
        with pytest.raises(InvalidInput) as refused:
            catalog.define_reward(ctx, terms)
        assert refused.value.details["errors"][0]["field"] == field, terms
    now = ctx.now()
    for start, end, field in (
        (now - timedelta(days=3), None, "valid_from"),
        (None, now + timedelta(days=365), "valid_to"),
        (now + timedelta(days=5), now + timedelta(days=4), "valid_to"),
    ):
        with pytest.raises(InvalidInput) as refused:
            catalog.define_reward(ctx, gift(), valid_from=start, valid_to=end)
        assert refused.value.details["errors"][0]["field"] == field
    catalog.define_reward(ctx, gift())
    with pytest.raises(InvalidInput) as taken:
        catalog.define_reward(ctx, gift())
    assert taken.value.code == "REWARD_EXISTS"
    with pytest.raises(NotFound):
        catalog.change_reward(ctx, "nothing", {"name": "x"})
    with pytest.raises(InvalidInput):
        catalog.change_reward(ctx, "mug", {"kind": "service"})
    changed = catalog.change_reward(ctx, "mug", {"stock": 7, "name": "大保温杯"})
    assert (changed.stock, changed.name) == (7, "大保温杯")
    assert catalog.change_reward(ctx, "mug", {"stock": None}).stock is None  # unlimited


def test_suspended_members_cannot_order(ctx: Context) -> None:
    from tests.anomalies.helpers import suspended_member

    store = chain(ctx)
    mid = suspended_member(ctx, store)
    points.adjust(ctx, mid, 1_000, reason="rewards test", operator="test")
    catalog.define_reward(ctx, gift())
    with pytest.raises(Conflict) as refused:
        redeem.redeem(ctx, mid, "mug", store_id=store)
    assert refused.value.code == "REDEMPTION_SUSPENDED"
    assert _orders(ctx) == 0


def test_an_order_is_made_once_per_key_and_points_as_cash_keep_their_cap(ctx: Context) -> None:
    store = chain(ctx)
    mid = member(ctx, 1_000)
    catalog.define_reward(ctx, gift())
    first = redeem.redeem(ctx, mid, "mug", store_id=store, idempotency_key="k1")
    again = redeem.redeem(ctx, mid, "mug", store_id=store, idempotency_key="k1")
    assert (again.id, again.replayed, first.replayed) == (first.id, True, False)
    assert (_orders(ctx), available(ctx, mid)) == (1, 700)
    with pytest.raises(Conflict) as capped:  # 700 points are ¥7: more than half of a ¥10 order
        points.redeem(ctx, mid, 700, store_id=store, order_total_minor=1_000)
    assert capped.value.code == "REDEEM_CAP_EXCEEDED"
    assert points.redeem(ctx, mid, 100, store_id=store, order_total_minor=10_000).points == 100
