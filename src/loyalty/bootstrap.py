"""The application context handed to every service: engine, settings and an injectable clock.

Services never read globals: tests pass a frozen clock, entry points build one Context per process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from loyalty.config import Settings, get_settings
from loyalty.db.engine import make_engine


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    """Engine + settings + clock. `clock` must return aware datetimes."""

    engine: Engine
    settings: Settings = field(default_factory=get_settings)
    clock: Callable[[], datetime] = _utcnow
    # Per-process lookups that rarely change, kept off the purchase hot path: the catalogue of stores,
    # programmes and tiers (`services.catalogue`); services that change them call `invalidate()`.
    cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_url(cls, url: str | None = None, *, settings: Settings | None = None) -> Context:
        """Build a context for `url` (None → `settings.database_url`)."""
        s = settings or get_settings()
        return cls(engine=make_engine(url or s.database_url, echo=s.sql_echo), settings=s)

    def now(self) -> datetime:
        return self.clock()

    def invalidate(self) -> None:
        self.cache.clear()


class FrozenClock:
    """A clock that stands still until moved: for tests, replays and back-dated batch jobs."""

    def __init__(self, now: datetime) -> None:
        if now.tzinfo is None:
            raise ValueError("FrozenClock needs an aware datetime")
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> datetime:
        from datetime import timedelta

        self.now += timedelta(**kw)
        return self.now
