"""Sliding-window rate limits for login, phone lookup and code-guessing surfaces.

Keyed by (surface, client address): an attacker guessing card numbers or passwords from one address is
slowed down without affecting other tills. `RateLimiter` keeps the windows in process, enough for one
`loyalty serve` process; with `LOYALTY_REDIS_URL` set, `RedisRateLimiter` keeps them in Redis so that
every worker and host counts against the same window (a per-process window would let an attacker N
times the attempts behind N workers).
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

from loyalty.api.errors import ApiError, Term
from loyalty.i18n import marker

#: surface → (allowed attempts, window in seconds)
DEFAULT_LIMITS: dict[str, tuple[int, float]] = {
    "login": (10, 60.0),
    "member_login": (10, 60.0),
    "member_lookup": (120, 60.0),
}


log = logging.getLogger(__name__)


N_ = marker("api")
#: what each limited surface is called in the 429's detail
SURFACE_NAMES = {"login": N_("login"), "member_lookup": N_("member lookup")}


def too_many(surface: str, retry_after: int) -> ApiError:
    """The 429 problem, with the seconds until the oldest counted attempt leaves the window."""
    return ApiError(
        429,
        "RATE_LIMITED",
        "Too many {surface} attempts; retry in {retry_after} s.",
        headers={"Retry-After": str(retry_after)},
        values={
            "surface": Term(SURFACE_NAMES.get(surface, surface.replace("_", " "))),
            "retry_after": retry_after,
        },
    )


class RateLimiter:
    """Counts attempts per (surface, client) in a sliding window and refuses the excess with 429."""

    #: whether `hit` waits on the network (callers on an event loop then hand it to a thread)
    blocking_io = False

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
                raise too_many(surface, max(1, math.ceil(hits[0] + window - now)))
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


# Atomic check-and-count on one sorted set per (surface, client), scored by Redis' own clock so that
# every worker agrees on time. Returns 0 when the attempt is counted, else the milliseconds until the
# oldest attempt leaves the window.
_SLIDING_WINDOW = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local window_ms = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms - window_ms)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(1, tonumber(oldest[2]) + window_ms - now_ms)
end
redis.call('ZADD', KEYS[1], now_ms, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window_ms)
return 0
"""


class RedisRateLimiter:
    """The same limits kept in Redis, shared by every process and host that uses the same server.

    If Redis cannot be reached the attempt is counted by an in-process limiter instead (logged): a
    Redis outage weakens the limit to one process's window rather than locking every cashier out.
    """

    blocking_io = True

    def __init__(
        self,
        url: str,
        limits: dict[str, tuple[int, float]] | None = None,
        *,
        prefix: str = "loyalty:ratelimit",
    ) -> None:
        import redis

        self.limits = {**DEFAULT_LIMITS, **(limits or {})}
        self.prefix = prefix
        self._redis: Any = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._script = self._redis.register_script(_SLIDING_WINDOW)
        self._errors: tuple[type[Exception], ...] = (redis.RedisError, OSError)
        self._fallback = RateLimiter(limits)

    def hit(self, surface: str, client: str) -> None:
        """Record one attempt; raise a 429 problem with Retry-After when over the limit."""
        allowed, window = self.limits[surface]
        key = f"{self.prefix}:{surface}:{client}"
        try:
            wait_ms = int(self._script(keys=[key], args=[allowed, int(window * 1000), uuid.uuid4().hex]))
        except self._errors as exc:
            log.warning("rate limiter: Redis unavailable (%s); counting in process", exc)
            self._fallback.hit(surface, client)
            return
        if wait_ms:
            raise too_many(surface, max(1, math.ceil(wait_ms / 1000)))

    def reset(self) -> None:
        """Forget every window under this limiter's prefix (tests, or after an incident)."""
        for key in self._redis.scan_iter(match=f"{self.prefix}:*"):
            self._redis.delete(key)
        self._fallback.reset()


def limiter_for(redis_url: str | None, limits: dict[str, tuple[int, float]] | None = None) -> Any:
    """Redis-backed limits when a Redis URL is configured, in-process ones otherwise."""
    return RedisRateLimiter(redis_url, limits) if redis_url else RateLimiter(limits)
