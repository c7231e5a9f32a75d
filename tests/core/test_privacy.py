"""`services.privacy` on SQLite and PostgreSQL: the member's data package holds every part, and an
erasure removes the person while the books stay whole; merge refusals around erased and inactive
members; core_0016 adds and drops `members.erased_at`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, func, insert, inspect, select, text

from loyalty.bootstrap import Context, FrozenClock
from loyalty.db.analytics_tables import member_scores
from loyalty.db.auth_tables import member_otps, member_tokens, outbox
from loyalty.db.core_tables import members as members_table
from loyalty.db.core_tables import purchases as purchases_table
from loyalty.db.migrate import downgrade, upgrade
from loyalty.domain.actors import Actor
from loyalty.domain.errors import Conflict, InvalidInput, NotFound
from loyalty.services import (
    auth,
    member_otp,
    members,
    points,
    privacy,
    purchase_claims,
    purchases,
    seed,
    tiers,
)
from loyalty.services.purchase_claims import ClaimIn
from loyalty.services.schemas import MemberIn, MemberUpdate, PurchaseIn, PurchaseLineIn
from tests.core.sales import food_sale, sale_return

STAFF = Actor(kind="staff", id="7", role="admin")


def _register(ctx: Context, phone: str, name: str, **extra: Any) -> Any:
    return members.register_member(ctx, MemberIn(phone=phone, name=name, **extra))


def _score(ctx: Context, member_id: int) -> None:
    with ctx.engine.begin() as conn:
        conn.execute(
            insert(member_scores).values(
                member_id=member_id,
                rfm_code="222",
                segment="high_value",
                recency_days=1,
                frequency=2,
                monetary_minor=300_000,
                p_alive=0.9,
                expected_purchases=1.5,
                clv_minor=80_000,
                model="bgnbd",
                computed_at=datetime(2026, 1, 5, tzinfo=UTC),
            )
        )


def _count(ctx: Context, table: Any, *where: Any) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def _audit_text(ctx: Context) -> str:
    with ctx.engine.connect() as conn:
        rows = conn.execute(text("SELECT action, before, after FROM audit_log ORDER BY id")).all()
    return json.dumps([list(r) for r in rows], default=str, ensure_ascii=False)


def test_the_package_holds_every_part(ctx: Context, programme: seed.ProgrammeIds, clock: FrozenClock) -> None:
    sid = programme.store_id
    m = _register(ctx, "13800138101", "王小明", email="wang@example.com", registration_store_id=sid)
    members.update_member(ctx, m.id, MemberUpdate(marketing_consent=True), actor=Actor("member", str(m.id)))
    clock.advance(days=1)
    members.update_member(ctx, m.id, MemberUpdate(marketing_consent=False), actor=STAFF)
    purchases.post_purchase(ctx, food_sale(ctx, sid, m.id, "pkg-1", 250_000))  # 银卡 (¥2,000.00)
    anonymous = PurchaseIn(
        store_id=sid,
        order_id="pkg-anon",
        occurred_at=ctx.now(),
        lines=[PurchaseLineIn(sku="s", category="food", quantity=1, unit_price_minor=3_000)],
    )
    purchases.post_purchase(ctx, anonymous)
    purchase_claims.claim_purchase(
        ctx, ClaimIn(store_id=sid, order_id="pkg-anon", member_id=m.id), actor=STAFF
    )
    points.adjust(ctx, m.id, 50, reason="生日礼", operator="test")
    dup = _register(ctx, "13800138102", "王小明2")
    members.merge_members(ctx, duplicate_id=dup.id, survivor_id=m.id)
    _score(ctx, m.id)

    package = privacy.export_member_data(ctx, m.id, actor=STAFF)
    assert package.format == privacy.FORMAT == "loyalty.member-data/1"
    assert (package.member.phone, package.member.name, package.member.email) == (
        "+8613800138101",
        "王小明",
        "wang@example.com",
    )
    assert package.member.registration_store is not None
    assert package.member.registration_store.id == sid
    assert [(c.marketing_consent, c.by) for c in package.consents.history] == [
        (False, "system"),
        (True, "member"),
        (False, "staff"),
    ]
    assert package.consents.marketing_consent is False
    assert {p.order_id for p in package.purchases} == {"pkg-1", "pkg-anon"}
    assert all(p.lines for p in package.purchases)
    assert [c.order_id for c in package.claims] == ["pkg-anon"]
    reasons = [e.reason for e in package.points.statement]
    assert "生日礼" in reasons
    assert (
        package.points.statement[-1].balance_after
        == package.points.balance.balance - package.points.balance.debt
    )
    assert [h.reason for h in package.tier.history][:2] == ["register", "upgrade"]
    assert package.tier.current.tier.code == "silver"
    assert package.scores is not None
    assert package.scores.segment == "high_value"
    assert [(r.id, r.phone) for r in package.merged_records] == [(dup.id, "+8613800138102")]
    # the export is audited with its counts, never with the data
    with ctx.engine.connect() as conn:
        row = conn.execute(
            text("SELECT actor_kind, actor_id, after FROM audit_log WHERE action = 'member.data_export'")
        ).one()
    after = row.after if isinstance(row.after, dict) else json.loads(row.after)
    assert (row.actor_kind, row.actor_id) == ("staff", "7")
    assert after == {"format": privacy.FORMAT, **package.counts()}
    assert after["purchases"] == 2
    with pytest.raises(NotFound):
        privacy.export_member_data(ctx, 987_654)


def test_an_erasure_removes_the_person_and_keeps_the_books(
    ctx: Context, programme: seed.ProgrammeIds
) -> None:
    sid = programme.store_id
    m = _register(ctx, "13800138111", "李四", email="li@example.com", tags=["vip"], registration_store_id=sid)
    dup = _register(ctx, "13800138112", "李四 (old card)", email="li.old@example.com")
    purchases.post_purchase(ctx, food_sale(ctx, sid, dup.id, "era-0", 5_000))
    members.merge_members(ctx, duplicate_id=dup.id, survivor_id=m.id)
    purchases.post_purchase(ctx, food_sale(ctx, sid, m.id, "era-1", 30_000))
    purchases.post_return(ctx, sale_return(ctx, sid, "era-1", "era-r1", refund_minor=10_000))
    auth.issue_member_token(ctx, m.id)
    assert member_otp.request_code(ctx, m.phone).sent
    _score(ctx, m.id)
    before_balance = points.balance(ctx, m.id)
    before_statement = points.statement(ctx, m.id)
    before_history = tiers.tier_history(ctx, m.id)
    old = (
        m.phone,
        m.name,
        "li@example.com",
        m.card_no,
        m.member_code,
        dup.phone,
        dup.card_no,
        "li.old@example.com",
    )

    unchanged = members.get_member(ctx, m.id)
    for typed in ("", m.member_code, dup.card_no, "0" * 16):
        with pytest.raises(InvalidInput) as refused:
            privacy.erase_member(ctx, m.id, confirm=typed, actor=STAFF)
        assert refused.value.code == "ERASURE_NOT_CONFIRMED"
        assert refused.value.localized_errors("en") == [
            {"field": "confirm", "message": "type the member's card number to confirm the erasure"}
        ]
    assert members.get_member(ctx, m.id) == unchanged

    done = privacy.erase_member(ctx, m.id, confirm=f" {m.card_no[:4]}-{m.card_no[4:]} ", actor=STAFF)
    assert done.erased_ids == [m.id, dup.id]
    assert (done.tokens_deleted, done.codes_deleted, done.messages_deleted) == (1, 1, 1)
    assert done.scores_deleted == 1
    assert done.audit_entries_blanked >= 3  # both registrations and the merge

    for record, status in (
        (members.get_member(ctx, m.id), "inactive"),
        (members.get_member(ctx, dup.id), "merged"),
    ):
        assert record.erased_at == done.erased_at
        assert record.status == status
        assert record.phone == f"erased:{record.id}"
        assert (record.name, record.email, record.birthday, record.gender, record.tags) == (
            "",
            None,
            None,
            None,
            [],
        )
        assert record.marketing_consent is False
        assert record.scores is None
        assert record.card_no not in old
        assert record.member_code not in old
    # the books: the same balance, movements, tier history and receipts, on the same record
    assert points.balance(ctx, m.id) == before_balance
    assert points.statement(ctx, m.id) == before_statement
    assert tiers.tier_history(ctx, m.id) == before_history
    assert _count(ctx, purchases_table, purchases_table.c.member_id == m.id) == 2
    assert points.verify_ledger(ctx)["ok"]
    # nothing left that names or reaches the person
    assert _count(ctx, member_tokens, member_tokens.c.member_id == m.id) == 0
    assert _count(ctx, member_otps, member_otps.c.phone == m.phone) == 0
    assert _count(ctx, outbox, outbox.c.recipient == m.phone) == 0
    assert _count(ctx, member_scores, member_scores.c.member_id == m.id) == 0
    trail = _audit_text(ctx)
    for value in old:
        assert value not in trail, value
    erase_row = json.loads(trail)[-1]
    assert erase_row[0] == "member.erase"
    # the old references find nobody; the phone is free; the portal sends nothing to it
    for ref in (
        {"phone": m.phone},
        {"card_no": m.card_no},
        {"member_code": m.member_code},
        {"phone": dup.phone},
    ):
        with pytest.raises(NotFound):
            members.find_member(ctx, **ref)
    assert members.search_members(ctx, "李四") == []
    assert member_otp.request_code(ctx, m.phone).sent  # the same answer as for anyone
    assert _count(ctx, outbox, outbox.c.recipient == m.phone) == 0
    fresh = _register(ctx, m.phone, "新会员")
    assert fresh.id != m.id
    # an erased record is never erased twice, filled in again or merged
    with pytest.raises(Conflict) as twice:
        privacy.erase_member(ctx, m.id, confirm=members.get_member(ctx, m.id).card_no)
    assert twice.value.code == "MEMBER_ERASED"
    with pytest.raises(Conflict) as refilled:
        members.update_member(ctx, m.id, MemberUpdate(name="回来"))
    assert refilled.value.code == "MEMBER_ERASED"
    for kw in (
        {"duplicate_id": m.id, "survivor_id": fresh.id},
        {"duplicate_id": fresh.id, "survivor_id": m.id},
    ):
        with pytest.raises(Conflict) as merged:
            members.merge_members(ctx, **kw)
        assert merged.value.code in {"MEMBER_ERASED", "MEMBER_INACTIVE"}
    with pytest.raises(Conflict) as merged:
        members.merge_members(ctx, duplicate_id=m.id, survivor_id=fresh.id)
    assert (merged.value.code, merged.value.localized_errors("en")[0]["field"]) == (
        "MEMBER_ERASED",
        "duplicate_id",
    )
    with pytest.raises(NotFound):
        privacy.erase_member(ctx, 987_654, confirm="x")


def test_erasing_a_merged_duplicate_leaves_the_survivor_alone(
    ctx: Context, programme: seed.ProgrammeIds
) -> None:
    keep = _register(ctx, "13800138121", "Survivor Sam")
    dup = _register(ctx, "13800138122", "Duplicate Dan")
    members.merge_members(ctx, duplicate_id=dup.id, survivor_id=keep.id)
    result = privacy.erase_member(ctx, dup.id, confirm=dup.card_no)
    assert result.erased_ids == [dup.id]
    assert members.get_member(ctx, keep.id).name == "Survivor Sam"
    assert members.get_member(ctx, dup.id).merged_into_id == keep.id
    trail = _audit_text(ctx)
    assert "Duplicate Dan" not in trail
    assert dup.phone not in trail
    assert "Survivor Sam" in trail  # the survivor's own snapshots are theirs to keep
    with ctx.engine.connect() as conn:
        merge = conn.execute(text("SELECT before FROM audit_log WHERE action = 'member.merge'")).scalar_one()
    merge = merge if isinstance(merge, dict) else json.loads(merge)
    assert merge["duplicate"]["id"] == dup.id
    assert merge["duplicate"]["phone"] is None
    assert merge["survivor"]["phone"] == keep.phone


def test_check_merge_refuses_as_the_merge_does_and_writes_nothing(
    ctx: Context, programme: seed.ProgrammeIds
) -> None:
    a, b = _register(ctx, "13800138131", "A"), _register(ctx, "13800138132", "B")
    assert [m.id for m in members.check_merge(ctx, duplicate_id=b.id, survivor_id=a.id)] == [a.id, b.id]
    assert members.get_member(ctx, b.id).status == "active"
    with pytest.raises(InvalidInput) as same:
        members.check_merge(ctx, duplicate_id=a.id, survivor_id=a.id)
    assert same.value.code == "MERGE_SAME_MEMBER"
    members.deactivate_member(ctx, a.id)
    for check in (members.check_merge, members.merge_members):
        with pytest.raises(Conflict) as inactive:
            check(ctx, duplicate_id=b.id, survivor_id=a.id)
        assert inactive.value.code == "MEMBER_INACTIVE"
        assert inactive.value.localized_errors("en")[0]["field"] == "survivor_id"
    members.merge_members(ctx, duplicate_id=a.id, survivor_id=b.id)  # a deactivated duplicate may go
    with pytest.raises(Conflict) as merged:
        members.check_merge(ctx, duplicate_id=a.id, survivor_id=b.id)
    assert merged.value.code == "MEMBER_MERGED"
    assert merged.value.localized_errors("en")[0]["field"] == "duplicate_id"


def test_core_0016_adds_and_drops_erased_at(
    ctx: Context, engine: Engine, programme: seed.ProgrammeIds
) -> None:
    member = _register(ctx, "13800138141", "Kept")

    def columns() -> set[str]:
        return {c["name"] for c in inspect(engine).get_columns("members")}

    downgrade(engine, "core_0015")
    assert "erased_at" not in columns()
    upgrade(engine)
    assert "erased_at" in columns()
    with engine.connect() as conn:
        kept = conn.execute(
            select(members_table.c.name, members_table.c.erased_at).where(members_table.c.id == member.id)
        ).one()
    assert tuple(kept) == ("Kept", None)
