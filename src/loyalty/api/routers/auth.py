"""Staff login (OAuth2 password flow), caller introspection, staff users and POS API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Response
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, ConfigDict, Field

from loyalty.api.deps import AnyPrincipal, CtxDep, rate_limited, requires
from loyalty.api.errors import ApiError, not_found
from loyalty.api.schemas import DbId, PathId
from loyalty.api.security import Principal, issue_access_token
from loyalty.services import auth as auth_service
from loyalty.services.auth import STAFF_ROLES

router = APIRouter(tags=["auth"])


class LoginForm(OAuth2PasswordRequestForm):
    """The OAuth2 password flow's form with every field bounded: a 100,000-character username is a
    422 naming the field, not an argon2 check against nobody (the bounds are those of `StaffIn`)."""

    def __init__(
        self,
        *,
        grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
        username: Annotated[str, Form(min_length=1, max_length=64)],
        password: Annotated[
            str, Form(min_length=1, max_length=256, json_schema_extra={"format": "password"})
        ],
        scope: Annotated[str, Form(max_length=1000)] = "",
        client_id: Annotated[str | None, Form(max_length=256)] = None,
        client_secret: Annotated[
            str | None, Form(max_length=256, json_schema_extra={"format": "password"})
        ] = None,
    ) -> None:
        super().__init__(
            grant_type=grant_type,
            username=username,
            password=password,
            scope=scope,
            client_id=client_id,
            client_secret=client_secret,
        )


class TokenOut(BaseModel):
    """An OAuth2 bearer token response."""

    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 scheme name, not a secret
    expires_in: int = Field(description="Seconds until the token expires.")


class WhoAmI(BaseModel):
    """The authenticated caller as the API sees it."""

    kind: str
    id: str
    role: str
    store_ids: list[int] | None
    member_id: int | None


class StaffIn(BaseModel):
    """A new staff user; cashiers and store managers name their stores."""

    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str = Field(min_length=8, max_length=256)
    role: str = Field(json_schema_extra={"enum": list(STAFF_ROLES)})
    store_ids: list[DbId] = Field(default_factory=list, max_length=1000)
    display_name: str | None = Field(default=None, max_length=100)


class StaffPatch(BaseModel):
    """The fields to change; those left out stay. A chain-wide role drops the user's stores; a store
    role (cashier, store manager) keeps them unless `store_ids` is given. The last active admin
    cannot be demoted or disabled (409 LAST_ADMIN)."""

    model_config = ConfigDict(extra="forbid")

    role: str | None = Field(default=None, json_schema_extra={"enum": list(STAFF_ROLES)})
    store_ids: list[DbId] | None = Field(default=None, max_length=1000)
    display_name: str | None = Field(default=None, max_length=100)
    active: bool | None = None


class PasswordIn(BaseModel):
    """A new password for a staff user; leave it out to have one generated (returned once)."""

    model_config = ConfigDict(extra="forbid")

    password: str | None = Field(default=None, min_length=8, max_length=256)


class PasswordOut(BaseModel):
    """The generated password (its only copy), or null when the caller chose it."""

    password: str | None


class StaffOut(BaseModel):
    """A staff user (never the password hash)."""

    id: int
    username: str
    role: str
    display_name: str | None
    active: bool
    store_ids: list[int]
    created_at: datetime


class ApiKeyIn(BaseModel):
    """A label for a new POS key (e.g. the till's name)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)


class ApiKeyOut(BaseModel):
    """A POS key; `key` is present only in the response that created it."""

    id: int
    key_id: str
    store_id: DbId
    name: str
    created_at: datetime
    revoked_at: datetime | None
    key: str | None = None


@router.post(
    "/auth/token",
    response_model=TokenOut,
    dependencies=[Depends(rate_limited("login"))],
    responses={401: {"description": "Wrong username or password"}, 429: {"description": "Too many attempts"}},
)
def login(form: Annotated[LoginForm, Depends()], ctx: CtxDep) -> TokenOut:
    """Exchange a staff username and password for a short-lived bearer token (OAuth2 password flow)."""
    user = auth_service.authenticate_staff(ctx, form.username, form.password)
    if user is None:
        raise ApiError(
            401,
            "INVALID_CREDENTIALS",
            "Wrong username or password.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    token, ttl = issue_access_token(
        ctx.settings.secret_key,
        user_id=user.id,
        username=user.username,
        role=user.role,
        store_ids=user.store_ids,
        now=ctx.now(),
    )
    return TokenOut(access_token=token, expires_in=ttl)


@router.get("/auth/whoami", response_model=WhoAmI)
def whoami(principal: AnyPrincipal) -> WhoAmI:
    """Show how the API identified the caller: kind, role and the stores it may act for."""
    return WhoAmI(
        kind=principal.kind,
        id=principal.id,
        role=principal.role,
        store_ids=sorted(principal.store_ids) if principal.store_ids is not None else None,
        member_id=principal.member_id,
    )


StaffAdmin = Annotated[Principal, Depends(requires("staff:manage"))]
KeyManager = Annotated[Principal, Depends(requires("apikeys:manage"))]


@router.get("/staff", response_model=list[StaffOut], tags=["staff"])
def list_staff(_caller: StaffAdmin, ctx: CtxDep) -> list[StaffOut]:
    """List staff users with their roles and stores."""
    return [StaffOut.model_validate(u.model_dump()) for u in auth_service.list_staff(ctx)]


@router.post("/staff", response_model=StaffOut, status_code=201, tags=["staff"])
def create_staff(body: StaffIn, caller: StaffAdmin, ctx: CtxDep) -> StaffOut:
    """Create a staff user with a role (and stores for cashiers and store managers)."""
    # An unknown role, a scoping mismatch or a weak password (422 VALIDATION_FAILED), a taken username
    # (409 DUPLICATE_USERNAME) and unknown stores (422 STORE_NOT_FOUND) are domain errors, rendered
    # with their field errors like every other.
    user = auth_service.create_staff(
        ctx,
        username=body.username,
        password=body.password,
        role=body.role,
        store_ids=body.store_ids,
        display_name=body.display_name,
        actor=caller.to_actor(),
    )
    return StaffOut.model_validate(user.model_dump())


@router.patch("/staff/{user_id}", response_model=StaffOut, tags=["staff"])
def patch_staff(user_id: PathId, body: StaffPatch, caller: StaffAdmin, ctx: CtxDep) -> StaffOut:
    """Change a staff user's role, stores or display name, or enable or disable them (a disabled
    user can no longer log in); audited, all or nothing."""
    changes = auth_service.StaffChanges(**body.model_dump(include=body.model_fields_set))
    user = auth_service.update_staff(ctx, user_id, changes, actor=caller.to_actor())
    return StaffOut.model_validate(user.model_dump())


@router.post("/staff/{user_id}/password", response_model=PasswordOut, tags=["staff"])
def reset_staff_password(user_id: PathId, body: PasswordIn, caller: StaffAdmin, ctx: CtxDep) -> PasswordOut:
    """Set a staff user's password, or generate one (shown in this response only); audited without
    the password. Sessions already open stay open: disable the user to shut them out at once."""
    generated = auth_service.reset_password(ctx, user_id, body.password, actor=caller.to_actor())
    return PasswordOut(password=generated)


@router.get("/stores/{store_id}/api-keys", response_model=list[ApiKeyOut], tags=["stores"])
def list_keys(store_id: PathId, caller: KeyManager, ctx: CtxDep) -> list[ApiKeyOut]:
    """List a store's POS keys (ids and labels only; secrets are never shown again)."""
    caller.require_store(store_id)
    return [ApiKeyOut.model_validate(k.model_dump()) for k in auth_service.list_api_keys(ctx, store_id)]


@router.post("/stores/{store_id}/api-keys", response_model=ApiKeyOut, status_code=201, tags=["stores"])
def create_key(store_id: PathId, body: ApiKeyIn, caller: KeyManager, ctx: CtxDep) -> ApiKeyOut:
    """Create a POS key for a store; the secret appears in this response only."""
    caller.require_store(store_id)
    try:
        actor = caller.to_actor()
        info, key = auth_service.create_api_key(ctx, store_id=store_id, name=body.name, actor=actor)
    except auth_service.UnknownStore as exc:
        raise not_found("Store") from exc
    return ApiKeyOut.model_validate({**info.model_dump(), "key": key})


@router.delete("/api-keys/{key_pk}", status_code=204, tags=["stores"])
def revoke_key(key_pk: PathId, caller: KeyManager, ctx: CtxDep) -> Response:
    """Revoke a POS key; terminals using it are refused within the credential-cache lifetime."""
    key = auth_service.get_api_key(ctx, key_pk)
    if key is None:
        raise not_found("API key")
    caller.require_store(key.store_id)
    auth_service.revoke_api_key(ctx, key_pk, actor=caller.to_actor())
    return Response(status_code=204)
