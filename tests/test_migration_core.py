"""Core migrations on a database that already holds ledger rows.

core_0002: the transfers table changes shape (SQLite rebuilds it) without losing a row, foreign keys
still hold, only an expiry may lack a debit. core_0003: unspent lots get their partial index and
PostgreSQL leaves room for HOT updates. core_0005: imported orders need no request hash, and the phone
placeholder of a member imported without one fits, and the unread transfers-by-member index is gone."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError

from loyalty.db.migrate import downgrade, upgrade

NOW = "2026-01-05 10:00:00"


def _debit_nullable(engine: Engine) -> bool:
    cols = {c["name"]: c for c in inspect(engine).get_columns("transfers")}
    return bool(cols["debit_account_id"]["nullable"])


def test_core_0002_keeps_rows_and_relaxes_only_expiry(engine: Engine) -> None:
    downgrade(engine, "core_0001")  # back to two-legged transfers only (SQLite rebuilds the table)
    assert not _debit_nullable(engine)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO merchants (id, code, name, currency, created_at) VALUES (1, 'M', 'M', 'CNY', :t)"
            ),
            {"t": NOW},
        )
        conn.execute(
            text(
                "INSERT INTO accounts (id, kind, merchant_id, balance, debt, created_at) VALUES "
                "(1, 'liability', 1, 0, 0, :t), (2, 'expired', 1, 0, 0, :t)"
            ),
            {"t": NOW},
        )
        conn.execute(
            text(
                "INSERT INTO transfers (id, kind, debit_account_id, credit_account_id, amount, rule, "
                "created_at) VALUES (7, 'adjust', 1, 2, 5, 'r', :t)"
            ),
            {"t": NOW},
        )
        conn.execute(
            text(
                "INSERT INTO postings (transfer_id, account_id, amount, created_at) VALUES "
                "(7, 1, -5, :t), (7, 2, 5, :t)"
            ),
            {"t": NOW},
        )
        with pytest.raises(IntegrityError), conn.begin_nested():
            conn.execute(
                text(
                    "INSERT INTO transfers (kind, debit_account_id, credit_account_id, amount, rule, "
                    "created_at) VALUES ('expire', NULL, 2, 5, 'r', :t)"
                ),
                {"t": NOW},
            )

    upgrade(engine)

    assert _debit_nullable(engine)
    with engine.begin() as conn:
        assert conn.execute(text("SELECT count(*) FROM postings WHERE transfer_id = 7")).scalar_one() == 2
        assert conn.execute(text("SELECT amount FROM transfers WHERE id = 7")).scalar_one() == 5
        conn.execute(
            text(
                "INSERT INTO transfers (kind, debit_account_id, credit_account_id, amount, rule, created_at) "
                "VALUES ('expire', NULL, 2, 5, 'expiry:run', :t)"
            ),
            {"t": NOW},
        )
        with pytest.raises(IntegrityError), conn.begin_nested():  # only an expiry run has no debit
            conn.execute(
                text(
                    "INSERT INTO transfers (kind, debit_account_id, credit_account_id, amount, rule, "
                    "created_at) VALUES ('redeem', NULL, 2, 5, 'r', :t)"
                ),
                {"t": NOW},
            )
        with pytest.raises(IntegrityError), conn.begin_nested():  # foreign keys still enforced
            conn.execute(
                text(
                    "INSERT INTO transfers (kind, debit_account_id, credit_account_id, amount, rule, "
                    "created_at) VALUES ('adjust', 1, 999, 5, 'r', :t)"
                ),
                {"t": NOW},
            )
    names = {i["name"] for i in inspect(engine).get_indexes("transfers")}
    assert "uq_transfers_expire_lot" in names


def test_core_0003_partial_due_index_and_room_for_hot_updates(engine: Engine) -> None:
    downgrade(engine, "core_0008")  # core_0009 drops the index again
    idx = {i["name"]: i for i in inspect(engine).get_indexes("point_lots")}
    assert "ix_point_lots_expires_remaining" not in idx
    assert idx["ix_point_lots_due"]["column_names"] == ["expires_at"]
    if engine.dialect.name != "postgresql":
        return
    with engine.connect() as conn:
        opts = dict(
            conn.execute(
                text("SELECT relname, reloptions FROM pg_class WHERE relname IN ('accounts', 'members')")
            ).all()
        )
        assert opts == {"accounts": ["fillfactor=50"], "members": ["fillfactor=50"]}
        conn.execute(text("SET enable_seqscan = off"))  # an empty table: ask whether the index can serve
        plan = "\n".join(
            conn.execute(
                text("EXPLAIN SELECT id FROM point_lots WHERE expires_at <= now() AND remaining > 0")
            ).scalars()
        )
    assert "ix_point_lots_due" in plan


def test_core_0005_imported_orders_need_no_hash_and_placeholders_fit(engine: Engine) -> None:
    def hash_nullable() -> bool:
        cols = {c["name"]: c for c in inspect(engine).get_columns("purchases")}
        return bool(cols["request_hash"]["nullable"])

    downgrade(engine, "core_0004")  # SQLite rebuilds purchases
    assert not hash_nullable()
    upgrade(engine)
    assert hash_nullable()
    indexes = {i["name"] for i in inspect(engine).get_indexes("purchases")}
    assert "ix_purchases_member_occurred" in indexes  # the rebuilt table kept its index...
    uniques = {u["name"] for u in inspect(engine).get_unique_constraints("purchases")}
    assert "uq_purchases_store_order" in uniques | indexes  # ... and its (store, order id) key
    phone = {c["name"]: c for c in inspect(engine).get_columns("members")}["phone"]
    if engine.dialect.name == "postgresql":
        assert phone["type"].length == 32
    assert "ix_transfers_member" not in {i["name"] for i in inspect(engine).get_indexes("transfers")}


def test_core_0008_widens_purchases_by_member_for_the_window_sum(engine: Engine) -> None:
    def columns() -> list[str]:
        (index,) = [
            i for i in inspect(engine).get_indexes("purchases") if i["name"] == "ix_purchases_member_occurred"
        ]
        return [str(c) for c in index["column_names"]]

    wide = ["member_id", "occurred_at", "total_minor", "refunded_minor"]
    assert columns() == wide  # a fresh database has it from the current definitions
    downgrade(engine, "core_0007")
    assert columns() == ["member_id", "occurred_at"]
    upgrade(engine)
    assert columns() == wide
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            plan = " ".join(
                str(r[-1])
                for r in conn.execute(
                    text(
                        "EXPLAIN QUERY PLAN SELECT sum(total_minor - refunded_minor) FROM purchases "
                        "WHERE member_id = 1 AND occurred_at > '2026-01-01' AND occurred_at <= '2026-02-01'"
                    )
                )
            )
        assert "COVERING INDEX ix_purchases_member_occurred" in plan


def test_core_0009_a_spent_lot_is_rewritten_in_place(engine: Engine) -> None:
    """No index names `remaining` any more, and on PostgreSQL a spend's rewrite of a lot is a HOT update."""
    assert "ix_point_lots_due" not in {i["name"] for i in inspect(engine).get_indexes("point_lots")}
    downgrade(engine, "core_0008")
    assert "ix_point_lots_due" in {i["name"] for i in inspect(engine).get_indexes("point_lots")}
    upgrade(engine)
    assert "ix_point_lots_due" not in {i["name"] for i in inspect(engine).get_indexes("point_lots")}
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as conn:
        options = conn.execute(text("SELECT reloptions FROM pg_class WHERE relname = 'point_lots'")).scalar()
        assert options == ["fillfactor=50"]
        for sql in (
            "INSERT INTO merchants (id, code, name, currency, created_at) VALUES (1, 'M', 'M', 'CNY', :t)",
            "INSERT INTO tiers (id, code, name, rank, threshold_minor, multiplier_pct) "
            "VALUES (1, 'base', 'Base', 0, 0, 100)",
            "INSERT INTO members (id, phone, name, tags, marketing_consent, card_no, member_code, status, "
            "tier_id, created_at, updated_at) "
            "VALUES (1, '+8613800000000', 'm', '[]', false, '7700000000001', 'C1', 'active', 1, :t, :t)",
            "INSERT INTO accounts (id, kind, member_id, merchant_id, balance, debt, created_at) "
            "VALUES (1, 'liability', NULL, 1, -30, 0, :t), (2, 'member', 1, NULL, 30, 0, :t)",
            "INSERT INTO transfers (id, kind, debit_account_id, credit_account_id, amount, rule, created_at) "
            "VALUES (1, 'earn', 1, 2, 30, 'r', :t)",
            "INSERT INTO point_lots (account_id, member_id, merchant_id, transfer_id, amount, debt_paid, "
            "remaining, available_at, expires_at, created_at) "
            "SELECT 2, 1, 1, 1, 10, 0, 10, :t, :t, :t FROM generate_series(1, 3)",
        ):
            conn.execute(text(sql), {"t": NOW})
        conn.execute(text("UPDATE point_lots SET remaining = remaining - 4"))  # spends draw on them
        conn.execute(text("UPDATE point_lots SET remaining = 0"))  # and the rest expires
        hot = conn.execute(text("SELECT pg_stat_get_xact_tuples_hot_updated('point_lots'::regclass)"))
        assert hot.scalar_one() == 6


_TIER_KEYS = {
    "fk_members_tier_id_tiers",
    "fk_tier_history_member_id_members",
    "fk_tier_history_from_tier_id_tiers",
    "fk_tier_history_to_tier_id_tiers",
}


def _tier_keys(engine: Engine) -> tuple[set[str], set[str]]:
    """(the native tier keys of members and tier_history, the triggers that check them on PostgreSQL)."""
    native = {
        str(fk["name"])
        for table in ("members", "tier_history")
        for fk in inspect(engine).get_foreign_keys(table)
    }
    if engine.dialect.name != "postgresql":
        return native & _TIER_KEYS, set()
    with engine.connect() as conn:
        triggers = conn.execute(
            text(
                "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal "
                "AND (tgname LIKE 'tier\\_history%' OR tgname LIKE 'members\\_%')"
            )
        )
        return native & _TIER_KEYS, set(triggers.scalars())


def test_core_0010_tier_keys_move_between_native_and_per_statement(engine: Engine) -> None:
    """PostgreSQL trades the four native keys for statement triggers and back; SQLite keeps them native."""
    triggers = {
        f"{table}_keys_on_{event}" for table in ("members", "tier_history") for event in ("insert", "update")
    } | {
        f"{guard}{whole}"
        for guard in ("members_keeps_tiers", "tier_history_keeps_members", "tier_history_keeps_tiers")
        for whole in ("", "_whole")
    }
    pg = engine.dialect.name == "postgresql"
    assert _tier_keys(engine) == ((set(), triggers) if pg else (_TIER_KEYS, set()))
    downgrade(engine, "core_0009")
    assert _tier_keys(engine) == (_TIER_KEYS, set())
    upgrade(engine)
    assert _tier_keys(engine) == ((set(), triggers) if pg else (_TIER_KEYS, set()))


def _purchases_shape(engine: Engine) -> tuple[bool, set[str], set[str], str]:
    """(member_id nullable, the columns core_0011 adds that exist, its CHECKs that exist, index text)."""
    columns = {c["name"]: c for c in inspect(engine).get_columns("purchases")}
    checks = {str(c["name"]) for c in inspect(engine).get_check_constraints("purchases")}
    pg = engine.dialect.name == "postgresql"
    index_sql = (
        "SELECT indexdef FROM pg_indexes WHERE indexname = :n"
        if pg
        else "SELECT sql FROM sqlite_master WHERE name = :n"
    )
    with engine.connect() as conn:
        index = str(conn.execute(text(index_sql), {"n": "ix_purchases_member_occurred"}).scalar_one())
    return (
        bool(columns["member_id"]["nullable"]),
        {"channel", "claimed_at"} & set(columns),
        {"ck_purchases_channel", "ck_purchases_anonymous"} & checks,
        index,
    )


def _sale(conn: Any, order: str, member: str, *, points: int = 0, channel: str | None = None) -> None:
    cols = "store_id, member_id, order_id, occurred_at, total_minor, eligible_minor, refunded_minor, " + (
        "currency, points_earned, points_reversed, redeemed_points, rule, created_at"
    )
    values = f"1, {member}, '{order}', :t, 1000, 1000, 0, 'CNY', {points}, 0, 0, 'r', :t"
    if channel is not None:
        cols, values = cols + ", channel", values + f", '{channel}'"
    conn.execute(text(f"INSERT INTO purchases ({cols}) VALUES ({values})"), {"t": NOW})


def test_core_0011_anonymous_sales_and_channels_both_ways(engine: Engine) -> None:
    """Anonymous sales (no member) and channels, checked by the database; the downgrade refuses to drop
    anonymous sales, and otherwise both directions keep every sale."""
    everything = (True, {"channel", "claimed_at"}, {"ck_purchases_channel", "ck_purchases_anonymous"})
    assert _purchases_shape(engine)[:3] == everything
    assert "WHERE" in _purchases_shape(engine)[3].upper()  # anonymous sales are not in the window index
    with engine.begin() as conn:
        for sql in (
            "INSERT INTO merchants (id, code, name, currency, created_at) VALUES (1, 'M', 'M', 'CNY', :t)",
            "INSERT INTO stores (id, merchant_id, code, name, timezone, created_at) "
            "VALUES (1, 1, 'S1', 'S1', 'Asia/Shanghai', :t)",
            "INSERT INTO tiers (id, code, name, rank, threshold_minor, multiplier_pct) "
            "VALUES (1, 'base', 'Base', 0, 0, 100)",
            "INSERT INTO members (id, phone, name, tags, marketing_consent, card_no, member_code, status, "
            "tier_id, created_at, updated_at) "
            "VALUES (1, '+8613800000000', 'm', '[]', false, '7700000000001', 'C1', 'active', 1, :t, :t)",
        ):
            conn.execute(text(sql), {"t": NOW})
        _sale(conn, "member-sale", "1", points=10, channel="online")
        _sale(conn, "anonymous", "NULL")
        assert (
            conn.execute(text("SELECT channel FROM purchases WHERE order_id = 'anonymous'")).scalar()
            == "store"
        )
        for order, member, points, channel in (
            ("bad-channel", "1", 0, "phone"),
            ("anonymous-earning", "NULL", 5, None),
        ):
            with pytest.raises(IntegrityError), conn.begin_nested():
                _sale(conn, order, member, points=points, channel=channel)

    with pytest.raises(RuntimeError, match="1 anonymous sales"):
        downgrade(engine, "core_0010")
    assert _purchases_shape(engine)[:3] == everything  # nothing was changed
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM purchases WHERE member_id IS NULL"))
    downgrade(engine, "core_0010")
    nullable, added, checks, index = _purchases_shape(engine)
    assert (nullable, added, checks) == (False, set(), set())
    assert "WHERE" not in index.upper()
    with engine.begin() as conn:
        with pytest.raises(IntegrityError), conn.begin_nested():
            _sale(conn, "anonymous-again", "NULL")
        assert conn.execute(text("SELECT count(*) FROM purchases")).scalar_one() == 1

    upgrade(engine)
    assert _purchases_shape(engine)[:3] == everything
    assert "WHERE" in _purchases_shape(engine)[3].upper()
    with engine.begin() as conn:
        rows = conn.execute(text("SELECT order_id, member_id, channel, points_earned FROM purchases")).all()
        assert [tuple(r) for r in rows] == [("member-sale", 1, "store", 10)]  # the channel came back as store
        _sale(conn, "anonymous-after", "NULL", channel="delivery")
        with pytest.raises(IntegrityError), conn.begin_nested():
            _sale(conn, "bad-channel", "1", channel="phone")


def _tier_benefit_shape(engine: Engine) -> tuple[bool, bool, bool]:
    insp = inspect(engine)
    return (
        "services" in {c["name"] for c in insp.get_columns("tiers")},
        "tiers" in {c["name"] for c in insp.get_columns("rewards")},
        "ix_coupons_offer" in {i["name"] for i in insp.get_indexes("coupons")},
    )


def test_core_0027_tier_services_reward_tiers_and_coupons_by_offer_both_ways(engine: Engine) -> None:
    """A tier defined before core_0027 has no services (`[]`, also when a row names none); down and up
    again keep every tier, and the offer's coupons index comes and goes with the columns."""
    assert _tier_benefit_shape(engine) == (True, True, True)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO tiers (id, code, name, rank, threshold_minor, multiplier_pct) "
                "VALUES (1, 'base', 'Base', 0, 0, 100)"
            )
        )
        assert conn.execute(text("SELECT services FROM tiers")).scalar_one() in ("[]", [])
    downgrade(engine, "core_0026")
    assert _tier_benefit_shape(engine) == (False, False, False)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO tiers (id, code, name, rank, threshold_minor, multiplier_pct) "
                "VALUES (2, 'gold', 'Gold', 1, 100000, 150)"
            )
        )
    upgrade(engine)
    assert _tier_benefit_shape(engine) == (True, True, True)
    with engine.begin() as conn:
        rows = conn.execute(text("SELECT code, services FROM tiers ORDER BY rank")).all()
    assert [(code, services in ("[]", [])) for code, services in rows] == [("base", True), ("gold", True)]


def _staff_columns(engine: Engine) -> tuple[bool, bool]:
    """(purchases.staff exists, members.registered_by exists)."""
    insp = inspect(engine)
    return (
        "staff" in {c["name"] for c in insp.get_columns("purchases")},
        "registered_by" in {c["name"] for c in insp.get_columns("members")},
    )


def test_core_0028_who_rang_a_sale_and_signed_a_member_up_both_ways(engine: Engine) -> None:
    """A sale keeps its staff code and a member who signed them up; down drops both columns and keeps
    every row, up brings them back empty (NULL: nobody named) and they take codes again."""
    assert _staff_columns(engine) == (True, True)
    with engine.begin() as conn:
        for sql in (
            "INSERT INTO merchants (id, code, name, currency, created_at) VALUES (1, 'M', 'M', 'CNY', :t)",
            "INSERT INTO stores (id, merchant_id, code, name, timezone, created_at) "
            "VALUES (1, 1, 'S1', 'S1', 'Asia/Shanghai', :t)",
            "INSERT INTO tiers (id, code, name, rank, threshold_minor, multiplier_pct) "
            "VALUES (1, 'base', 'Base', 0, 0, 100)",
            "INSERT INTO members (id, phone, name, tags, marketing_consent, card_no, member_code, status, "
            "tier_id, created_at, updated_at, registered_by) "
            "VALUES (1, '+8613800000000', 'm', '[]', false, '7700000000001', 'C1', 'active', 1, :t, :t, "
            "'收银员 07')",
        ):
            conn.execute(text(sql), {"t": NOW})
        _sale(conn, "named", "1")
        _sale(conn, "nobody", "NULL")
        conn.execute(text("UPDATE purchases SET staff = 'SH01-C1' WHERE order_id = 'named'"))
    downgrade(engine, "core_0027")
    assert _staff_columns(engine) == (False, False)
    with engine.begin() as conn:
        assert conn.execute(text("SELECT count(*) FROM purchases")).scalar_one() == 2
        assert conn.execute(text("SELECT name FROM members")).scalar_one() == "m"
        _sale(conn, "before", "1")  # a sale written by the code before core_0028
    upgrade(engine)
    assert _staff_columns(engine) == (True, True)
    with engine.begin() as conn:
        rows = conn.execute(text("SELECT order_id, staff FROM purchases ORDER BY order_id")).all()
        assert [tuple(r) for r in rows] == [("before", None), ("named", None), ("nobody", None)]
        assert conn.execute(text("SELECT registered_by FROM members")).scalar_one() is None
        longest = {"code": "C" * 100}
        conn.execute(text("UPDATE purchases SET staff = :code WHERE order_id = 'before'"), longest)
        kept = conn.execute(text("SELECT staff FROM purchases WHERE order_id = 'before'")).scalar_one()
        assert kept == longest["code"]


def test_core_0029_feedback_table_both_ways(engine: Engine) -> None:
    """Down drops the members' ratings (and nothing else), up brings the table back empty with its
    unique purchase, its rating check and its store index."""
    assert "feedback" in inspect(engine).get_table_names()
    downgrade(engine, "core_0028")
    assert "feedback" not in inspect(engine).get_table_names()
    upgrade(engine)
    insp = inspect(engine)
    assert "ix_feedback_store_created" in {i["name"] for i in insp.get_indexes("feedback")}
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM feedback")).scalar_one() == 0
