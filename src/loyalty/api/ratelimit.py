"""In-process sliding-window rate limits for login, phone lookup and code-guessing surfaces.

Keyed by (surface, client address): an attacker guessing card numbers or passwords from one address is
slowed down without affecting other tills. In-process state is enough for one `loyalty serve` process;
a multi-process deployment should put the same interface in front of Redis (see docs/api.md).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from loyalty.api.errors import ApiError

#: surface → (allowed attempts, window in seconds)
DEFAULT_LIMITS: dict[str, tuple[int, float]] = {
    "login": (10, 60.0),
    "member_login": (10, 60.0),
    "member_lookup": (120, 60.0),
}


class RateLimiter:
    """Counts attempts per (surface, client) in a sliding window and refuses the excess with 429."""

    def __init__(
        self,
        limits: dict[str, tuple[int, float]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = {**DEFAULT_LIMITS, **(limits or {})}
        self._clock = clock
        self._hits: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, surface: str, client: str) -> None:
        """Record one attempt; raise a 429 problem with Retry-After when over the limit."""
        allowed, window = self.limits[surface]
        now = self._clock()
        with self._lock:
            hits = self._hits.setdefault((surface, client), deque())
            while hits and hits[0] <= now - window:
                hits.popleft()
            if len(hits) >= allowed:
                retry_after = max(1, math.ceil(hits[0] + window - now))
                raise ApiError(
                    429,
                    "RATE_LIMITED",
                    f"Too many {surface.replace('_', ' ')} attempts; retry in {retry_after} s.",
                    headers={"Retry-After": str(retry_after)},
                )
            hits.append(now)
            if len(self._hits) > 100_000:  # bound memory under a spray of client addresses
                self._evict(now)

    def _evict(self, now: float) -> None:
        longest = max(w for _, w in self.limits.values())
        for key in [k for k, v in self._hits.items() if not v or v[-1] <= now - longest]:
            del self._hits[key]

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()
