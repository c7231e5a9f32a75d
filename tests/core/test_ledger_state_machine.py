"""Random sequences of purchases, returns, spends, expiries, merges, adjustments and tier evaluations.

After every step, on both backends: all postings sum to zero; every member balance equals its unspent
lots minus its debt and its postings; no lot is below zero; nothing was earned twice; each member's
tier is at least what its window supports, and exactly that right after an evaluation (policy
'window'). A simple model tracks what each order earned so replays must change nothing.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import Engine, func, select

from loyalty.bootstrap import Context, FrozenClock
from loyalty.config import Settings
from loyalty.db.core_tables import purchases as purchases_t
from loyalty.db.core_tables import tiers as tiers_t
from loyalty.domain.errors import DomainError
from loyalty.domain.tiers import TierDef, tier_for_spend
from loyalty.services import members, points, purchases, seed, tiers
from loyalty.services.schemas import MemberIn, PurchaseIn, PurchaseLineIn, ReturnIn, ReturnLineIn

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
_PHONES = itertools.count(13000000000 + 500_000)
_ORDERS = itertools.count()


def _code(call: Callable[[], Any]) -> str | None:
    """Run `call`; the domain error code it raised, or None on success."""
    try:
        call()
    except DomainError as exc:
        return exc.code
    return None


def _make_machine(engine: Engine) -> type[RuleBasedStateMachine]:
    clock = FrozenClock(T0)
    ctx = Context(engine=engine, settings=Settings(), clock=clock)
    ids = seed.ensure_programme(
        ctx, downgrade_policy="window", return_window_days=3, expiry_days=60, tier_window_days=90
    )
    with engine.connect() as conn:
        tier_defs = [TierDef(r.id, r.code, r.rank, r.threshold_minor) for r in conn.execute(select(tiers_t))]
    ranks = {t.id: t.rank for t in tier_defs}

    class Ledger(RuleBasedStateMachine):
        members_b = Bundle("members")
        orders_b = Bundle("orders")

        def __init__(self) -> None:
            super().__init__()
            self.mine: set[int] = set()
            self.sent: dict[str, PurchaseIn] = {}
            self.just_evaluated = False

        @rule(target=members_b)
        def register(self) -> int:
            m = members.register_member(ctx, MemberIn(phone=f"+86{next(_PHONES)}", name="测试"))
            self.mine.add(m.id)
            return m.id

        @rule(
            target=orders_b,
            member=members_b,
            amounts=st.lists(st.integers(0, 400_000), min_size=1, max_size=3),
            tobacco=st.booleans(),
        )
        def purchase(self, member: int, amounts: list[int], tobacco: bool) -> str:
            oid = f"o{next(_ORDERS)}"
            data = PurchaseIn(
                store_id=ids.store_id,
                order_id=oid,
                occurred_at=ctx.now(),
                member_id=member,
                lines=[
                    PurchaseLineIn(
                        sku=f"s{i}",
                        category="tobacco" if tobacco and i == 0 else "food",
                        quantity=1 + i,
                        unit_price_minor=a,
                    )
                    for i, a in enumerate(amounts)
                ],
            )
            code = _code(lambda: purchases.post_purchase(ctx, data))
            if code is not None:  # merged members cannot earn
                assert code == "MEMBER_INACTIVE"
                return oid
            self.sent[oid] = data
            self.just_evaluated = False
            return oid

        @rule(order=orders_b)
        def replay(self, order: str) -> None:
            if order not in self.sent:
                return
            before = points.verify_ledger(ctx)
            r = purchases.post_purchase(ctx, self.sent[order])
            assert r.replayed
            assert points.verify_ledger(ctx) == before

        @rule(order=consumes(orders_b), full=st.booleans(), share=st.integers(1, 100))
        def return_(self, order: str, full: bool, share: int) -> None:
            data = self.sent.get(order)
            if data is None:
                return
            rid = f"r-{order}"
            if full:
                ret = ReturnIn(
                    store_id=ids.store_id,
                    return_id=rid,
                    order_id=order,
                    occurred_at=ctx.now(),
                    lines=[
                        ReturnLineIn(line_no=i + 1, quantity=ln.quantity) for i, ln in enumerate(data.lines)
                    ],
                )
            else:
                total = sum(ln.quantity * ln.unit_price_minor for ln in data.lines)
                if total * share // 100 <= 0:
                    return
                ret = ReturnIn(
                    store_id=ids.store_id,
                    return_id=rid,
                    order_id=order,
                    occurred_at=ctx.now(),
                    refund_minor=total * share // 100,
                )
            r = purchases.post_return(ctx, ret)
            assert r.points_reversed >= 0
            self.just_evaluated = False  # a return lowers the window; the tier waits for the next evaluation
            with engine.connect() as conn:
                p = conn.execute(select(purchases_t).where(purchases_t.c.order_id == order)).one()
            if full:
                assert p.points_reversed == p.points_earned
            again = _code(lambda: purchases.post_return(ctx, ret.model_copy(update={"return_id": rid + "x"})))
            assert again in ({None, "RETURN_EXCEEDS_SALE"} if not full else {"RETURN_EXCEEDS_SALE"})

        @rule(member=members_b, pts=st.integers(1, 5000))
        def spend(self, member: int, pts: int) -> None:
            before = points.balance(ctx, member)
            code = _code(lambda: points.redeem(ctx, member, pts, store_id=ids.store_id))
            after = points.balance(ctx, member)
            if code is None:
                assert before.available >= pts
                assert after.balance == before.balance - pts
            else:
                assert code in {"POINTS_INSUFFICIENT", "MEMBER_INACTIVE"}
                assert code != "POINTS_INSUFFICIENT" or before.available < pts
                assert after == before

        @rule(member=members_b, pts=st.integers(-3000, 3000).filter(bool))
        def adjust(self, member: int, pts: int) -> None:
            code = _code(lambda: points.adjust(ctx, member, pts, reason="test", operator="prop"))
            assert code in {None, "POINTS_INSUFFICIENT", "MEMBER_MERGED"}

        @rule(days=st.integers(1, 40))
        def advance(self, days: int) -> None:
            clock.advance(days=days)
            self.just_evaluated = False

        @rule()
        def expire(self) -> None:
            points.expire_points(ctx, ctx.now())
            with engine.connect() as conn:
                from loyalty.db.core_tables import point_lots

                left = conn.execute(
                    select(func.count())
                    .select_from(point_lots)
                    .where(point_lots.c.expires_at <= ctx.now(), point_lots.c.remaining > 0)
                ).scalar_one()
            assert left == 0

        @rule(a=members_b, b=members_b)
        def merge(self, a: int, b: int) -> None:
            if (
                a == b
                or members.get_member(ctx, a).status == "merged"
                or members.get_member(ctx, b).status == "merged"
            ):
                return
            total = points.balance(ctx, a).balance + points.balance(ctx, b).balance
            members.merge_members(ctx, duplicate_id=b, survivor_id=a)
            assert points.balance(ctx, a).balance == total
            assert points.balance(ctx, b).balance == 0

        @rule()
        def evaluate(self) -> None:
            tiers.evaluate_tiers(ctx, ctx.now())
            self.just_evaluated = True

        @invariant()
        def ledger_holds(self) -> None:
            report = points.verify_ledger(ctx)
            assert report["ok"], report["problems"]

        @invariant()
        def tier_matches_window(self) -> None:
            for mid in self.mine:
                m = members.get_member(ctx, mid)
                if m.status != "active":
                    continue
                supported = tier_for_spend(tier_defs, tiers.member_tier(ctx, mid).qualifying_minor)
                if self.just_evaluated:
                    assert ranks[m.tier_id] == supported.rank
                else:
                    # Upgrades are immediate; returns and time lower the window but never demote
                    # between evaluations.
                    assert ranks[m.tier_id] >= supported.rank

    return Ledger


def test_ledger_state_machine(engine: Engine) -> None:
    machine = _make_machine(engine)
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=10,
            stateful_step_count=20,
            deadline=None,
            phases=[Phase.explicit, Phase.reuse, Phase.generate],
            suppress_health_check=list(HealthCheck),
        ),
    )
