"""Core fixtures: a Context with a settable clock on each backend, and the seeded default programme."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from loyalty.bootstrap import Context, FrozenClock
from loyalty.config import Settings
from loyalty.services import seed

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def ctx(engine: Engine, clock: FrozenClock) -> Context:
    return Context(engine=engine, settings=Settings(), clock=clock)


@pytest.fixture
def programme(ctx: Context) -> seed.ProgrammeIds:
    return seed.ensure_programme(ctx)
