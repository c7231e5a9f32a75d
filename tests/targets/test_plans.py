"""Plans on the chain of conftest.py, on both backends: each breakdown worked out by hand from its story.

Net sales in the basis periods (yuan): March 2025 — A 300, B 100, C 600 (700 less the 100 refunded), D
nothing (it opened in 2026). The 12 months to February 2026 add A's six Mondays (3,000), B's five
Sundays (1,500) and its 80 of 28 February, C's six Saturdays (1,200): A 3,300, B 1,680, C 1,800.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from loyalty.db.core_tables import audit_log
from loyalty.domain.errors import Conflict, DomainError, InvalidInput, NotFound
from loyalty.services import targets
from tests.targets.conftest import ADMIN, NOW, Chain


def _by_store(plan: targets.Plan) -> dict[int, tuple[int, int | None, Decimal | None, bool]]:
    return {t.store.id: (t.target, t.basis, t.share, t.by_hand) for t in plan.stores}


def test_last_years_share_in_steps_sums_to_the_chain_target(chain: Chain) -> None:
    plan = targets.set_plan(chain.ctx, "2026-03", "sales", 1_000_100, ADMIN, method="last_year", step=100)
    assert (plan.method, plan.reason, plan.currency, plan.step) == ("last_year", None, "CNY", 100)
    assert (str(plan.basis_start), str(plan.basis_end)) == ("2025-03-01", "2025-03-31")
    # 10,001 steps of ¥1 shared 3 : 1 : 6 : 0 → 3,000.3 / 1,000.1 / 6,000.6 / 0: the step left over
    # goes to C, whose remainder (0.6) is the largest
    assert _by_store(plan) == {
        chain.a: (300_000, 30_000, Decimal("0.3000"), False),
        chain.b: (100_000, 10_000, Decimal("0.1000"), False),
        chain.c: (600_100, 60_000, Decimal("0.6000"), False),
        chain.d: (0, 0, Decimal("0.0000"), False),
    }
    assert plan.chain_target == sum(t.target for t in plan.stores) == 1_000_100
    assert (plan.created_at, plan.created_by, plan.superseded_at) == (NOW, "staff:7", None)
    # auto takes last year's month when it has sales
    auto = targets.set_plan(chain.ctx, "2026-03", "sales", 1_000_100, ADMIN, step=100)
    assert (auto.method, auto.reason, _by_store(auto)) == ("last_year", None, _by_store(plan))


def test_trailing_twelve_months_and_equal_and_auto_fallbacks(chain: Chain) -> None:
    plan = targets.set_plan(chain.ctx, "2026-03", "sales", 678_000, ADMIN, method="trailing_12")
    assert (str(plan.basis_start), str(plan.basis_end)) == ("2025-03-01", "2026-02-28")
    assert {t.store.id: t.target for t in plan.stores} == {
        chain.a: 330_000,
        chain.b: 168_000,
        chain.c: 180_000,
        chain.d: 0,
    }
    # nobody signed up in March 2025: auto falls back to the 12 months (m1 at A, m2 at C)
    members = targets.set_plan(chain.ctx, "2026-03", "new_members", 10, ADMIN)
    assert (members.method, members.reason, members.currency) == ("trailing_12", "NO_LAST_YEAR", None)
    assert [t.target for t in members.stores] == [5, 0, 5, 0]
    # 10 among 4: 2.5 each; the two units left go to the smaller ids (A, B)
    equal = targets.set_plan(chain.ctx, "2026-03", "new_members", 10, ADMIN, method="equal")
    assert ([t.target for t in equal.stores], equal.basis_start) == ([3, 3, 2, 2], None)
    # nothing at all in either basis: an equal split, saying why
    empty = targets.set_plan(chain.ctx, "2024-01", "new_members", 4, ADMIN)
    assert (empty.method, empty.reason, [t.target for t in empty.stores]) == ("equal", "NO_HISTORY", [1] * 4)


def test_stores_typed_by_hand_come_off_the_top(chain: Chain) -> None:
    plan = targets.set_plan(
        chain.ctx,
        "2026-03",
        "sales",
        1_000_000,
        ADMIN,
        method="last_year",
        step=100,
        targets={chain.d: 100_000},
    )
    # ¥9,000 left, shared 3 : 1 : 6
    assert _by_store(plan) == {
        chain.a: (270_000, 30_000, Decimal("0.3000"), False),
        chain.b: (90_000, 10_000, Decimal("0.1000"), False),
        chain.c: (540_000, 60_000, Decimal("0.6000"), False),
        chain.d: (100_000, None, None, True),
    }


def test_a_new_version_supersedes_and_keeps_the_old_one(chain: Chain) -> None:
    first = targets.set_plan(chain.ctx, "2026-03", "sales", 1_000_100, ADMIN, method="last_year", step=100)
    chain.clock.advance(hours=1)
    second = targets.edit_targets(chain.ctx, "2026-03", "sales", {chain.b: 150_000}, ADMIN, note="B refit")
    assert (second.method, second.chain_target, second.note) == ("manual", 1_050_100, "B refit")
    assert _by_store(second)[chain.b] == (150_000, None, None, True)
    # the others' targets as they were; their shares now of the part not typed by hand (3 : 6)
    assert _by_store(second)[chain.a] == (300_000, 30_000, Decimal("0.3333"), False)
    history = targets.plan_history(chain.ctx, "2026-03", "sales")
    assert [p.id for p in history] == [second.id, first.id]
    assert (history[1].superseded_at, history[1].replaced_by) == (second.created_at, second.id)
    assert history[1].stores == first.stores
    assert targets.current_plan(chain.ctx, "2026-03", "sales") == second
    with pytest.raises(Conflict) as stale:
        targets.edit_targets(chain.ctx, "2026-03", "sales", {chain.b: 100}, ADMIN, replaces=first.id)
    assert stale.value.code == "TARGET_PLAN_CHANGED"
    with chain.ctx.engine.connect() as conn:
        rows = conn.execute(
            select(audit_log.c.action, audit_log.c.before, audit_log.c.after)
            .where(audit_log.c.entity == "target_plan")
            .order_by(audit_log.c.id)
        ).all()
    assert [r.action for r in rows] == ["targets.plan.set", "targets.plan.edit"]
    assert rows[0].before is None
    assert (rows[1].before["stores"][str(chain.b)], rows[1].after["stores"][str(chain.b)]) == (
        100_000,
        150_000,
    )
    with pytest.raises(NotFound):
        targets.current_plan(chain.ctx, "2026-04", "sales")


def _field(call: Any) -> str:
    with pytest.raises(DomainError) as caught:
        call()
    assert isinstance(caught.value, InvalidInput), caught.value
    assert caught.value.code == "TARGET_INVALID"
    return str(caught.value.details["errors"][0]["field"])  # type: ignore[index]


def test_bad_input_is_refused_naming_the_field(chain: Chain) -> None:
    ctx = chain.ctx

    def plan(**kw: Any) -> Any:
        args: dict[str, Any] = {
            "month": "2026-03",
            "metric": "sales",
            "chain_target": 1_000,
            "actor": ADMIN,
        } | kw
        return lambda: targets.set_plan(ctx, **args)

    cases = {
        "month": [plan(month="2026-13"), plan(month="March"), plan(month="0001-01")],
        "metric": [plan(metric="profit")],
        "method": [plan(method="guess")],
        "chain_target": [plan(chain_target=-1), plan(chain_target=2**70), plan(chain_target=1_050, step=100)],
        "step": [plan(step=0)],
        "targets": [
            plan(targets={chain.a: 2_000}),
            lambda: targets.edit_targets(ctx, "2026-03", "sales", {}, ADMIN),
        ],
        "targets.999": [plan(targets={999: 10})],
        f"targets.{chain.a}": [plan(targets={chain.a: -5}), plan(targets={chain.a: 50}, step=100)],
        "note": [plan(note="x" * 501)],
        "behind_points": [lambda: targets.set_alert_rules(ctx, ADMIN, behind_points=101)],
        "forecast_pct": [lambda: targets.set_alert_rules(ctx, ADMIN, forecast_pct=-1)],
    }
    for field, calls in cases.items():
        for call in calls:
            assert _field(call) == field
    with ctx.engine.connect() as conn:
        assert conn.execute(select(func.count()).where(audit_log.c.entity == "target_plan")).scalar() == 0
    # a method without a basis is refused, naming the method
    assert (
        _field(lambda: targets.set_plan(ctx, "2024-01", "sales", 100, ADMIN, method="last_year")) == "method"
    )
