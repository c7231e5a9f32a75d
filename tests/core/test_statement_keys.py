"""The foreign keys of a member's tier, of the tier history and of the earning entries (purchase,
rule) hold on both databases, and under concurrency on PostgreSQL.

SQLite checks them natively per row; PostgreSQL per statement (`db.statement_keys`, core_0010 and
core_0031). Either
way: a member or history row naming a missing member or tier is refused whole, and a member or tier
that is named cannot be deleted, re-keyed or truncated away. On PostgreSQL a removal and a write that
overlap never leave an orphan, whichever starts first and at either isolation level.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, delete, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from loyalty.bootstrap import Context
from loyalty.db.core_tables import members, tier_history, tiers
from loyalty.db.engine import make_engine
from loyalty.db.programme_tables import purchase_line_rules
from loyalty.services import seed
from loyalty.services.seed import ProgrammeIds

from .conftest import T0

MISSING = 987_654_321


def _ladder(conn: Connection) -> list[int]:
    return list(conn.execute(select(tiers.c.id).order_by(tiers.c.rank)).scalars())


def _bare_member(conn: Connection, member_id: int, tier_id: int) -> int:
    """A member row that nothing but tier history will refer to (no account, no purchase)."""
    conn.execute(
        insert(members).values(
            id=member_id,
            phone=f"+86139{member_id:08d}",
            name="key",
            tags=[],
            marketing_consent=False,
            card_no=f"88{member_id:014d}",
            member_code=f"KEY{member_id}",
            status="active",
            tier_id=tier_id,
            created_at=T0,
            updated_at=T0,
        )
    )
    return member_id


def _row(member_id: int, from_id: int | None, to_id: int) -> dict[str, Any]:
    return {"member_id": member_id, "from_tier_id": from_id, "to_tier_id": to_id, "reason": "test", "at": T0}


def _history_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(tier_history)).scalar_one())


def _refused(engine: Engine, statement: Any, constraint: str) -> None:
    """`statement` fails as a foreign key violation (naming `constraint` on PostgreSQL) and leaves nothing."""
    with pytest.raises(IntegrityError) as info, engine.begin() as conn:
        conn.execute(statement)
    if engine.dialect.name == "postgresql":
        assert info.value.orig.diag.sqlstate == "23503"  # type: ignore[union-attr]
        assert info.value.orig.diag.constraint_name == constraint  # type: ignore[union-attr]
    else:
        assert "FOREIGN KEY" in str(info.value)


def test_history_must_name_an_existing_member_and_tiers(ctx: Context, programme: ProgrammeIds) -> None:
    with ctx.engine.begin() as conn:
        low, silver = _ladder(conn)[:2]
        m = _bare_member(conn, 500_001, low)
    good = _row(m, low, silver)
    for bad, constraint in (
        ({"member_id": MISSING}, "fk_tier_history_member_id_members"),
        ({"from_tier_id": MISSING}, "fk_tier_history_from_tier_id_tiers"),
        ({"to_tier_id": MISSING}, "fk_tier_history_to_tier_id_tiers"),
    ):
        # One statement of two rows, one of them bad: the whole statement is refused.
        _refused(ctx.engine, insert(tier_history).values([good, {**good, **bad}]), constraint)
    assert _history_count(ctx.engine) == 0
    with ctx.engine.begin() as conn:  # a first tier (no "from") and a good row pass
        conn.execute(insert(tier_history).values([_row(m, None, low), good]))
    assert _history_count(ctx.engine) == 2
    _refused(
        ctx.engine,
        update(tier_history).where(tier_history.c.member_id == m).values(member_id=MISSING),
        "fk_tier_history_member_id_members",
    )
    with ctx.engine.connect() as conn:
        assert set(conn.execute(select(tier_history.c.member_id)).scalars()) == {m}


def test_a_statement_of_many_rows_is_checked_whole_too(ctx: Context, programme: ProgrammeIds) -> None:
    """Past `PROBED_ROWS` rows (a bulk job's statement) PostgreSQL finds a missing key another way
    (one anti-join): the same refusal, and the same rows accepted."""
    from loyalty.db.statement_keys import PROBED_ROWS

    with ctx.engine.begin() as conn:
        low, silver = _ladder(conn)[:2]
        m = _bare_member(conn, 500_002, low)
    many = [_row(m, low, silver)] * (PROBED_ROWS + 1)
    for bad, constraint in (
        ({"member_id": MISSING}, "fk_tier_history_member_id_members"),
        ({"to_tier_id": MISSING}, "fk_tier_history_to_tier_id_tiers"),
    ):
        _refused(ctx.engine, insert(tier_history).values([*many[1:], {**many[0], **bad}]), constraint)
    assert _history_count(ctx.engine) == 0
    with ctx.engine.begin() as conn:
        conn.execute(insert(tier_history).values(many))
    assert _history_count(ctx.engine) == PROBED_ROWS + 1


def test_a_few_rows_keys_are_looked_up_by_index(ctx: Context, programme: ProgrammeIds) -> None:
    """A POS batch's earning entries (many rows naming a few purchases) are checked by looking each
    purchase up once in its index, never by reading the purchases through: not with a plan the
    session made while the table held one purchase (when a scan was the cheaper plan), nor where the
    planner would join by other means than nested loops, as it does where it misjudges the table's
    size (PostgreSQL counts the current transaction's reads in `pg_stat_xact_user_tables`)."""
    from loyalty.db.core_tables import purchases

    purchase_id, rule_id = _entry_world(ctx, programme)
    if ctx.engine.dialect.name != "postgresql":
        return  # SQLite checks each row's key natively, by the primary key

    def entries(lines: range) -> Any:
        rows = [{"purchase_id": purchase_id, "line_no": n, "rule_id": rule_id, "points": 1} for n in lines]
        return insert(purchase_line_rules).values(rows)

    reads = text(
        "SELECT seq_tup_read, coalesce(idx_tup_fetch, 0) FROM pg_stat_xact_user_tables "
        "WHERE relname = 'purchases'"
    )
    with ctx.engine.connect() as session:
        with session.begin():  # the checks planned while the purchases are one, and known to be
            session.execute(text("ANALYZE purchases"))
            session.execute(entries(range(2, 4)))
            session.rollback()
        copied = [c.name for c in purchases.columns if c.name not in ("id", "order_id")]
        with ctx.engine.begin() as conn:  # 500 more purchases: copies of the sale under other order ids
            conn.execute(
                text(
                    f"INSERT INTO purchases ({', '.join(copied)}, order_id) "
                    f"SELECT {', '.join(copied)}, 'COPY-' || g FROM purchases, generate_series(1, 500) g "
                    "WHERE id = :id"
                ),
                {"id": purchase_id},
            )
        with session.begin():
            session.execute(text("SET LOCAL enable_nestloop = off"))
            scanned, fetched = session.execute(reads).one()
            session.execute(entries(range(2, 122)))
            scanned_after, fetched_after = session.execute(reads).one()
            session.rollback()
    assert scanned_after == scanned  # no purchase read by a scan
    assert fetched_after - fetched <= 1  # the one purchase, looked up once


def test_a_member_must_hold_an_existing_tier(ctx: Context, programme: ProgrammeIds) -> None:
    with ctx.engine.begin() as conn:
        low = _ladder(conn)[0]
        m = _bare_member(conn, 500_006, low)
    with pytest.raises(IntegrityError), ctx.engine.begin() as conn:
        _bare_member(conn, 500_007, MISSING)
    _refused(
        ctx.engine,
        update(members).where(members.c.id == m).values(tier_id=MISSING),
        "fk_members_tier_id_tiers",
    )
    _refused(ctx.engine, delete(tiers).where(tiers.c.id == low), "fk_members_tier_id_tiers")
    with ctx.engine.connect() as conn:
        assert conn.execute(select(members.c.id, members.c.tier_id)).all() == [(m, low)]
    if ctx.engine.dialect.name == "postgresql":  # TRUNCATE fires no row trigger: refused as a whole
        with pytest.raises(IntegrityError), ctx.engine.begin() as conn:
            conn.execute(text("TRUNCATE tiers"))
        with ctx.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(tiers)).scalar_one() > 0


def test_a_member_or_tier_named_in_history_cannot_be_removed(ctx: Context, programme: ProgrammeIds) -> None:
    with ctx.engine.begin() as conn:
        low, silver, gold = _ladder(conn)[:3]
        m = _bare_member(conn, 500_002, low)
        conn.execute(insert(tier_history).values([_row(m, silver, gold)]))
    _refused(ctx.engine, delete(members).where(members.c.id == m), "fk_tier_history_member_id_members")
    _refused(
        ctx.engine,
        update(members).where(members.c.id == m).values(id=MISSING),
        "fk_tier_history_member_id_members",
    )
    # Neither tier is any member's: only the history holds them.
    _refused(ctx.engine, delete(tiers).where(tiers.c.id == silver), "fk_tier_history_from_tier_id_tiers")
    _refused(ctx.engine, delete(tiers).where(tiers.c.id == gold), "fk_tier_history_to_tier_id_tiers")
    with ctx.engine.begin() as conn:  # other updates of the referenced rows are not checks
        conn.execute(update(members).where(members.c.id == m).values(name="renamed"))
        conn.execute(update(tiers).where(tiers.c.id == gold).values(name="Gold"))
    with ctx.engine.begin() as conn:  # once the history is gone, they can go
        conn.execute(delete(tier_history))
        conn.execute(delete(members).where(members.c.id == m))
        conn.execute(delete(tiers).where(tiers.c.id.in_([silver, gold])))
    with ctx.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(members)).scalar_one() == 0


# PostgreSQL only: the triggers' locking, against a second connection.


def _pg_member(url: str, member_id: int) -> tuple[Engine, int, int]:
    engine = make_engine(url)
    seed.ensure_programme(Context(engine=engine))
    with engine.begin() as conn:
        low, silver = _ladder(conn)[:2]
        _bare_member(conn, member_id, low)
    return engine, low, silver


def _second_waits_and_fails(engine: Engine, first: Any, second: Any, why: str) -> None:
    """`first` runs and stays uncommitted; `second`, on another connection, must wait for it and then
    fail as a foreign key violation once `first` commits."""
    errors: list[BaseException] = []

    def run_second() -> None:
        try:
            with engine.begin() as conn:
                conn.execute(second)
        except BaseException as exc:
            errors.append(exc)

    with engine.connect() as conn:
        conn.execute(first)
        thread = threading.Thread(target=run_second, daemon=True)
        thread.start()
        thread.join(timeout=0.5)
        assert thread.is_alive(), why
        conn.commit()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert len(errors) == 1, errors
    assert isinstance(errors[0], IntegrityError), errors


@pytest.mark.postgres
@pytest.mark.parametrize("history_first", [True, False], ids=["removal-waits-for-history", "history-waits"])
def test_a_removal_and_a_history_write_that_overlap(pg_url: str, history_first: bool) -> None:
    """Whichever comes first, the other waits for it to commit and then fails: never an orphan."""
    engine, low, silver = _pg_member(pg_url, 500_003)
    write = insert(tier_history).values([_row(500_003, low, silver)])
    remove = delete(members).where(members.c.id == 500_003)
    try:
        if history_first:
            _second_waits_and_fails(engine, write, remove, "the removal must wait for the history")
        else:
            _second_waits_and_fails(engine, remove, write, "the history must wait for the removal")
        with engine.connect() as conn:
            kept = conn.execute(select(func.count()).where(members.c.id == 500_003)).scalar_one()
        assert (kept, _history_count(engine)) == ((1, 1) if history_first else (0, 0))
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_a_repeatable_read_writer_does_not_miss_a_removal(pg_url: str) -> None:
    """A removal that committed after the writer's snapshot fails the writer, not the key."""
    engine, low, silver = _pg_member(pg_url, 500_004)
    try:
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as writer:
            writer.execute(text("SELECT 1 FROM members WHERE id = 500004")).one()  # the snapshot is taken
            with engine.begin() as conn:
                conn.execute(delete(members).where(members.c.id == 500_004))
            started = time.monotonic()
            with pytest.raises(DBAPIError) as info:
                writer.execute(insert(tier_history).values([_row(500_004, low, silver)]))
            assert time.monotonic() - started < 10
            writer.rollback()
        assert info.value.orig.sqlstate in ("40001", "23503")  # type: ignore[union-attr]
        assert _history_count(engine) == 0
    finally:
        engine.dispose()


# --- the earning entries' keys (core_0031) -----------------------------------------------------------


def _entry_world(ctx: Context, programme: ProgrammeIds) -> tuple[int, int]:
    """A purchase that a fixed-bonus rule gave points, and that rule: (purchase id, rule id)."""
    from loyalty.db.programme_tables import earning_rules
    from loyalty.services import members as members_service
    from loyalty.services import purchases as purchases_service
    from loyalty.services.earning_rules.book import define_rules
    from loyalty.services.schemas import MemberIn, PurchaseIn, PurchaseLineIn

    define_rules(ctx, [{"code": "entry-bonus", "kind": "fixed_bonus", "points": 77}])
    member = members_service.register_member(ctx, MemberIn(phone="+8613900000777", name="Entry"))
    sale = PurchaseIn(
        store_id=programme.store_id,
        order_id="ENTRY-1",
        occurred_at=T0,
        member_id=member.id,
        currency="CNY",
        lines=[PurchaseLineIn(sku="SKU-1", category="apparel", quantity=1, unit_price_minor=10_000)],
    )
    purchase = purchases_service.post_purchase(ctx, sale)
    with ctx.engine.connect() as conn:
        rule_id = conn.execute(
            select(earning_rules.c.id).where(earning_rules.c.code == "entry-bonus")
        ).scalar_one()
        entries = conn.execute(
            select(func.count())
            .select_from(purchase_line_rules)
            .where(purchase_line_rules.c.rule_id == rule_id)
        ).scalar_one()
    assert entries == 1  # the sale's own entry, written by posting under the keys
    return purchase.purchase_id, rule_id


def _entries(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(purchase_line_rules)).scalar_one())


def test_an_earning_entry_must_name_an_existing_purchase_and_rule(
    ctx: Context, programme: ProgrammeIds
) -> None:
    purchase_id, rule_id = _entry_world(ctx, programme)
    good = {"purchase_id": purchase_id, "line_no": 2, "rule_id": rule_id, "points": 5}
    for bad, constraint in (
        ({"purchase_id": MISSING}, "fk_purchase_line_rules_purchase_id_purchases"),
        ({"rule_id": MISSING}, "fk_purchase_line_rules_rule_id_earning_rules"),
    ):
        # One statement of two rows, one of them bad: the whole statement is refused.
        _refused(
            ctx.engine, insert(purchase_line_rules).values([good, {**good, "line_no": 3, **bad}]), constraint
        )
    assert _entries(ctx.engine) == 1
    _refused(
        ctx.engine,
        update(purchase_line_rules)
        .where(purchase_line_rules.c.purchase_id == purchase_id)
        .values(rule_id=MISSING),
        "fk_purchase_line_rules_rule_id_earning_rules",
    )


def test_a_purchase_or_rule_an_entry_names_cannot_be_removed(ctx: Context, programme: ProgrammeIds) -> None:
    from loyalty.db.core_tables import purchase_lines, purchases
    from loyalty.db.programme_tables import earning_rules

    purchase_id, rule_id = _entry_world(ctx, programme)
    with ctx.engine.begin() as conn:  # the purchase's other rows go first: only the entry still names it
        conn.execute(delete(purchase_lines).where(purchase_lines.c.purchase_id == purchase_id))
        conn.execute(text("DELETE FROM point_lots WHERE purchase_id = :p"), {"p": purchase_id})
        conn.execute(
            text("UPDATE transfers SET purchase_id = NULL WHERE purchase_id = :p"), {"p": purchase_id}
        )
    _refused(
        ctx.engine,
        delete(purchases).where(purchases.c.id == purchase_id),
        "fk_purchase_line_rules_purchase_id_purchases",
    )
    _refused(
        ctx.engine,
        delete(earning_rules).where(earning_rules.c.id == rule_id),
        "fk_purchase_line_rules_rule_id_earning_rules",
    )
    assert _entries(ctx.engine) == 1
