"""API test fixtures: one seeded world per backend and module (see `api_world`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.api_world import World, world_on


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One seeded world per backend and test module."""
    with world_on(request.param, tmp_path_factory.mktemp("api")) as w:
        yield w
