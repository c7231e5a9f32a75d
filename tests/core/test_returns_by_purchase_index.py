"""core_0012: a database migrated before it gets the returns-by-purchase index; downgrading removes it."""

from __future__ import annotations

from sqlalchemy import Engine, inspect

from loyalty.db.migrate import downgrade, upgrade


def _has_index(engine: Engine) -> bool:
    return any(ix["name"] == "ix_returns_purchase" for ix in inspect(engine).get_indexes("returns"))


def test_core_0012_adds_and_removes_the_index(engine: Engine) -> None:
    assert _has_index(engine)  # a fresh database has it from the table definitions
    downgrade(engine, "core_0011")
    assert not _has_index(engine)
    upgrade(engine)
    assert _has_index(engine)
