"""Event bonuses on both backends: registration and profile completion give their points once per
member, at the stores a rule names, within the rule's budget, in the transaction of the event, and
the statement shows each as a bonus with the rule's name."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from loyalty.bootstrap import Context, FrozenClock
from loyalty.domain.errors import InvalidInput
from loyalty.domain.programme.rules import parse_rule
from loyalty.services import members, merchants, points, seed
from loyalty.services.earning_rules.book import define_rules
from loyalty.services.schemas import MemberIn, MemberUpdate, StoreIn
from tests.core.conftest import clock, ctx

__all__ = ["clock", "ctx"]


@pytest.fixture
def chain(ctx: Context) -> tuple[int, int]:
    seed.ensure_programme(ctx)
    a = merchants.list_stores(ctx)[0]
    b = merchants.create_store(ctx, StoreIn(merchant_id=a.merchant_id, code="EV-B", name="B"))
    clock = ctx.clock
    ctx.clock = FrozenClock(ctx.now() - timedelta(days=1))
    define_rules(
        ctx,
        [
            {"code": "welcome", "name": "注册礼 100 积分", "kind": "event_bonus", "on": "registration",
             "points": 100, "when": {"stores": [a.code]}},
            {"code": "profile", "name": "完善资料 50 积分", "kind": "event_bonus", "on": "profile_completed",
             "points": 50, "limits": {"budget": {"points": 120}}},
        ],
    )  # fmt: skip
    ctx.clock = clock
    return a.id, b.id


def _balance(ctx: Context, member_id: int) -> int:
    return points.balance(ctx, member_id).balance


def test_registration_bonus_at_the_rules_stores_only(ctx: Context, chain: tuple[int, int]) -> None:
    a, b = chain
    at_a = members.register_member(ctx, MemberIn(phone="+8613800000001", name="A", registration_store_id=a))
    at_b = members.register_member(ctx, MemberIn(phone="+8613800000002", name="B", registration_store_id=b))
    assert _balance(ctx, at_a.id) == 100
    assert _balance(ctx, at_b.id) == 0
    entry = points.statement(ctx, at_a.id)[0]
    assert (entry.kind, entry.amount, entry.rule, entry.reason) == (
        "bonus",
        100,
        "rule:welcome",
        "注册礼 100 积分",
    )
    assert points.verify_ledger(ctx)["ok"]


def test_profile_completion_once_per_member_within_the_budget(ctx: Context, chain: tuple[int, int]) -> None:
    _, b = chain
    full: dict[str, Any] = {"email": "m@example.com", "gender": "f", "birthday": date(1990, 5, 1)}
    ids = [
        members.register_member(
            ctx, MemberIn(phone=f"+861380000010{i}", name=f"M{i}", registration_store_id=b)
        ).id
        for i in range(3)
    ]
    members.update_member(ctx, ids[0], MemberUpdate(email="m@example.com"))
    assert _balance(ctx, ids[0]) == 0  # not complete yet
    members.update_member(ctx, ids[0], MemberUpdate(gender="f", birthday=date(1990, 5, 1)))
    assert _balance(ctx, ids[0]) == 50
    members.update_member(ctx, ids[0], MemberUpdate(email="other@example.com"))
    assert _balance(ctx, ids[0]) == 50  # once
    members.update_member(ctx, ids[1], MemberUpdate(**full))
    members.update_member(ctx, ids[2], MemberUpdate(**full))
    assert [_balance(ctx, i) for i in ids] == [50, 50, 20]  # the budget of 120 ran out
    complete = members.register_member(
        ctx, MemberIn(phone="+8613800000200", name="Full", registration_store_id=b, **full)
    )
    assert _balance(ctx, complete.id) == 0  # registered complete, but nothing left in the budget
    with ctx.engine.connect() as conn:
        used = conn.execute(
            text("SELECT subject_kind, points FROM rule_usage WHERE rule_code = 'profile'")
        ).all()
    assert ("chain", 120) in used
    assert points.verify_ledger(ctx)["ok"]


@pytest.mark.parametrize(
    ("raw", "wrong"),
    [
        ({"code": "e", "kind": "event_bonus", "points": 5}, "on"),
        ({"code": "e", "kind": "event_bonus", "on": "birthday", "points": 5}, "on"),
        ({"code": "e", "kind": "event_bonus", "on": "registration", "points": 5,
          "when": {"hours": "09:00-10:00"}}, "when.hours"),
        ({"code": "e", "kind": "fixed_bonus", "on": "registration", "points": 5}, "on"),
        ({"code": "e", "kind": "event_bonus", "on": "registration", "points": 5,
          "limits": {"per_member": {"points": 5}}}, "limits.per_member"),
    ],
)  # fmt: skip
def test_event_bonuses_that_cannot_work_are_refused(raw: dict[str, Any], wrong: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_rule(raw)
    assert wrong in [e["field"] for e in refused.value.details["errors"]]
