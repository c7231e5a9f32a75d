"""Sliding-window rate limits for login and for every answer that tells whether a member exists.

Keyed by (surface, client): `login` by the client's address (nobody is authenticated yet; see
`loyalty.api.server.proxy_options` for which address that is), `lookup` by the caller (`Lookups`),
so one till or user guessing passwords, phone numbers, card numbers, member codes or receipts is
slowed down without affecting the others. `RateLimiter` keeps the windows in process, enough for one
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
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool

from loyalty.api.errors import ApiError, Term
from loyalty.domain.errors import DomainError
from loyalty.i18n import marker

if TYPE_CHECKING:
    from fastapi import Request

    from loyalty.api.security import Principal

#: the one surface shared by every answer to "does this phone, card, member code or receipt exist"
LOOKUP = "lookup"

#: surface → (allowed attempts, window in seconds)
DEFAULT_LIMITS: dict[str, tuple[int, float]] = {
    "login": (10, 60.0),
    LOOKUP: (120, 60.0),
}

#: domain error codes by which a write tells that a phone, card, member code or receipt exists or not
EXISTENCE_ANSWERS = frozenset(
    {
        "MEMBER_NOT_FOUND",
        "DUPLICATE_PHONE",
        "RECEIPT_NOT_FOUND",
        "ORDER_NOT_FOUND",
        "PURCHASE_CLAIM_TOTAL_MISMATCH",
        "COUPON_NOT_USABLE",
    }
)


log = logging.getLogger(__name__)


N_ = marker("api")
#: what each limited surface is called in the 429's detail
SURFACE_NAMES = {"login": N_("login"), LOOKUP: N_("member and receipt lookup")}


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

    def check(self, surface: str, client: str) -> None:
        """Raise the 429 problem when the window is full, without counting an attempt."""
        allowed, window = self.limits[surface]
        now = self._clock()
        with self._lock:
            hits = self._hits.get((surface, client))
            if not hits:
                return
            while hits and hits[0] <= now - window:
                hits.popleft()
            if len(hits) >= allowed:
                raise too_many(surface, max(1, math.ceil(hits[0] + window - now)))

    def _evict(self, now: float) -> None:
        longest = max(w for _, w in self.limits.values())
        for key in [k for k, v in self._hits.items() if not v or v[-1] <= now - longest]:
            del self._hits[key]

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()


# Atomic check-and-count on one sorted set per (surface, client), scored by Redis' own clock so that
# every worker agrees on time. Returns the milliseconds until the oldest attempt leaves the window
# when the attempt is refused; when it is counted, 0, or minus those milliseconds if it filled the
# window (so that `check` can refuse the next one without asking Redis).
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
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return -math.max(1, tonumber(oldest[2]) + window_ms - now_ms)
end
return 0
"""


class RedisRateLimiter:
    """The same limits kept in Redis, shared by every process and host that uses the same server.

    If Redis cannot be reached the attempt is counted by an in-process limiter instead (logged): a
    Redis outage weakens the limit to one process's window rather than locking every cashier out.
    `check` asks no network: it refuses while a window this process saw fill is full, so on the POS
    path it costs a dictionary look-up; another worker's attempts are seen at this one's next count.
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
        self._full: dict[str, float] = {}  # key → monotonic time at which its window has room again
        self._full_lock = threading.Lock()

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
            with self._full_lock:
                if len(self._full) > 100_000:
                    now = time.monotonic()
                    self._full = {k: until for k, until in self._full.items() if until > now}
                self._full[key] = time.monotonic() + abs(wait_ms) / 1000
        if wait_ms > 0:
            raise too_many(surface, max(1, math.ceil(wait_ms / 1000)))

    def check(self, surface: str, client: str) -> None:
        """Raise the 429 problem while a window this process saw fill is full; counts nothing."""
        until = self._full.get(f"{self.prefix}:{surface}:{client}")
        if until is not None:
            left = until - time.monotonic()
            if left > 0:
                raise too_many(surface, max(1, math.ceil(left)))
        self._fallback.check(surface, client)  # attempts counted in process while Redis was away

    def reset(self) -> None:
        """Forget every window under this limiter's prefix (tests, or after an incident)."""
        for key in self._redis.scan_iter(match=f"{self.prefix}:*"):
            self._redis.delete(key)
        self._fallback.reset()
        with self._full_lock:
            self._full.clear()


def limiter_for(redis_url: str | None, limits: dict[str, tuple[int, float]] | None = None) -> Any:
    """Redis-backed limits when a Redis URL is configured, in-process ones otherwise."""
    return RedisRateLimiter(redis_url, limits) if redis_url else RateLimiter(limits)


class Lookups:
    """The shared `lookup` limit as one caller (a till's key, a staff user, a member) meets it.

    Every answer to "does this phone, card number, member code or receipt exist" counts against one
    window per caller, whichever endpoint gives it, so the limit of the member lookup cannot be walked
    around through the member list, a registration or a claim. Reads that answer by their result (the
    lookup, list filters by phone, card or text) `count` every request. Writes that name a member by
    phone, card or code, or a receipt, run under `guard`: refused while the window is full, they
    count only the answers that tell existence (a conflict, a not-found), so a till's ordinary sales
    by card never fill it, while a caller who has spent the window learns nothing more from them.
    """

    __slots__ = ("_key", "_limiter")

    def __init__(self, limiter: Any, caller: Principal) -> None:
        self._limiter = limiter
        self._key = caller.scope_key

    @classmethod
    def of(cls, request: Request, caller: Principal) -> Lookups:
        return cls(request.app.state.limiter, caller)

    def count(self) -> None:
        """Count one lookup (blocking on Redis: call from a worker thread); 429 past the limit."""
        self._limiter.hit(LOOKUP, self._key)

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Refuse while the window is full; count the block's existence answers (worker thread)."""
        self._limiter.check(LOOKUP, self._key)
        try:
            yield
        except DomainError as exc:
            if exc.code in EXISTENCE_ANSWERS:
                self._limiter.hit(LOOKUP, self._key)
            raise

    @asynccontextmanager
    async def guard_async(self) -> AsyncIterator[None]:
        """`guard` for an endpoint on the event loop: Redis is only reached, from a worker thread,
        when an existence answer is counted."""
        self._limiter.check(LOOKUP, self._key)
        try:
            yield
        except DomainError as exc:
            if exc.code in EXISTENCE_ANSWERS:
                if self._limiter.blocking_io:
                    await run_in_threadpool(self._limiter.hit, LOOKUP, self._key)
                else:
                    self._limiter.hit(LOOKUP, self._key)
            raise
