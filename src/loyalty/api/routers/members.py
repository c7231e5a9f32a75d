"""Members: register, look up, search, update, deactivate, merge; tokens for self-service."""

from __future__ import annotations

from contextlib import nullcontext
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from loyalty.api.deps import CtxDep, in_query, requires
from loyalty.api.errors import ApiError
from loyalty.api.idempotency import IdempotencyKey, run_idempotent
from loyalty.api.ratelimit import Lookups
from loyalty.api.schemas import DbId, DecimalString, Page, PathId, StaffCode
from loyalty.api.security import Principal
from loyalty.api.views import MemberOut, member_view
from loyalty.domain.errors import InvalidInput, field_error
from loyalty.services import auth as auth_service
from loyalty.services import member_search
from loyalty.services import members as members_service
from loyalty.services.schemas import MemberIn
from loyalty.services.schemas import MemberUpdate as CoreMemberUpdate

router = APIRouter(tags=["members"])

Reader = Annotated[Principal, Depends(requires("members:read"))]
Writer = Annotated[Principal, Depends(requires("members:write"))]
Manager = Annotated[Principal, Depends(requires("members:manage"))]
TokenIssuer = Annotated[Principal, Depends(requires("members:tokens"))]

Phone = Annotated[
    str, Field(min_length=5, max_length=20, pattern=r"^\+?[0-9 ()-]{5,20}$", examples=["+8613812345678"])
]
Tag = Annotated[str, Field(min_length=1, max_length=40)]
Segment = Literal[
    "high_value",
    "develop",
    "retain",
    "win_back",
    "general_value",
    "general_develop",
    "general_retain",
    "general_win_back",
]
RfmCode = Literal["222", "212", "122", "112", "221", "211", "121", "111"]


class MemberCreate(BaseModel):
    """A new member as staff register them at a store (no tier or status: those are earned)."""

    model_config = ConfigDict(extra="forbid")

    phone: Phone
    name: str = Field(min_length=1, max_length=100)
    registration_store_id: DbId | None = Field(default=None, description="Defaults to the caller's store.")
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    birthday: date | None = None
    gender: Literal["female", "male", "other", "unknown"] | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    marketing_consent: bool = False
    # Left out of the request's hash when not given (a retry from before it existed still replays).
    registered_by: StaffCode | None = Field(
        default=None,
        exclude_if=lambda code: code is None,
        description="Who signed the member up: a staff code (1 to 100 printable characters), kept for the "
        "KPIs by staff. Not given: the username of the staff account registering them (none for a POS key).",
    )


class MemberUpdate(BaseModel):
    """Profile changes; omitted fields stay as they are."""

    model_config = ConfigDict(extra="forbid")

    phone: Phone | None = None
    name: str | None = Field(default=None, max_length=100)
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    birthday: date | None = None
    gender: Literal["female", "male", "other", "unknown"] | None = None
    tags: list[Tag] | None = Field(default=None, max_length=50)
    marketing_consent: bool | None = None


#: the merge body's names before they became `duplicate_id`/`survivor_id`; refused, never mapped
_MERGE_RENAMED = {"source_id": "duplicate_id", "target_id": "survivor_id"}


class MergeIn(BaseModel):
    """Merge the duplicate member (`duplicate_id`) into the member that stays (`survivor_id`)."""

    model_config = ConfigDict(extra="forbid")

    duplicate_id: DbId = Field(description="The member that goes away (status becomes merged).")
    survivor_id: DbId = Field(description="The member that stays and receives points and history.")

    @model_validator(mode="before")
    @classmethod
    def _old_names(cls, data: Any) -> Any:
        """`source_id`/`target_id` (the earlier names) get a 422 naming the new field: mapping
        them silently would hide which way round an old client meant the merge."""
        old = sorted(k for k in _MERGE_RENAMED if isinstance(data, dict) and k in data)
        if old:
            raise InvalidInput(
                "VALIDATION_FAILED",
                "{field} was renamed {new}",
                {
                    "field": old[0],
                    "new": _MERGE_RENAMED[old[0]],
                    "errors": [
                        field_error(k, "renamed: send {new} instead", {"new": _MERGE_RENAMED[k]}) for k in old
                    ],
                },
            )
        return data


class MemberTokenOut(BaseModel):
    """A member's bearer token for /api/v1/me; shown once."""

    token: str
    expires_at: datetime


def load_member(ctx: Any, member_id: int) -> Any:
    """The core member (the core raises MEMBER_NOT_FOUND → 404)."""
    return members_service.get_member(ctx, member_id)


def require_member_store(principal: Principal, member: Any) -> None:
    """Store staff change only members registered at their stores."""
    principal.require_store(getattr(member, "registration_store_id", None))


@router.post("/members", response_model=MemberOut, status_code=201)
def register_member(
    body: MemberCreate, caller: Writer, ctx: CtxDep, request: Request, idempotency_key: IdempotencyKey = None
) -> Any:
    """Register a member at a store (a cashier registers at their own store); a phone that is taken
    answers 409 and counts against the caller's lookup limit."""
    store_id = body.registration_store_id
    if store_id is None and caller.store_ids is not None and len(caller.store_ids) == 1:
        store_id = next(iter(caller.store_ids))
    caller.require_store(store_id)

    def handler() -> tuple[int, BaseModel]:
        data = body.model_dump() | {"registration_store_id": store_id}
        member = members_service.register_member(ctx, _member_in(data), actor=caller.to_actor())
        return 201, member_view(member, caller, ctx.settings.currency)

    with Lookups.of(request, caller).guard():
        return run_idempotent(ctx, caller, idempotency_key, "POST /members", body, handler)


@router.get("/members/lookup", response_model=MemberOut)
def lookup_member(
    caller: Reader,
    ctx: CtxDep,
    request: Request,
    phone: Annotated[str | None, Query(max_length=20)] = None,
    card_no: Annotated[str | None, Query(max_length=40)] = None,
    member_code: Annotated[str | None, Query(max_length=40)] = None,
) -> MemberOut:
    """Find one member by exact phone, card number or member code (the POS's first step); each call
    counts against the caller's lookup limit."""
    Lookups.of(request, caller).count()
    given = {k: v for k, v in {"phone": phone, "card_no": card_no, "member_code": member_code}.items() if v}
    if len(given) != 1:
        raise ApiError(
            422,
            "VALIDATION_FAILED",
            "Give exactly one of phone, card_no, member_code.",
            errors=[{"field": "query", "message": "exactly one of phone, card_no, member_code"}],
        )
    member = members_service.find_member(ctx, phone=phone, card_no=card_no, member_code=member_code)
    return member_view(member, caller, ctx.settings.currency)


@router.get("/members", response_model=Page[MemberOut])
def search_members(
    caller: Reader,
    ctx: CtxDep,
    request: Request,
    q: Annotated[str | None, Query(max_length=100, description="Name, phone or card fragment.")] = None,
    phone: Annotated[str | None, Query(max_length=20)] = None,
    card_no: Annotated[str | None, Query(max_length=40)] = None,
    name: Annotated[str | None, Query(max_length=100)] = None,
    tag: Annotated[str | None, Query(max_length=40)] = None,
    tier: Annotated[str | None, Query(max_length=40, description="Tier code.")] = None,
    status: Annotated[Literal["active", "inactive", "merged"] | None, Query()] = None,
    segment: Annotated[
        list[Segment] | None, Query(description="RFM group (repeat for any of several).")
    ] = None,
    rfm_code: Annotated[
        list[RfmCode] | None, Query(description="RFM code such as 222 (repeat for any of several).")
    ] = None,
    p_alive_min: Annotated[float | None, Query(ge=0, le=1, description="Lowest P(alive).")] = None,
    p_alive_max: Annotated[float | None, Query(ge=0, le=1, description="Highest P(alive).")] = None,
    clv_min: Annotated[DecimalString | None, Query(description="Lowest CLV, e.g. 500.00.")] = None,
    clv_max: Annotated[DecimalString | None, Query(description="Highest CLV.")] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[MemberOut]:
    """Search and filter members, newest first with cursor pagination; store staff see their stores'
    members only. Score filters (segment, rfm_code, p_alive_*, clv_*) match scored members only.
    Filtering by phone, card number or text (`q`) tells whether they exist: such a call counts against
    the caller's lookup limit, as `/members/lookup` does."""
    if phone or card_no or q:
        Lookups.of(request, caller).count()
    currency = ctx.settings.currency
    filters = member_search.MemberFilter(
        q=q,
        phone=phone,
        card_no=card_no,
        name=name,
        tag=tag,
        tier=tier,
        status=status,
        store_ids=sorted(caller.store_ids) if caller.store_ids is not None else None,
        segment=list(segment or []),
        rfm_code=list(rfm_code or []),
        p_alive_min=p_alive_min,
        p_alive_max=p_alive_max,
        clv_min=Decimal(clv_min) if clv_min is not None else None,
        clv_max=Decimal(clv_max) if clv_max is not None else None,
    )
    try:
        page = member_search.search_members(ctx, filters, cursor=cursor, limit=limit)
    except InvalidInput as exc:
        raise in_query(exc) from exc
    return Page[MemberOut](
        items=[member_view(m, caller, currency) for m in page.items], next_cursor=page.next_cursor
    )


@router.get("/members/{member_id}", response_model=MemberOut)
def get_member(member_id: PathId, caller: Reader, ctx: CtxDep) -> MemberOut:
    """One member's profile (contact data masked outside the caller's stores) and analytics scores."""
    return member_view(load_member(ctx, member_id), caller, ctx.settings.currency)


@router.patch("/members/{member_id}", response_model=MemberOut)
def update_member(
    member_id: PathId, body: MemberUpdate, caller: Writer, ctx: CtxDep, request: Request
) -> MemberOut:
    """Change a member's profile; store staff only for members registered at their stores. A new phone
    that another member has answers 409 and counts against the caller's lookup limit."""
    require_member_store(caller, load_member(ctx, member_id))
    changes = body.model_dump(exclude_unset=True)
    with Lookups.of(request, caller).guard() if body.phone is not None else nullcontext():
        member = members_service.update_member(
            ctx, member_id, _member_update(changes), actor=caller.to_actor()
        )
    return member_view(member, caller, ctx.settings.currency)


@router.post("/members/{member_id}/deactivate", response_model=MemberOut)
def deactivate_member(member_id: PathId, caller: Manager, ctx: CtxDep) -> MemberOut:
    """Deactivate a member (no more earning or redeeming); their self-service tokens are revoked."""
    require_member_store(caller, load_member(ctx, member_id))
    member = members_service.deactivate_member(ctx, member_id, actor=caller.to_actor())
    auth_service.revoke_member_tokens(ctx, member_id, actor=caller.to_actor())
    return member_view(member, caller, ctx.settings.currency)


@router.post("/members/merge", response_model=MemberOut)
def merge_members(body: MergeIn, caller: Manager, ctx: CtxDep) -> MemberOut:
    """Merge a duplicate member into the survivor; points, purchases and history move to the survivor."""
    if body.duplicate_id == body.survivor_id:
        raise ApiError(
            422,
            "VALIDATION_FAILED",
            "A member cannot be merged into itself.",
            errors=[{"field": "survivor_id", "message": "must differ from duplicate_id"}],
        )
    require_member_store(caller, load_member(ctx, body.duplicate_id))
    require_member_store(caller, load_member(ctx, body.survivor_id))
    member = members_service.merge_members(
        ctx, duplicate_id=body.duplicate_id, survivor_id=body.survivor_id, actor=caller.to_actor()
    )
    auth_service.revoke_member_tokens(ctx, body.duplicate_id, actor=caller.to_actor())
    return member_view(member, caller, ctx.settings.currency)


@router.post("/members/{member_id}/tokens", response_model=MemberTokenOut, status_code=201)
def issue_member_token(member_id: PathId, caller: TokenIssuer, ctx: CtxDep) -> MemberTokenOut:
    """Issue a self-service token to a member (e.g. when they bind the mini-program at the till)."""
    member = load_member(ctx, member_id)
    require_member_store(caller, member)
    if member.status != "active":
        raise ApiError(409, "MEMBER_INACTIVE", "Only active members get self-service tokens.")
    info, token = auth_service.issue_member_token(ctx, member_id, actor=caller.to_actor())
    return MemberTokenOut(token=token, expires_at=info.expires_at)


def _member_in(data: dict[str, Any]) -> MemberIn:
    return MemberIn(**data)


def _member_update(data: dict[str, Any]) -> CoreMemberUpdate:
    return CoreMemberUpdate(**data)
