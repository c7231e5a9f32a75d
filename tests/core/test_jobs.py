"""The set-based jobs on both backends: the expiry run's transfer shape and the tier evaluation's
decisions, checked member by member against the domain rules."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError

from loyalty.bootstrap import Context, FrozenClock
from loyalty.db.core_tables import accounts, members, point_lots, postings, transfers
from loyalty.db.core_tables import tiers as tiers_t
from loyalty.db.migrate import downgrade, upgrade
from loyalty.domain.tiers import TierDef, downgrade_target, tier_for_spend
from loyalty.services import members as member_service
from loyalty.services import merchants, points, purchases, seed, tiers
from loyalty.services.schemas import MemberIn, MerchantIn, StoreIn
from tests.core.sales import food_sale


def test_expiry_run_is_one_transfer_per_merchant_with_one_leg_per_account(
    ctx: Context, programme: seed.ProgrammeIds, clock: FrozenClock
) -> None:
    other = merchants.create_merchant(ctx, MerchantIn(code="M2", name="Two", currency="CNY"))
    store2 = merchants.create_store(ctx, StoreIn(merchant_id=other.id, code="S2", name="Two"))
    ms = [member_service.register_member(ctx, MemberIn(phone=f"1380013810{i}", name="E")) for i in range(3)]
    # Member 0 earns twice at merchant 1 (two lots, one leg) and once at merchant 2; member 1 at
    # merchant 1 only; member 2 earns later, so nothing of theirs is due.
    purchases.post_purchase(ctx, food_sale(ctx, programme.store_id, ms[0].id, "a", 10_000))
    purchases.post_purchase(ctx, food_sale(ctx, programme.store_id, ms[0].id, "b", 20_000))
    purchases.post_purchase(ctx, food_sale(ctx, store2.id, ms[0].id, "c", 40_000))
    purchases.post_purchase(ctx, food_sale(ctx, programme.store_id, ms[1].id, "d", 80_000))
    clock.advance(days=30)
    purchases.post_purchase(ctx, food_sale(ctx, programme.store_id, ms[2].id, "e", 50_000))
    before = {m.id: points.balance(ctx, m.id).balance for m in ms}
    assert before[ms[0].id] == 700
    assert before[ms[1].id] == 800
    max_tid = _max_transfer(ctx)

    res = points.expire_points(ctx, ctx.now() + timedelta(days=350))

    assert (res.lots_expired, res.points_expired) == (4, 1500)
    with ctx.engine.connect() as conn:
        runs = conn.execute(select(transfers).where(transfers.c.id > max_tid).order_by(transfers.c.id)).all()
        assert [(t.kind, t.debit_account_id, t.amount, t.rule) for t in runs] == [
            ("expire", None, 1100, "expiry:run"),
            ("expire", None, 400, "expiry:run"),
        ]
        expired = dict(
            conn.execute(
                select(accounts.c.merchant_id, accounts.c.id).where(accounts.c.kind == "expired")
            ).all()
        )
        assert [t.credit_account_id for t in runs] == [expired[programme.merchant_id], expired[other.id]]
        acc = dict(conn.execute(select(accounts.c.member_id, accounts.c.id)).all())
        legs = {
            t.id: sorted(
                (r.account_id, r.amount)
                for r in conn.execute(select(postings).where(postings.c.transfer_id == t.id))
            )
            for t in runs
        }
        assert legs[runs[0].id] == sorted(
            [(acc[ms[0].id], -300), (acc[ms[1].id], -800), (expired[programme.merchant_id], 1100)]
        )
        assert legs[runs[1].id] == sorted([(acc[ms[0].id], -400), (expired[other.id], 400)])
        # Each leg is explained lot by lot: the lots naming the run add up to its legs.
        alloc = conn.execute(
            select(point_lots.c.account_id, func.sum(point_lots.c.expired_points), func.count())
            .where(point_lots.c.expired_transfer_id == runs[0].id)
            .group_by(point_lots.c.account_id)
            .order_by(point_lots.c.account_id)
        ).all()
        assert [tuple(r) for r in alloc] == sorted([(acc[ms[0].id], 300, 2), (acc[ms[1].id], 800, 1)])
        zero = conn.execute(select(func.sum(postings.c.amount))).scalar_one()
        assert zero == 0
    after = {m.id: points.balance(ctx, m.id, as_of=ctx.now()).balance for m in ms}
    assert after == {ms[0].id: 0, ms[1].id: 0, ms[2].id: 500}
    # The member's statement shows one expiry line per run that touched them.
    lines = [(e.kind, e.amount) for e in points.statement(ctx, ms[0].id)]
    assert lines[-2:] == [("expire", -300), ("expire", -400)]
    assert points.verify_ledger(ctx)["ok"]
    assert points.expire_points(ctx, ctx.now() + timedelta(days=350)).lots_expired == 0
    assert _max_transfer(ctx) == runs[-1].id


def test_a_lot_names_its_expiry_once_and_core_0006_moves_old_allocations_onto_lots(
    ctx: Context, programme: seed.ProgrammeIds
) -> None:
    ms = [member_service.register_member(ctx, MemberIn(phone=f"1380013820{i}", name="L")) for i in range(2)]
    for i, m in enumerate(ms):
        purchases.post_purchase(ctx, food_sale(ctx, programme.store_id, m.id, f"l{i}", 10_000 * (i + 1)))
    points.expire_points(ctx, ctx.now() + timedelta(days=400))

    def expired_lots() -> list[tuple[int, int | None, int | None]]:
        with ctx.engine.connect() as conn:
            q = select(point_lots.c.id, point_lots.c.expired_transfer_id, point_lots.c.expired_points)
            return [tuple(r) for r in conn.execute(q.order_by(point_lots.c.id))]

    after_run = expired_lots()
    assert [p for _, _, p in after_run] == [100, 200]
    assert all(t for _, t, _ in after_run)
    # Both columns or neither, and only a positive amount.
    for values in ({"expired_points": None}, {"expired_points": 0}, {"expired_transfer_id": None}):
        with pytest.raises(IntegrityError), ctx.engine.begin() as conn:
            conn.execute(update(point_lots).where(point_lots.c.id == after_run[0][0]).values(**values))
    # Before core_0006 an expiry was an allocation row; down and up again, nothing is lost either way.
    downgrade(ctx.engine, "core_0005")
    with ctx.engine.connect() as conn:
        allocs = conn.execute(text("SELECT lot_id, transfer_id, amount FROM lot_allocations ORDER BY lot_id"))
        assert [tuple(r) for r in allocs] == after_run
    upgrade(ctx.engine)
    assert expired_lots() == after_run
    with ctx.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM lot_allocations")).scalar_one() == 0
    assert points.verify_ledger(ctx)["ok"]


def test_verify_ledger_finds_an_expiry_its_lots_do_not_explain(
    ctx: Context, programme: seed.ProgrammeIds
) -> None:
    m = member_service.register_member(ctx, MemberIn(phone="13800138210", name="V"))
    purchases.post_purchase(ctx, food_sale(ctx, programme.store_id, m.id, "v", 10_000))
    points.expire_points(ctx, ctx.now() + timedelta(days=400))
    with ctx.engine.begin() as conn:
        conn.execute(update(point_lots).values(expired_points=point_lots.c.expired_points - 1))
    problems = points.verify_ledger(ctx)["problems"]
    assert any("its lots explain 99" in p for p in problems), problems


def _max_transfer(ctx: Context) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(select(func.coalesce(func.max(transfers.c.id), 0))).scalar_one())


def test_expiry_after_spend_takes_only_what_is_left(
    ctx: Context, programme: seed.ProgrammeIds, clock: FrozenClock
) -> None:
    m = member_service.register_member(ctx, MemberIn(phone="13800138120", name="S"))
    purchases.post_purchase(ctx, food_sale(ctx, programme.store_id, m.id, "x", 100_000))
    clock.advance(days=10)
    points.redeem(ctx, m.id, 250, store_id=programme.store_id)
    res = points.expire_points(ctx, ctx.now() + timedelta(days=400))
    assert res.points_expired == 750
    assert points.balance(ctx, m.id).balance == 0
    assert points.verify_ledger(ctx)["ok"]


@pytest.mark.parametrize(
    ("policy", "grace", "range_size"), [("one_step", 0, None), ("window", 0, 7), ("one_step", 20, 3)]
)
def test_tier_evaluation_matches_the_domain_rules(
    engine: object, ctx: Context, clock: FrozenClock, policy: str, grace: int, range_size: int | None
) -> None:
    """Whole or cut into ranges of a few members (side by side on PostgreSQL), the same decisions."""
    ids = seed.ensure_programme(ctx, downgrade_policy=policy, downgrade_grace_days=grace, tier_window_days=90)
    rng = random.Random(f"{policy}{grace}")
    ms = [member_service.register_member(ctx, MemberIn(phone=f"1390013{i:04d}", name="T")) for i in range(40)]
    for i, m in enumerate(ms):
        for k in range(rng.randint(0, 2)):
            amount = rng.choice([50_000, 250_000, 1_200_000, 6_000_000])
            purchases.post_purchase(ctx, food_sale(ctx, ids.store_id, m.id, f"o{i}-{k}", amount))
        clock.advance(days=rng.randint(0, 5))
    clock.advance(days=40)
    with ctx.engine.begin() as conn:
        defs = [TierDef(r.id, r.code, r.rank, r.threshold_minor) for r in conn.execute(select(tiers_t))]
        for m in ms:  # scramble tiers, locks and grace clocks
            conn.execute(
                update(members)
                .where(members.c.id == m.id)
                .values(
                    tier_id=rng.choice(defs).id,
                    tier_locked_until=rng.choice([None, None, ctx.now() + timedelta(days=5)]),
                    tier_grace_until=rng.choice([None, None, ctx.now() - timedelta(days=1), ctx.now()]),
                )
            )
        before = {r.id: r for r in conn.execute(select(members).where(members.c.id.in_([m.id for m in ms])))}
    by_id = {t.id: t for t in defs}
    expected: dict[int, tuple[int, object]] = {}
    ups = downs = started = 0
    for mid, row in before.items():
        cur = by_id[row.tier_id]
        sup = tier_for_spend(defs, tiers.member_tier(ctx, mid).qualifying_minor)
        locked = row.tier_locked_until is not None and row.tier_locked_until > ctx.now()
        tier, grace_until = cur, row.tier_grace_until
        if sup.rank > cur.rank:
            tier, grace_until, ups = sup, None, ups + 1
        elif sup.rank < cur.rank and not locked:
            if grace and grace_until is None:
                grace_until, started = ctx.now() + timedelta(days=grace), started + 1
            elif not grace or grace_until <= ctx.now():
                tier, grace_until, downs = downgrade_target(defs, cur, sup, policy), None, downs + 1
        elif sup.rank >= cur.rank:
            grace_until = None
        expected[mid] = (tier.id, grace_until)

    ev = tiers.evaluate_tiers(ctx, ctx.now(), range_size=range_size, workers=2)

    assert (ev.upgraded, ev.downgraded, ev.grace_started) == (ups, downs, started)
    assert ev.evaluated == len(ms)
    assert ups + downs + started > 0
    with ctx.engine.connect() as conn:
        got = {
            r.id: (r.tier_id, r.tier_grace_until)
            for r in conn.execute(select(members).where(members.c.id.in_(list(before))))
        }
        untouched = [
            mid for mid in before if expected[mid] == (before[mid].tier_id, before[mid].tier_grace_until)
        ]
        # Members whose tier and clock stay are not rewritten.
        stamps = dict(
            conn.execute(select(members.c.id, members.c.updated_at).where(members.c.id.in_(untouched))).all()
        )
    assert got == expected
    assert all(stamps[mid] == before[mid].updated_at for mid in untouched)
    moved = sum(1 for mid in before if expected[mid][0] != before[mid].tier_id)
    hist = [h for m in ms for h in tiers.tier_history(ctx, m.id) if h.reason.startswith("evaluation_")]
    assert len(hist) == moved == ups + downs
