"""FastAPI dependencies as typed `Annotated` aliases: context, caller, permissions, rate limits.

Routers declare what they need (`Staff`, `Pos`, `MemberPrincipal`, `CtxDep`) and get a resolved,
authorised principal; nothing in a router parses headers or compares roles by hand.

The dependencies are `async def` because they only compute: FastAPI sends every *sync* dependency
through the thread pool, a thread hop per dependency per request that cost more than the work. The
one that may read the database (an API key or member token not yet in the cache) hands that read
to the thread pool itself.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from starlette.concurrency import run_in_threadpool

from loyalty.api.errors import forbidden, unauthenticated
from loyalty.api.security import Principal, principal_from_jwt
from loyalty.domain.errors import InvalidInput
from loyalty.services import auth as auth_service

if TYPE_CHECKING:
    from loyalty.bootstrap import Context

_bearer = HTTPBearer(auto_error=False, description="Staff JWT or member token")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="Per-store POS key")

#: how long a verified API key / member token is trusted without re-reading the database
CREDENTIAL_CACHE_TTL = 30.0


async def get_ctx(request: Request) -> Context:
    return request.app.state.ctx  # type: ignore[no-any-return]


CtxDep = Annotated["Context", Depends(get_ctx)]


class CredentialCache:
    """A small TTL cache of verified opaque credentials so a POS call costs no extra database read.

    Keyed by the SHA-256 of the presented secret (the secret itself is never kept in memory here).
    Revocation takes effect after at most `ttl` seconds; documented in docs/api.md.
    """

    def __init__(
        self, ttl: float = CREDENTIAL_CACHE_TTL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self._clock = clock
        self._items: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(presented: str) -> str:
        return hashlib.sha256(presented.encode()).hexdigest()

    def get(self, presented: str) -> Principal | None:
        key = self._key(presented)
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            if item[0] < self._clock():
                del self._items[key]
                return None
            return item[1]

    def put(self, presented: str, principal: Principal) -> None:
        with self._lock:
            if len(self._items) > 10_000:
                self._items.clear()
            self._items[self._key(presented)] = (self._clock() + self.ttl, principal)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def _cache(request: Request) -> CredentialCache:
    cache: CredentialCache | None = getattr(request.app.state, "credential_cache", None)
    if cache is None:
        cache = request.app.state.credential_cache = CredentialCache()
    return cache


async def _resolve(
    request: Request,
    bearer: HTTPAuthorizationCredentials | None,
    api_key: str | None,
) -> Principal:
    ctx: Context = request.app.state.ctx
    if api_key:
        cache = _cache(request)
        principal = cache.get(api_key)
        if principal is None:
            info = await run_in_threadpool(auth_service.verify_api_key, ctx, api_key)
            if info is None:
                raise unauthenticated("Invalid API key.")
            principal = Principal(
                kind="api_key", id=str(info.id), role="cashier", store_ids=frozenset({info.store_id})
            )
            cache.put(api_key, principal)
        return principal
    if bearer is None or bearer.scheme.lower() != "bearer" or not bearer.credentials:
        raise unauthenticated()
    token = bearer.credentials
    if token.startswith(auth_service.MEMBER_TOKEN_PREFIX + "_"):
        cache = _cache(request)
        principal = cache.get(token)
        if principal is None:
            member_id = await run_in_threadpool(auth_service.verify_member_token, ctx, token)
            if member_id is None:
                raise unauthenticated("Invalid member token.")
            principal = Principal(kind="member", id=str(member_id), role="member", member_id=member_id)
            cache.put(token, principal)
        return principal
    return principal_from_jwt(ctx.settings.secret_key, token, ctx.now())


async def current_principal(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Principal:
    """Whoever is calling: staff (JWT), POS terminal (X-API-Key) or member (member token)."""
    return await _resolve(request, bearer, api_key)


AnyPrincipal = Annotated[Principal, Depends(current_principal)]


async def staff_or_pos(principal: AnyPrincipal) -> Principal:
    """Staff and POS terminals; members are sent to /me."""
    return _not_member(principal)


def _not_member(principal: Principal) -> Principal:
    if principal.kind == "member":
        raise forbidden("Members may only use /api/v1/me.")
    return principal


async def member_only(principal: AnyPrincipal) -> Principal:
    if principal.kind != "member" or principal.member_id is None:
        raise forbidden("Only a member token may use /api/v1/me.")
    return principal


Caller = Annotated[Principal, Depends(staff_or_pos)]
MemberPrincipal = Annotated[Principal, Depends(member_only)]


def requires(permission: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that yields the caller (staff or POS) when their role holds `permission`, else 403.

    It resolves the caller itself rather than through `Caller`: FastAPI solves each level of nested
    dependencies per request, and this one guards every POS sale.
    """

    async def _dep(
        request: Request,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        api_key: Annotated[str | None, Depends(_api_key)],
    ) -> Principal:
        principal = _not_member(await _resolve(request, bearer, api_key))
        principal.require(permission)
        return principal

    _dep.__name__ = f"requires_{permission.replace(':', '_')}"
    return _dep


def requires_at_till(permission: str) -> Callable[[Request], Awaitable[Principal]]:
    """`requires` for the till's routes called on every sale and scan (`POST /purchases`, the quote):
    one dependency that reads the credentials from the headers as the two security schemes do,
    instead of through them: FastAPI solves every dependency of the tree per request, a measurable
    share of a sale's server time (ADR 0007). The route names the schemes for the docs with
    `TILL_SECURITY`."""

    async def _dep(request: Request) -> Principal:
        authorization = request.headers.get("authorization")
        scheme, credentials = get_authorization_scheme_param(authorization)
        bearer = None
        if authorization and scheme and credentials and scheme.lower() == "bearer":
            bearer = HTTPAuthorizationCredentials(scheme=scheme, credentials=credentials)
        principal = _not_member(await _resolve(request, bearer, request.headers.get("x-api-key") or None))
        principal.require(permission)
        return principal

    _dep.__name__ = f"requires_{permission.replace(':', '_')}_at_till"
    return _dep


#: what `requires_at_till`'s routes declare in the published schema (`openapi_extra`): the security
#: schemes `requires` gets from its dependencies
TILL_SECURITY: dict[str, Any] = {"security": [{"HTTPBearer": []}, {"APIKeyHeader": []}]}


def client_key(request: Request) -> str:
    """The address the login limit is counted against: the peer's, or behind a proxy configured in
    `LOYALTY_TRUSTED_PROXIES` the client it forwards for (the server resolves it: `server.proxy_options`)."""
    return request.client.host if request.client else "unknown"


def rate_limited(surface: str) -> Callable[[Request], Awaitable[None]]:
    """A dependency counting one attempt at `surface` for this client (429 past the limit)."""

    async def _dep(request: Request) -> None:
        limiter = request.app.state.limiter
        if limiter.blocking_io:
            await run_in_threadpool(limiter.hit, surface, client_key(request))
        else:
            limiter.hit(surface, client_key(request))

    _dep.__name__ = f"rate_limit_{surface}"
    return _dep


def in_query(exc: InvalidInput) -> InvalidInput:
    """A service's filter error as the API reports it: VALIDATION_FAILED, fields as `query.<name>`.

    The services name a filter as the API's parameter is named (`tier`, `segment`); FastAPI's own
    query errors say `query.tier`, so one route's problems read alike whichever layer found them.
    """
    details = dict(exc.details or {})
    details["errors"] = [
        {**entry, "field": f"query.{entry['field']}"} for entry in details.get("errors") or []
    ]
    return InvalidInput("VALIDATION_FAILED", exc.template, details)
