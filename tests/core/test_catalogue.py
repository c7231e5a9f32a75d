"""The catalogue (`services.catalogue`): stores, programme and tiers read once per process, and read
again after a service changes them, by the live path and the set-based one alike; the set-based path
reads what the programme's rules may ask of a member (birthday, tags, registration)."""

from __future__ import annotations

from datetime import date

import numpy as np

from loyalty.bootstrap import Context
from loyalty.services import purchases
from loyalty.services.catalogue import catalogue_of
from loyalty.services.members import register_member
from loyalty.services.posting.member_state import read_members
from loyalty.services.posting.pos_batch import post_sales
from loyalty.services.programme_settings import ProgrammeChanges, TierChanges, update_programme, update_tier
from loyalty.services.schemas import MemberIn
from loyalty.services.seed import ProgrammeIds
from tests.core.sales import food_sale


def _member(ctx: Context, phone: str, **extra: object) -> int:
    return register_member(ctx, MemberIn(phone=phone, name="Cat", **extra)).id  # type: ignore[arg-type]


def test_a_programme_change_reaches_the_next_sale_of_this_process(
    ctx: Context, programme: ProgrammeIds
) -> None:
    member = _member(ctx, "+8613900000101")
    store = programme.store_id
    first = purchases.post_purchase(ctx, food_sale(ctx, store, member, "C-1", 10_000))
    assert catalogue_of(ctx).known(store) is not None  # kept for the next sale
    rate = update_programme(ctx, ProgrammeChanges(points_per_unit=3)).points_per_unit
    assert catalogue_of(ctx).known(store) is None  # the change cleared it
    second = purchases.post_purchase(ctx, food_sale(ctx, store, member, "C-2", 10_000))
    assert second.points_earned == first.points_earned * rate  # earned by the new rule at once
    with ctx.engine.begin() as conn:
        (batched,) = post_sales(conn, ctx, [food_sale(ctx, store, member, "C-3", 10_000)]) or []
    assert batched.points_earned == second.points_earned  # the set-based path reads it too


def test_a_tier_change_reaches_the_next_sale(ctx: Context, programme: ProgrammeIds) -> None:
    member = _member(ctx, "+8613900000102")
    store = programme.store_id
    before = purchases.post_purchase(ctx, food_sale(ctx, store, member, "T-1", 1_000))
    with ctx.engine.connect() as conn:
        lowest = catalogue_of(ctx).tiers(conn).ranked[0]
    update_tier(ctx, lowest.id, TierChanges(multiplier_pct=lowest.multiplier_pct * 2))
    after = purchases.post_purchase(ctx, food_sale(ctx, store, member, "T-2", 1_000))
    assert after.points_earned == 2 * before.points_earned
    assert f"x{lowest.multiplier_pct * 2}%" in after.rule


def test_the_set_based_path_reads_what_rules_may_ask_of_a_member(
    ctx: Context, programme: ProgrammeIds
) -> None:
    member = _member(ctx, "+8613900000103", birthday=date(1990, 2, 28), tags=["vip", "staff"])
    with ctx.engine.begin() as conn:
        state = read_members(conn, np.array([member], dtype=np.int64))[member]
    assert state.status == "active"
    assert state.birthday == date(1990, 2, 28)
    assert set(state.tags) == {"vip", "staff"}
    assert abs(state.registered_us - int(ctx.now().timestamp() * 1_000_000)) < 1_000_000
