"""Deferred ledger indexes: when an import drops them, and that they always come back."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from loyalty.bootstrap import Context
from loyalty.db import deferred_indexes
from loyalty.db.engine import make_engine
from loyalty.db.migrate import upgrade
from loyalty.imports.runner import ImportOptions, import_file

NAMES = [
    "ix_postings_account",
    "ix_point_lots_account_expiry",
    "ix_purchases_member_occurred",
    "ix_purchases_store_occurred",
]


def test_upgrade_builds_what_a_killed_import_left_out(tmp_path: Path) -> None:
    """SQLite only: no import defers indexes on PostgreSQL (see the next test)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'deferred.db'}")
    upgrade(engine)
    with engine.begin() as conn:
        assert deferred_indexes.missing(conn) == []
        deferred_indexes.drop(conn)
        deferred_indexes.drop(conn)  # already gone: no error
        assert deferred_indexes.missing(conn) == NAMES
    upgrade(engine)
    with engine.begin() as conn:
        assert deferred_indexes.missing(conn) == []
        assert deferred_indexes.restore(conn) == []  # nothing left to build
    engine.dispose()


def test_only_large_imports_that_at_least_double_the_ledger_defer(ctx: Context, small_chain_dir) -> None:  # type: ignore[no-untyped-def]
    files, _ = small_chain_dir
    with ctx.engine.connect() as conn:
        assert not deferred_indexes.worth_deferring(conn, deferred_indexes.DEFER_MIN_LINES - 1)
        assert deferred_indexes.worth_deferring(conn, deferred_indexes.DEFER_MIN_LINES) == (
            ctx.engine.dialect.name == "sqlite"
        )
    import_file(ctx, "members", files.members, ImportOptions())
    import_file(ctx, "purchases", files.purchases, ImportOptions(defer_indexes=True))
    with ctx.engine.connect() as conn:
        assert deferred_indexes.missing(conn) == []
        held = int(conn.execute(text("SELECT count(*) FROM purchase_lines")).scalar_one())
        sqlite = ctx.engine.dialect.name == "sqlite"
        assert deferred_indexes.worth_deferring(conn, held, min_lines=1) == sqlite
        assert not deferred_indexes.worth_deferring(conn, held - 1, min_lines=1)
