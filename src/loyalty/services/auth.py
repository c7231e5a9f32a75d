"""Who may call the API: staff users (argon2 passwords), per-store POS API keys and member tokens.

One function per use case, one transaction each, like the rest of the services. Plain-text secrets leave
this module exactly once, in the return value of the call that creates them; afterwards only hashes are
kept. Presented keys are split into a public id (indexed lookup) and a secret compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from loyalty.db.auth_tables import STAFF_ROLES as STAFF_ROLES  # re-exported: entry points list the roles
from loyalty.db.auth_tables import api_keys, member_tokens, staff_user_stores, staff_users
from loyalty.db.core_tables import stores as stores_table
from loyalty.domain.errors import Conflict, InvalidInput, NotFound, field_error
from loyalty.services.common import read

if TYPE_CHECKING:
    from loyalty.bootstrap import Context

API_KEY_PREFIX = "lk"
MEMBER_TOKEN_PREFIX = "lm"  # noqa: S105 - a public prefix, not a secret
MEMBER_TOKEN_TTL = timedelta(days=30)
STORE_SCOPED_ROLES = frozenset({"store_manager", "cashier"})

# Argon2id with the library's RFC 9106 "low memory" defaults: ~50 ms per login on one core.
_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified against when the username does not exist, so timing does not reveal which usernames
    exist. Made at the first login, whoever logs in, not at import, where every process that imports
    this module (each CLI command) paid for a hash it may never use."""
    return _hasher.hash(secrets.token_urlsafe(16))


# Domain errors (translated where shown) that stay ValueErrors for callers that catch those.
class AuthError(InvalidInput, ValueError):
    """Invalid input to an auth use case (unknown role, weak password, store scoping mismatch)."""

    default_code = "VALIDATION_FAILED"


class DuplicateUsername(Conflict, ValueError):
    """The username is taken."""

    default_code = "DUPLICATE_USERNAME"


class UnknownStore(InvalidInput, ValueError):
    """A referenced store does not exist (an input error of the request that names it)."""

    default_code = "STORE_NOT_FOUND"


def _audit(
    conn: Connection,
    actor: Any,
    action: str,
    entity: str,
    entity_id: object,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    """Record a write in the core audit log, in its transaction (the system's when no actor is given:
    the CLI's)."""
    from loyalty.domain.actors import SYSTEM
    from loyalty.services import audit

    audit.record(conn, actor or SYSTEM, action, entity, str(entity_id), before, after)


class StaffUser(BaseModel):
    """A back-office or store user; `store_ids` is empty for chain-wide roles."""

    id: int
    username: str
    role: str
    display_name: str | None
    active: bool
    store_ids: list[int] = Field(default_factory=list)
    created_at: datetime


class ApiKeyInfo(BaseModel):
    """A POS key's public description (never its secret)."""

    id: int
    key_id: str
    store_id: int
    name: str
    created_at: datetime
    revoked_at: datetime | None


class MemberToken(BaseModel):
    """A member's bearer token description (never the secret)."""

    id: int
    token_id: str
    member_id: int
    created_at: datetime
    expires_at: datetime


def _aware(value: datetime) -> datetime:
    """SQLite returns naive datetimes for `DateTime(timezone=True)`; everything stored is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def hash_password(password: str) -> str:
    """Argon2id hash of `password` (salted, parameters embedded in the hash)."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when `password` matches; never raises for malformed hashes."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _split(presented: str, prefix: str) -> tuple[str, str] | None:
    parts = presented.split("_", 2)
    if len(parts) != 3 or parts[0] != prefix or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def _new_secret(prefix: str) -> tuple[str, str, str]:
    """(public id, secret, full presented string) with 256 bits of secret entropy."""
    public_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return public_id, secret, f"{prefix}_{public_id}_{secret}"


def _now(ctx: Context) -> datetime:
    return ctx.now()


# --- staff users ---------------------------------------------------------------------------------


def _staff_from_row(row: Any, store_ids: Iterable[int]) -> StaffUser:
    return StaffUser(
        id=row.id,
        username=row.username,
        role=row.role,
        display_name=row.display_name,
        active=row.active,
        store_ids=sorted(store_ids),
        created_at=_aware(row.created_at),
    )


def create_staff(
    ctx: Context,
    *,
    username: str,
    password: str,
    role: str,
    store_ids: Iterable[int] = (),
    display_name: str | None = None,
    actor: Any = None,
) -> StaffUser:
    """Create a staff user; store-scoped roles (cashier, store manager) must name at least one store."""
    stores = sorted(set(store_ids))
    _check_role(role, stores)
    if len(password) < 8:
        raise AuthError.field("password", "password must have at least 8 characters", "VALIDATION_FAILED")
    try:
        with ctx.engine.begin() as conn:
            _require_stores(conn, stores)
            user = _insert_staff(conn, ctx, username, password, role, stores, display_name)
            after = user.model_dump(mode="json")
            _audit(conn, actor, "staff.create", "staff_user", user.id, None, after)
    except IntegrityError as exc:
        if _exists(ctx, staff_users.c.username == username):
            raise DuplicateUsername(
                "DUPLICATE_USERNAME", "username {username!r} is taken", {"username": username}
            ) from exc
        raise UnknownStore.field("store_ids", "one of the stores does not exist", "STORE_NOT_FOUND") from exc
    return user


def _require_stores(conn: Connection, store_ids: list[int]) -> None:
    """Name the stores that do not exist, rather than leave it to a foreign-key failure."""
    if not store_ids:
        return
    found = set(conn.execute(select(stores_table.c.id).where(stores_table.c.id.in_(store_ids))).scalars())
    missing = [s for s in store_ids if s not in found]
    if missing:
        raise UnknownStore.field(
            "store_ids",
            "no such store: {stores}",
            "STORE_NOT_FOUND",
            {"stores": ", ".join(map(str, missing))},
        )


def _exists(ctx: Context, condition: Any) -> bool:
    with read(ctx) as conn:
        return conn.execute(select(1).where(condition).limit(1)).first() is not None


def _insert_staff(
    conn: Connection,
    ctx: Context,
    username: str,
    password: str,
    role: str,
    stores: list[int],
    display_name: str | None,
) -> StaffUser:
    user_id = conn.execute(
        insert(staff_users)
        .values(
            username=username,
            password_hash=hash_password(password),
            role=role,
            display_name=display_name,
            active=True,
            created_at=_now(ctx),
        )
        .returning(staff_users.c.id)
    ).scalar_one()
    if stores:
        conn.execute(insert(staff_user_stores), [{"user_id": user_id, "store_id": s} for s in stores])
    row = conn.execute(select(staff_users).where(staff_users.c.id == user_id)).one()
    return _staff_from_row(row, stores)


def get_staff(ctx: Context, user_id: int) -> StaffUser | None:
    """The staff user with `user_id`, or None."""
    with read(ctx) as conn:
        row = conn.execute(select(staff_users).where(staff_users.c.id == user_id)).one_or_none()
        if row is None:
            return None
        stores = conn.execute(
            select(staff_user_stores.c.store_id).where(staff_user_stores.c.user_id == user_id)
        ).scalars()
        return _staff_from_row(row, stores)


def list_staff(ctx: Context) -> list[StaffUser]:
    """All staff users, by id."""
    with read(ctx) as conn:
        rows = conn.execute(select(staff_users).order_by(staff_users.c.id)).all()
        links = conn.execute(select(staff_user_stores)).all()
    by_user: dict[int, list[int]] = {}
    for link in links:
        by_user.setdefault(link.user_id, []).append(link.store_id)
    return [_staff_from_row(r, by_user.get(r.id, [])) for r in rows]


def set_staff_active(ctx: Context, user_id: int, active: bool, *, actor: Any = None) -> StaffUser | None:
    """Enable or disable a staff user (disabled users cannot obtain new tokens)."""
    before = get_staff(ctx, user_id)
    if before is None:
        return None
    with ctx.engine.begin() as conn:
        conn.execute(update(staff_users).where(staff_users.c.id == user_id).values(active=active))
        _audit(
            conn, actor, "staff.update", "staff_user", user_id, {"active": before.active}, {"active": active}
        )
    return get_staff(ctx, user_id)


class StaffChanges(BaseModel):
    """What `update_staff` changes: only the fields given (`display_name=None` given clears it)."""

    model_config = ConfigDict(extra="forbid")

    role: str | None = None
    store_ids: list[int] | None = None
    display_name: str | None = None
    active: bool | None = None


class LastAdmin(Conflict):
    """The change would leave the chain without an active administrator (nobody could manage staff)."""

    default_code = "LAST_ADMIN"


def update_staff(ctx: Context, user_id: int, changes: StaffChanges, *, actor: Any = None) -> StaffUser:
    """Change a staff user's role, stores, display name or whether they may log in: checked as
    `create_staff` checks them, written all or nothing, audited with the values before and after.

    A chain-wide role takes no stores, so changing to one drops the user's stores; a store role keeps
    the stores it had unless others are given. The last active administrator cannot be demoted or
    disabled. The console reads the role at every request, so a change applies at the user's next
    click; an API token already issued keeps its role until it expires (at most 15 minutes).
    """
    given = changes.model_fields_set
    display = (changes.display_name or "").strip() or None
    if display is not None and len(display) > 100:
        raise AuthError.field(
            "display_name", "a display name must be at most 100 characters", "VALIDATION_FAILED"
        )
    for key in ("role", "active"):
        if key in given and getattr(changes, key) is None:
            raise AuthError.field(key, "{field} cannot be empty", "VALIDATION_FAILED", {"field": key})
    with ctx.engine.begin() as conn:
        before = _staff_for_update(conn, user_id)
        role = changes.role if "role" in given and changes.role is not None else before.role
        if "store_ids" in given:
            stores = sorted(set(changes.store_ids or ()))
        else:
            stores = list(before.store_ids) if role in STORE_SCOPED_ROLES else []
        _check_role(role, stores)
        active = changes.active if "active" in given and changes.active is not None else before.active
        after = {
            "role": role,
            "store_ids": stores,
            "display_name": display if "display_name" in given else before.display_name,
            "active": active,
        }
        diff = {k: v for k, v in after.items() if getattr(before, k) != v}
        if not diff:
            return before
        _require_stores(conn, stores)
        if before.role == "admin" and before.active and (role != "admin" or not active):
            _keep_an_admin(conn, user_id, "role" if role != "admin" else "active")
        values = {k: v for k, v in diff.items() if k != "store_ids"}
        if values:
            conn.execute(update(staff_users).where(staff_users.c.id == user_id).values(**values))
        if "store_ids" in diff:
            conn.execute(delete(staff_user_stores).where(staff_user_stores.c.user_id == user_id))
            if stores:
                conn.execute(insert(staff_user_stores), [{"user_id": user_id, "store_id": s} for s in stores])
        _audit(
            conn, actor, "staff.update", "staff_user", user_id, {k: getattr(before, k) for k in diff}, diff
        )
    user = get_staff(ctx, user_id)
    assert user is not None
    return user


def _staff_for_update(conn: Connection, user_id: int) -> StaffUser:
    row = conn.execute(select(staff_users).where(staff_users.c.id == user_id).with_for_update()).one_or_none()
    if row is None:
        raise staff_not_found(user_id)
    stores = conn.execute(
        select(staff_user_stores.c.store_id).where(staff_user_stores.c.user_id == user_id)
    ).scalars()
    return _staff_from_row(row, stores)


def staff_not_found(user_id: int) -> NotFound:
    """The error for a staff user id that names nobody."""
    return NotFound("STAFF_USER_NOT_FOUND", "staff user {user_id} does not exist", {"user_id": user_id})


def _check_role(role: str, stores: list[int]) -> None:
    """The role exists, and names stores exactly when it acts for stores."""
    if role not in STAFF_ROLES:
        raise AuthError.field(
            "role",
            "unknown role {role!r}; expected one of {roles}",
            "VALIDATION_FAILED",
            {"role": role, "roles": ", ".join(STAFF_ROLES)},
        )
    if role in STORE_SCOPED_ROLES and not stores:
        raise AuthError.field(
            "store_ids",
            "role {role!r} acts for specific stores; give at least one store",
            "VALIDATION_FAILED",
            {"role": role},
        )
    if role not in STORE_SCOPED_ROLES and stores:
        raise AuthError.field(
            "store_ids",
            "role {role!r} is chain-wide; it takes no stores",
            "VALIDATION_FAILED",
            {"role": role},
        )


def _keep_an_admin(conn: Connection, user_id: int, field: str) -> None:
    """Refuse to demote or disable `user_id` when no other active administrator is left. The other
    administrators' rows are locked (PostgreSQL), so two admins cannot demote each other at once."""
    others = conn.execute(
        select(staff_users.c.id)
        .where(staff_users.c.role == "admin", staff_users.c.active.is_(True), staff_users.c.id != user_id)
        .with_for_update()
    ).all()
    if not others:
        raise LastAdmin(
            "LAST_ADMIN",
            "this is the last active administrator; make another administrator first",
            {
                "errors": [
                    field_error(
                        field, "this is the last active administrator; make another administrator first"
                    )
                ]
            },
        )


#: length of a generated password (`reset_password`): 16 characters of `token_urlsafe`, 96 bits
_GENERATED_PASSWORD_BYTES = 12


def generated_password() -> str:
    """A fresh random password, for an account whose administrator typed none (shown to them once)."""
    return secrets.token_urlsafe(_GENERATED_PASSWORD_BYTES)


def reset_password(
    ctx: Context, user_id: int, password: str | None = None, *, actor: Any = None
) -> str | None:
    """Set a staff user's password (audited, never the password itself): `password`, or when None a
    generated one, returned as its only copy (None when one was given).

    Sessions already open stay open (the console checks only that the user is active); disable the
    user first to shut someone out at once.
    """
    generated = password is None
    secret = generated_password() if password is None else password
    if len(secret) < 8:
        raise AuthError.field("password", "password must have at least 8 characters", "VALIDATION_FAILED")
    if len(secret) > 256:
        raise AuthError.field("password", "password must have at most 256 characters", "VALIDATION_FAILED")
    hashed = hash_password(secret)
    with ctx.engine.begin() as conn:
        _staff_for_update(conn, user_id)
        conn.execute(update(staff_users).where(staff_users.c.id == user_id).values(password_hash=hashed))
        _audit(conn, actor, "staff.password_reset", "staff_user", user_id, None, {"generated": generated})
    return secret if generated else None


def authenticate_staff(ctx: Context, username: str, password: str) -> StaffUser | None:
    """The active user whose password matches, else None (same work whether or not the user exists)."""
    dummy = _dummy_hash()
    with read(ctx) as conn:
        row = conn.execute(select(staff_users).where(staff_users.c.username == username)).one_or_none()
    if row is None:
        verify_password(dummy, password)
        return None
    if not verify_password(row.password_hash, password) or not row.active:
        return None
    if _hasher.check_needs_rehash(row.password_hash):
        with ctx.engine.begin() as conn:
            conn.execute(
                update(staff_users)
                .where(staff_users.c.id == row.id)
                .values(password_hash=hash_password(password))
            )
    return get_staff(ctx, row.id)


# --- POS API keys --------------------------------------------------------------------------------


def _key_from_row(row: Any) -> ApiKeyInfo:
    return ApiKeyInfo(
        id=row.id,
        key_id=row.key_id,
        store_id=row.store_id,
        name=row.name,
        created_at=_aware(row.created_at),
        revoked_at=_aware(row.revoked_at) if row.revoked_at is not None else None,
    )


def create_api_key(ctx: Context, *, store_id: int, name: str, actor: Any = None) -> tuple[ApiKeyInfo, str]:
    """Create a key for one store's POS; returns the description and the only copy of the secret."""
    public_id, secret, presented = _new_secret(API_KEY_PREFIX)
    try:
        with ctx.engine.begin() as conn:
            info = _insert_key(conn, ctx, public_id, secret, store_id, name)
            _audit(conn, actor, "api_key.create", "api_key", info.id, None, info.model_dump(mode="json"))
    except IntegrityError as exc:
        raise UnknownStore.field(
            "store_id", "store {store_id} does not exist", "STORE_NOT_FOUND", {"store_id": store_id}
        ) from exc
    return info, presented


def _insert_key(
    conn: Connection, ctx: Context, public_id: str, secret: str, store_id: int, name: str
) -> ApiKeyInfo:
    key_pk = conn.execute(
        insert(api_keys)
        .values(
            key_id=public_id,
            secret_hash=_sha256(secret),
            store_id=store_id,
            name=name,
            created_at=_now(ctx),
        )
        .returning(api_keys.c.id)
    ).scalar_one()
    row = conn.execute(select(api_keys).where(api_keys.c.id == key_pk)).one()
    return _key_from_row(row)


def verify_api_key(ctx: Context, presented: str) -> ApiKeyInfo | None:
    """The live key matching `presented`, else None."""
    split = _split(presented, API_KEY_PREFIX)
    if split is None:
        return None
    public_id, secret = split
    with read(ctx) as conn:
        row = conn.execute(select(api_keys).where(api_keys.c.key_id == public_id)).one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.secret_hash, _sha256(secret)):
        return None
    return _key_from_row(row)


def list_api_keys(ctx: Context, store_id: int | None = None) -> list[ApiKeyInfo]:
    """Keys (live and revoked), optionally for one store."""
    query = select(api_keys).order_by(api_keys.c.id)
    if store_id is not None:
        query = query.where(api_keys.c.store_id == store_id)
    with read(ctx) as conn:
        return [_key_from_row(r) for r in conn.execute(query)]


def api_key_not_found(key_pk: int) -> NotFound:
    """The error for a key id that names no key."""
    return NotFound("API_KEY_NOT_FOUND", "API key {key_id} does not exist", {"key_id": key_pk})


def get_api_key(ctx: Context, key_pk: int) -> ApiKeyInfo | None:
    """A key's description by primary key."""
    with read(ctx) as conn:
        row = conn.execute(select(api_keys).where(api_keys.c.id == key_pk)).one_or_none()
    return _key_from_row(row) if row is not None else None


def revoke_api_key(ctx: Context, key_pk: int, *, actor: Any = None) -> ApiKeyInfo | None:
    """Revoke a key; later calls with it are rejected (after at most the API's key-cache TTL)."""
    with ctx.engine.begin() as conn:
        done = conn.execute(
            update(api_keys)
            .where(api_keys.c.id == key_pk, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=_now(ctx))
        ).rowcount
        row = conn.execute(select(api_keys).where(api_keys.c.id == key_pk)).one_or_none()
        if done and row is not None:
            _audit(
                conn,
                actor,
                "api_key.revoke",
                "api_key",
                key_pk,
                {"revoked_at": None},
                {"revoked_at": _aware(row.revoked_at).isoformat()},
            )
    return _key_from_row(row) if row is not None else None


# --- member tokens -------------------------------------------------------------------------------


def issue_member_token(
    ctx: Context, member_id: int, ttl: timedelta = MEMBER_TOKEN_TTL, *, actor: Any = None
) -> tuple[MemberToken, str]:
    """A bearer token for one member's self-service (/me); returns the only copy of the secret."""
    public_id, secret, presented = _new_secret(MEMBER_TOKEN_PREFIX)
    now = _now(ctx)
    with ctx.engine.begin() as conn:
        pk = conn.execute(
            insert(member_tokens)
            .values(
                token_id=public_id,
                secret_hash=_sha256(secret),
                member_id=member_id,
                created_at=now,
                expires_at=now + ttl,
            )
            .returning(member_tokens.c.id)
        ).scalar_one()
        _audit(conn, actor, "member_token.issue", "member", member_id, None, {"token_id": public_id})
    return MemberToken(
        id=pk, token_id=public_id, member_id=member_id, created_at=now, expires_at=now + ttl
    ), (presented)


def verify_member_token(ctx: Context, presented: str) -> int | None:
    """The member id a live token belongs to, else None."""
    split = _split(presented, MEMBER_TOKEN_PREFIX)
    if split is None:
        return None
    public_id, secret = split
    with read(ctx) as conn:
        row = conn.execute(select(member_tokens).where(member_tokens.c.token_id == public_id)).one_or_none()
    if row is None or row.revoked_at is not None or _aware(row.expires_at) <= _now(ctx):
        return None
    if not hmac.compare_digest(row.secret_hash, _sha256(secret)):
        return None
    return int(row.member_id)


def revoke_member_tokens(ctx: Context, member_id: int, *, actor: Any = None) -> int:
    """Revoke every live token of a member (lost phone, deactivation); returns how many (audited
    with `actor` when any was live)."""
    with ctx.engine.begin() as conn:
        result = conn.execute(
            update(member_tokens)
            .where(member_tokens.c.member_id == member_id, member_tokens.c.revoked_at.is_(None))
            .values(revoked_at=_now(ctx))
        )
        if result.rowcount:
            _audit(
                conn, actor, "member_token.revoke", "member", member_id, None, {"revoked": result.rowcount}
            )
    return int(result.rowcount)


def delete_staff(ctx: Context, user_id: int) -> None:
    """Remove a staff user entirely (tests and mistaken creations; prefer disabling)."""
    with ctx.engine.begin() as conn:
        conn.execute(delete(staff_users).where(staff_users.c.id == user_id))


# --- audit review --------------------------------------------------------------------------------


class AuditEntry(BaseModel):
    """One audit-log row as reviewers read it."""

    id: int
    at: datetime
    actor_kind: str
    actor_id: str | None
    action: str
    entity: str
    entity_id: str | None
    before: Any = None
    after: Any = None


def audit_entries(
    ctx: Context,
    *,
    entity: str | None = None,
    entity_id: str | None = None,
    actor_id: str | None = None,
    actor_kind: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[AuditEntry]:
    """Audit rows newest first, keyset-paginated by id (`before_id` = last id of the previous page),
    filtered by entity, actor (kind and id), action and time (`since` ≤ at < `until`)."""
    from loyalty.db.core_tables import audit_log

    query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if actor_kind is not None:
        query = query.where(audit_log.c.actor_kind == actor_kind)
    if action is not None:
        query = query.where(audit_log.c.action == action)
    if since is not None:
        query = query.where(audit_log.c.at >= since)
    if until is not None:
        query = query.where(audit_log.c.at < until)
    if entity is not None:
        query = query.where(audit_log.c.entity == entity)
    if entity_id is not None:
        query = query.where(audit_log.c.entity_id == entity_id)
    if actor_id is not None:
        query = query.where(audit_log.c.actor_id == actor_id)
    if before_id is not None:
        query = query.where(audit_log.c.id < before_id)
    with read(ctx) as conn:
        rows = conn.execute(query).all()
    return [
        AuditEntry(
            id=r.id,
            at=_aware(r.at),
            actor_kind=r.actor_kind,
            actor_id=None if r.actor_id is None else str(r.actor_id),
            action=r.action,
            entity=r.entity,
            entity_id=None if r.entity_id is None else str(r.entity_id),
            before=r.before,
            after=r.after,
        )
        for r in rows
    ]
