"""Principals, roles and permissions, JWT access tokens and PII masking for the HTTP layer.

Every request resolves to one `Principal`: a staff user (JWT), a POS terminal (API key, acting with
cashier rights for exactly one store) or a member (member token, only /me). Routers ask for a
permission (`members:write`) and, where an object belongs to a store or a member, call the scope checks
here, so broken object-level authorisation has one place to be right or wrong.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import jwt

from loyalty.api.errors import ApiError, forbidden, unauthenticated

ROLES: tuple[str, ...] = ("admin", "marketer", "store_manager", "cashier", "analyst", "auditor", "member")
ACCESS_TOKEN_TTL = timedelta(minutes=15)
JWT_ALGORITHM = "HS256"
JWT_ISSUER = "loyalty"

_ALL_STAFF = frozenset({"admin", "marketer", "store_manager", "cashier", "analyst", "auditor"})
_FRONT_LINE = frozenset({"admin", "store_manager", "cashier"})

#: permission → roles granted it. Members hold none of these: they reach only /me.
PERMISSIONS: dict[str, frozenset[str]] = {
    "members:read": _ALL_STAFF,
    "members:pii": _FRONT_LINE,
    "members:write": _FRONT_LINE,
    "members:manage": frozenset({"admin", "store_manager"}),
    "members:tokens": _FRONT_LINE,
    "purchases:read": frozenset({"admin", "store_manager", "cashier", "analyst", "auditor"}),
    "purchases:write": _FRONT_LINE,
    "points:read": _ALL_STAFF,
    "points:redeem": _FRONT_LINE,
    "points:adjust": frozenset({"admin", "store_manager"}),
    "tiers:read": _ALL_STAFF,
    "stores:read": _ALL_STAFF,
    "stores:write": frozenset({"admin"}),
    "staff:manage": frozenset({"admin"}),
    "apikeys:manage": frozenset({"admin", "store_manager"}),
    "audit:read": frozenset({"admin", "auditor"}),
    # a store's figures over time (store managers: their own stores)
    "kpis:read": frozenset({"admin", "store_manager", "analyst", "marketer"}),
    # the member analytics: RFM groups, CLV, P(alive), the model's fit
    "analytics:read": frozenset({"admin", "analyst", "marketer"}),
    "analytics:refresh": frozenset({"admin", "analyst"}),
    # the nightly jobs (points expiry, tiers) started by hand and followed
    "jobs:run": frozenset({"admin"}),
    "jobs:read": frozenset({"admin", "analyst", "auditor"}),
    # programme settings and the tier ladder (and, with the programme engine, its rules and coupons)
    "programme:write": frozenset({"admin", "marketer"}),
    # a member's data handed over (export) or their personal data erased
    "members:privacy": frozenset({"admin"}),
    # the programme's rules, coupons and rewards read (the marketer's pages; the till quotes with
    # purchases:write)
    "programme:read": frozenset({"admin", "marketer", "analyst", "auditor"}),
    # mining results: clusters, recommendations, churn (analytics:read); anomaly flags and their review
    "anomalies:read": frozenset({"admin", "auditor", "analyst", "store_manager"}),
    "anomalies:review": frozenset({"admin", "auditor"}),
    # store targets per month: set and broken down by the chain (reading them is kpis:read)
    "targets:write": frozenset({"admin"}),
    # members' ratings of their purchases: read as the KPIs (store managers: their stores'), followed
    # up and marked handled by the stores
    "feedback:read": frozenset({"admin", "store_manager", "analyst", "marketer"}),
    "feedback:handle": frozenset({"admin", "store_manager"}),
}

PrincipalKind = Literal["staff", "api_key", "member"]


@dataclass(frozen=True)
class Principal:
    """The authenticated caller. `store_ids` None means chain-wide; a set limits the caller to it."""

    kind: PrincipalKind
    id: str
    role: str
    store_ids: frozenset[int] | None = None
    member_id: int | None = None
    username: str | None = field(default=None, compare=False)

    def can(self, permission: str) -> bool:
        return self.role in PERMISSIONS.get(permission, frozenset())

    def require(self, permission: str) -> None:
        if not self.can(permission):
            raise forbidden(
                "Role {role!r} may not {action}.",
                role=self.role,
                action=permission.replace(":", " "),
                permission=permission,
            )

    def covers_store(self, store_id: int | None) -> bool:
        return self.store_ids is None or (store_id is not None and store_id in self.store_ids)

    def require_store(self, store_id: int | None) -> None:
        """Refuse acting for a store outside the caller's stores (cross-store attempts)."""
        if not self.covers_store(store_id):
            raise forbidden("You may act only for your own stores.")

    @property
    def scope_key(self) -> str:
        """Namespace for idempotency keys: one caller's key never collides with another's."""
        return f"{self.kind}:{self.id}"

    def to_actor(self) -> Any:
        """The core's `Actor` for audit records."""
        from loyalty.domain.actors import Actor

        name = self.username if self.kind == "staff" else None  # kept with their sales (`domain.staff`)
        return Actor(kind=self.kind, id=self.id, role=self.role, store_ids=self.store_ids, name=name)


# --- JWT access tokens ---------------------------------------------------------------------------


def issue_access_token(
    secret: str, *, user_id: int, username: str, role: str, store_ids: list[int], now: datetime
) -> tuple[str, int]:
    """A signed, short-lived access token and its lifetime in seconds.

    The role and stores are carried in the token so each request needs no database read; the short
    lifetime bounds how long a role change or deactivation takes to bite.
    """
    ttl = int(ACCESS_TOKEN_TTL.total_seconds())
    claims = {
        "iss": JWT_ISSUER,
        "sub": f"staff:{user_id}",
        "name": username,
        "role": role,
        "stores": store_ids,
        "iat": int(now.timestamp()),
        "exp": int(now.timestamp()) + ttl,
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(claims, secret, algorithm=JWT_ALGORITHM), ttl


def principal_from_jwt(secret: str, token: str, now: datetime) -> Principal:
    """Verify signature, issuer and expiry against the injected clock; raise 401 otherwise."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[JWT_ALGORITHM],
            issuer=JWT_ISSUER,
            options={"require": ["exp", "iat", "sub", "role"], "verify_exp": False},
        )
    except jwt.PyJWTError as exc:
        raise unauthenticated("Invalid access token.") from exc
    if int(claims["exp"]) <= int(now.timestamp()):
        raise unauthenticated("Access token expired.")
    sub = str(claims["sub"])
    role = str(claims["role"])
    if not sub.startswith("staff:") or role not in ROLES or role == "member":
        raise unauthenticated("Invalid access token.")
    stores = claims.get("stores") or []
    scoped = role in {"store_manager", "cashier"}
    return Principal(
        kind="staff",
        id=sub.removeprefix("staff:"),
        role=role,
        store_ids=frozenset(int(s) for s in stores) if scoped else None,
        username=str(claims.get("name") or ""),
    )


# --- PII masking ---------------------------------------------------------------------------------

_EMAIL = re.compile(r"^(?P<local>[^@]*)@(?P<domain>.+)$")


def mask_phone(phone: str | None) -> str | None:
    """Hide four digits before the last four: ``+8613812345678`` → ``+86138****5678``.

    Enough remains for a cashier to confirm "ending in 5678" with the customer, too little to call.
    """
    if not phone:
        return phone
    if len(phone) < 9:
        return "*" * (len(phone) - 2) + phone[-2:]
    return phone[:-8] + "****" + phone[-4:]


def mask_email(email: str | None) -> str | None:
    """Keep the first character and the domain: ``alice@example.com`` → ``a***@example.com``."""
    if not email:
        return email
    match = _EMAIL.match(email)
    if match is None:
        return "***"
    local = match["local"]
    return (local[:1] or "") + "***@" + match["domain"]


def require_role_or_deny(principal: Principal, *roles: str) -> None:
    if principal.role not in roles:
        raise ApiError(403, "FORBIDDEN", "Your role does not allow this action.")
