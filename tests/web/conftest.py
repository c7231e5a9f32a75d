"""Console test fixtures: the API tests' seeded world (two stores, members, a staff user per role),
once per backend and module.

A browser test file runs on one backend (`world_on_one`): a page's database work is the same code
as the console's TestClient tests, which run every page on both backends, and driving Chromium
through a flow costs ten times what the page's requests do. The flows are shared between the two:
the till, the dashboard and the offers on PostgreSQL; administration, analytics, merging and the
member portal on SQLite.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.api.api_world import World, world_on

_BACKENDS = {"sqlite": (), "postgresql": (pytest.mark.postgres,)}


def _world_on(*backends: str) -> Callable[..., Any]:
    """A module-scoped `world` fixture, once on each of `backends`."""

    @pytest.fixture(scope="module", params=[pytest.param(b, marks=_BACKENDS[b]) for b in backends])
    def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
        with world_on(request.param, tmp_path_factory.mktemp("web")) as w:
            yield w

    return world


world = _world_on("sqlite", "postgresql")


def world_on_one(backend: str) -> Callable[..., Any]:
    """The `world` fixture of a browser test file, on `backend` only (`world = world_on_one(...)`)."""
    return _world_on(backend)
