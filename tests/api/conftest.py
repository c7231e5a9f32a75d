"""API test fixtures: one seeded world per backend and module (see `api_world`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.api_world import World, build_world, pg_world


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One seeded world per backend and test module."""
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("api") / "loyalty.db"
        w = build_world(f"sqlite:///{path}")
        yield w
        w.client.close()
        w.ctx.engine.dispose()
        return
    with pg_world() as w:
        yield w
