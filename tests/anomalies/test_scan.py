"""The scan over the story (tests/anomalies/conftest.py), its flags, their review and suspended
redemptions, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from loyalty.db.core_tables import audit_log
from loyalty.domain.actors import Actor
from loyalty.domain.errors import Conflict, InvalidInput, NotFound
from loyalty.services import anomalies, points
from tests.anomalies.conftest import END, START, Story

REVIEWER = Actor(kind="staff", id="41", role="auditor")


def _flags(story: Story, **kw: object) -> dict[str, anomalies.Flag]:
    page = anomalies.list_flags(story.ctx, anomalies.FlagFilter(**{"status": None, **kw}), limit=500)  # type: ignore[arg-type]
    return {f.subject: f for f in page.items}


def _audit(story: Story, action: str) -> list[dict[str, object]]:
    with story.ctx.engine.connect() as conn:
        rows = conn.execute(select(audit_log).where(audit_log.c.action == action).order_by(audit_log.c.id))
        return [dict(r._mapping) for r in rows]


def test_the_scan_flags_the_story_and_a_rerun_adds_nothing(story: Story) -> None:
    audited = len(_audit(story, "anomalies.scan"))
    first = anomalies.scan(story.ctx, START, END)
    assert (first.new, first.updated, first.members) == (3, 0, 6)
    assert first.skipped == {"robust_z": "too_few_members", "isolation_forest": "too_few_members"}
    flags = _flags(story)
    card, night = f"member:{story.m['card']}", f"member:{story.m['night']}"
    assert set(flags) == {card, night, "staff:staff:99"}  # not "day": 22:30 in Urumqi is an evening
    assert (flags[card].kind, flags[night].kind, flags["staff:staff:99"].kind) == (
        "shared_card",
        "after_hours",
        "staff_adjustments",
    )
    assert flags[night].reason("en") == (
        "Redeemed 800 points at night (23:00–06:00 store time), 1× in the period, "
        "the first at 2026-03-20 23:30 in Urumqi."
    )
    assert flags[card].reason("en").startswith("Card used in 上海 at 2026-03-03 12:00 and in 乌鲁木齐 at ")
    assert (str(flags[card].period_start), str(flags[card].period_end)) == ("2026-03-03", "2026-03-07")
    assert flags["staff:staff:99"].reason("en") == (
        "staff:99 made 10 manual adjustments on 2026-03-15, 500 points to 3 members; the limit is 10 a day."
    )
    assert flags[night].store_id == story.ur
    assert flags[card].store_id == story.sh
    assert "在Urumqi" in flags[night].reason("zh-CN")

    again = anomalies.scan(story.ctx, START, END)
    assert (again.new, again.updated) == (0, 3)
    assert {s: f.id for s, f in _flags(story).items()} == {s: f.id for s, f in flags.items()}
    assert len(_audit(story, "anomalies.scan")) == audited + 2


def test_days_already_reviewed_are_not_flagged_again(story: Story) -> None:
    anomalies.scan(story.ctx, START, END)
    card = _flags(story)[f"member:{story.m['card']}"]
    anomalies.review(story.ctx, card.id, "reject", actor=REVIEWER, note="a family card")
    again = anomalies.scan(story.ctx, START, END)
    assert (again.new, again.updated, again.already_reviewed) == (0, 2, 1)
    assert anomalies.get_flag(story.ctx, card.id).status == "rejected"
    assert anomalies.list_flags(story.ctx).total == 2  # the open ones


def test_approval_with_suspension_refuses_redemption_until_lifted(story: Story) -> None:
    anomalies.scan(story.ctx, START, END)
    night_id = story.m["night"]
    flag = _flags(story)[f"member:{night_id}"]
    done = anomalies.review(
        story.ctx,
        flag.id,
        "approve",
        actor=REVIEWER,
        reviewer_name="li.audit",
        note="night raids",
        suspend=True,
    )
    assert (done.status, done.suspended, done.member_suspended, done.reviewer_name) == (
        "approved",
        True,
        True,
        "li.audit",
    )
    with pytest.raises(Conflict) as refused:
        points.redeem(story.ctx, night_id, 100, store_id=story.ur)
    assert refused.value.code == "REDEMPTION_SUSPENDED"
    assert refused.value.details == {"member_id": night_id, "since": "2026-04-01", "flag_id": flag.id}
    assert points.balance(story.ctx, night_id).available == 1_200  # nothing was taken
    assert [s.member_id for s in anomalies.list_suspensions(story.ctx)] == [night_id]
    assert anomalies.list_suspensions(story.ctx, store_ids=frozenset({story.sh})) == []

    lifted = anomalies.lift(story.ctx, night_id, note="cleared by the store", actor=REVIEWER)
    assert lifted.flag_id == flag.id
    assert points.redeem(story.ctx, night_id, 100, store_id=story.ur).points == 100
    with pytest.raises(NotFound):
        anomalies.lift(story.ctx, night_id, note=None, actor=REVIEWER)

    review = _audit(story, "anomalies.review")[-1]
    assert (review["entity"], review["entity_id"], review["actor_id"]) == ("anomaly_flag", str(flag.id), "41")
    assert review["after"] == {"status": "approved", "note": "night raids", "suspend": True}
    suspend = _audit(story, "anomalies.suspend")[-1]
    assert (suspend["entity"], suspend["entity_id"]) == ("member", str(night_id))
    lift = _audit(story, "anomalies.lift")[-1]
    assert lift["after"] == {"redemptions": "allowed", "note": "cleared by the store"}


def test_reviews_are_final_and_checked(story: Story) -> None:
    anomalies.scan(story.ctx, START, END)
    flags = _flags(story)
    staff = flags["staff:staff:99"]
    card = flags[f"member:{story.m['card']}"]
    for decision, kw, field in (
        ("maybe", {}, "decision"),
        ("reject", {"suspend": True}, "suspend"),
        ("approve", {"note": "x" * 1001}, "note"),
    ):
        with pytest.raises(InvalidInput) as bad:
            anomalies.review(story.ctx, card.id, decision, actor=REVIEWER, **kw)  # type: ignore[arg-type]
        assert bad.value.details["errors"][0]["field"] == field
    with pytest.raises(InvalidInput):  # a staff flag has no member to suspend
        anomalies.review(story.ctx, staff.id, "approve", actor=REVIEWER, suspend=True)
    anomalies.review(story.ctx, staff.id, "approve", actor=REVIEWER)
    with pytest.raises(Conflict) as twice:
        anomalies.review(story.ctx, staff.id, "reject", actor=REVIEWER)
    assert twice.value.code == "ANOMALY_FLAG_REVIEWED"
    with pytest.raises(NotFound):
        anomalies.review(story.ctx, 999_999, "reject", actor=REVIEWER)
    assert anomalies.get_flag(story.ctx, card.id).status == "open"  # the refusals changed nothing


def test_store_staff_see_their_stores_members_flags_only(story: Story) -> None:
    anomalies.scan(story.ctx, START, END)
    flags = _flags(story)
    ur_only = anomalies.list_flags(story.ctx, store_ids=frozenset({story.ur}))
    assert [f.member_id for f in ur_only.items] == [story.m["night"]]  # no staff flag, no SH member
    with pytest.raises(NotFound):
        anomalies.get_flag(story.ctx, flags[f"member:{story.m['card']}"].id, store_ids=frozenset({story.ur}))
    by_kind = anomalies.list_flags(story.ctx, anomalies.FlagFilter(kind="after_hours"))
    assert by_kind.total == 1
    assert anomalies.open_counts(story.ctx) == {"shared_card": 1, "after_hours": 1, "staff_adjustments": 1}
    with pytest.raises(InvalidInput):
        anomalies.list_flags(story.ctx, anomalies.FlagFilter(kind="nope"))


def test_rule_changes_are_audited_and_change_the_next_scan(story: Story) -> None:
    changed = anomalies.set_rules(
        story.ctx,
        {"after_hours": {"enabled": False}, "staff_adjustments": {"params": {"count_day": 11}}},
        REVIEWER,
    )
    assert changed["after_hours"].enabled is False
    assert changed["staff_adjustments"]["count_day"] == 11
    assert changed["velocity"].customised is False
    result = anomalies.scan(story.ctx, START, END)
    assert result.by_kind == {"shared_card": 1}
    rows = _audit(story, "anomalies.rule")
    assert {r["entity_id"] for r in rows} == {"after_hours", "staff_adjustments"}
    with pytest.raises(InvalidInput):
        anomalies.set_rules(story.ctx, {"velocity": {"params": {"per_hour": 0}}}, REVIEWER)
    assert anomalies.get_rules(story.ctx)["velocity"]["per_hour"] == 6  # nothing half-applied


def test_a_scan_period_is_checked(story: Story) -> None:
    with pytest.raises(InvalidInput) as bad:
        anomalies.scan(story.ctx, END, START)
    assert bad.value.code == "ANOMALY_SCAN_INVALID"
    with pytest.raises(InvalidInput):
        anomalies.period(story.ctx, START.replace(year=2024), END)
    assert anomalies.period(story.ctx, None, None) == (END.replace(day=3), END.replace(month=4, day=1))
