"""Console test fixtures: the API tests' seeded world (two stores, members, a staff user per role),
once per backend and module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.api_world import World, world_on


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with world_on(request.param, tmp_path_factory.mktemp("web")) as w:
        yield w
