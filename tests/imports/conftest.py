"""Area fixtures: a seeded programme with the demo stores, and a small generated chain on disk."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from loyalty.bootstrap import Context, FrozenClock
from loyalty.demo.generator import ChainFiles, ChainSpec, generate, write_files

SMALL = ChainSpec(members=120, months=3, seed=5, end=date(2026, 10, 1))


@pytest.fixture(scope="session")
def small_chain_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[ChainFiles, list[dict[str, str]]]:
    data = generate(SMALL)
    files = write_files(data, tmp_path_factory.mktemp("chain"))
    return files, data.stores.to_pylist()


@pytest.fixture
def ctx(db_url: str) -> Iterator[Context]:
    """A context on a migrated database with the programme seeded and the demo stores created."""
    from loyalty.demo.chain import ensure_stores
    from loyalty.services.seed import ensure_programme

    context = Context.from_url(db_url)
    context.clock = FrozenClock(datetime(2026, 10, 1, 12, tzinfo=UTC))
    ensure_programme(context)
    ensure_stores(context, generate(ChainSpec(members=1, months=1)).stores.to_pylist())
    yield context
    context.engine.dispose()


def totals(context: Context) -> dict[str, int]:
    """Counts and sums that must be identical after any re-run or resumed run."""
    from sqlalchemy import text

    queries = {
        "members": "SELECT count(*) FROM members",
        "purchases": "SELECT count(*) FROM purchases",
        "lines": "SELECT count(*) FROM purchase_lines",
        "returns": "SELECT count(*) FROM returns",
        "spend": "SELECT coalesce(sum(total_minor), 0) FROM purchases",
        "points_earned": "SELECT coalesce(sum(points_earned), 0) FROM purchases",
        "balance": "SELECT coalesce(sum(balance), 0) FROM accounts WHERE kind = 'member'",
        "transfers": "SELECT count(*) FROM transfers",
        "lots": "SELECT count(*) FROM point_lots",
        "tier_changes": "SELECT count(*) FROM tier_history",
    }
    with context.engine.connect() as conn:
        return {k: int(conn.execute(text(q)).scalar_one()) for k, q in queries.items()}


@pytest.fixture
def totals_of():  # type: ignore[no-untyped-def]
    """The `totals` function, as a fixture (test modules here are not a package)."""
    return totals


__all__ = ["Path", "totals"]
