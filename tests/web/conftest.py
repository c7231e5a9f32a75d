"""Console test fixtures: the API tests' seeded world (two stores, members, a staff user per role),
once per backend and module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.api_world import World, build_world, pg_world


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("web") / "loyalty.db"
        w = build_world(f"sqlite:///{path}")
        yield w
        w.client.close()
        w.ctx.engine.dispose()
        return
    with pg_world() as w:
        yield w
