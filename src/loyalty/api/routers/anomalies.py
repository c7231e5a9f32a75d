"""Anomaly detection: the review queue's flags, their review, the chain's rules, scans and suspensions.

A scan (`POST /anomalies/scans`, or `POST /jobs {"kind": "anomaly_scan"}` for the last 30 days) runs
as a job and writes flags, at most one open flag per subject and kind. Reviewers (anomalies:review)
approve a flag (confirmed fraud; `suspend` also stops the member's redemptions, which then answer 409
REDEMPTION_SUSPENDED) or reject it (a false alarm), and lift suspensions; readers (anomalies:read)
list and open flags. A store manager sees the flags of their stores' members only: another store's
flag does not exist for them (404). Each flag's `reason` is in the caller's language
(Accept-Language), with its figures under `figures`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from loyalty.api.deps import CtxDep, in_query, requires
from loyalty.api.errors import request_locale
from loyalty.api.routers.jobs import JobOut, job_view
from loyalty.api.schemas import PathId, aware
from loyalty.api.security import Principal
from loyalty.domain.errors import InvalidInput
from loyalty.services import anomalies as service
from loyalty.services import jobs as jobs_service

router = APIRouter(tags=["anomalies"])

Reader = Annotated[Principal, Depends(requires("anomalies:read"))]
Reviewer = Annotated[Principal, Depends(requires("anomalies:review"))]
Kind = Literal[
    "points_earned",
    "points_spent",
    "velocity",
    "shared_card",
    "return_ratio",
    "after_hours",
    "staff_adjustments",
    "robust_z",
    "isolation_forest",
]


class FlagOut(BaseModel):
    """One flag: whom it is about, which rule raised it over which days, why (in words and figures),
    and its review."""

    id: int
    subject_kind: Literal["member", "staff"]
    member_id: int | None
    operator: str | None = Field(description="The staff operator of a staff flag (`staff:<id>`).")
    operator_name: str | None = Field(description="The operator's username, where known.")
    store_id: int | None = Field(description="The member's registration store.")
    kind: Kind
    kind_name: str
    period_start: date
    period_end: date
    score: float = Field(description="How far past the rule's line: 1.0 on it, 2.0 twice past it.")
    reason_code: str = Field(examples=["points_earned_day"])
    reason: str = Field(
        examples=[
            "Earned 12,400 points on 2026-11-03, 18.2× the chain's median day (680); "
            "the limit is 5,000 a day."
        ]
    )
    figures: dict[str, Any] = Field(description="The figures the reason is written from.")
    status: Literal["open", "approved", "rejected"]
    created_at: datetime
    updated_at: datetime = Field(description="When a scan last found it.")
    reviewed_by: str | None
    reviewed_at: datetime | None
    note: str | None
    suspended: bool = Field(description="Whether its approval suspended the member's redemptions.")
    member_suspended: bool = Field(description="Whether the member's redemptions are suspended now.")


class FlagPageOut(BaseModel):
    """A page of flags and how many pass the filters in all (`offset` for the next page)."""

    items: list[FlagOut]
    total: int
    next_offset: int | None


class ReviewIn(BaseModel):
    """The review of an open flag."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject"] = Field(
        description="approve: the fraud is confirmed; reject: a false alarm."
    )
    note: str | None = Field(default=None, max_length=1000)
    suspend: bool = Field(
        default=False, description="With approve, on a member's flag: suspend the member's redemptions."
    )


class ParamOut(BaseModel):
    name: str
    label: str
    value: float
    default: float
    minimum: float
    maximum: float
    integer: bool


class RuleOut(BaseModel):
    code: Kind
    kind: Literal["threshold", "statistical"]
    subject: Literal["member", "staff"]
    title: str
    description: str
    enabled: bool
    customised: bool = Field(description="False while the rule runs with its defaults.")
    params: list[ParamOut]


class RulesOut(BaseModel):
    rules: list[RuleOut]


class RulesIn(BaseModel):
    """Rules to change, each merged over its current setting, e.g.
    `{"rules": {"velocity": {"params": {"per_hour": 8}}, "isolation_forest": {"enabled": false}}}`."""

    model_config = ConfigDict(extra="forbid")

    rules: dict[str, Any]


class ScanIn(BaseModel):
    """The business days to scan (default: the 30 days ending today)."""

    model_config = ConfigDict(extra="forbid")

    start: date | None = None
    end: date | None = None


class SuspensionOut(BaseModel):
    member_id: int
    flag_id: int | None
    store_id: int | None
    suspended_at: datetime
    suspended_by: str
    note: str | None


class LiftIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, max_length=1000)


def flag_out(flag: service.Flag, locale: str) -> FlagOut:
    return FlagOut(
        id=flag.id,
        subject_kind=flag.subject_kind,
        member_id=flag.member_id,
        operator=flag.operator,
        operator_name=flag.operator_name,
        store_id=flag.store_id,
        kind=flag.kind,
        kind_name=flag.kind_name(locale),
        period_start=flag.period_start,
        period_end=flag.period_end,
        score=flag.score,
        reason_code=flag.reason_code,
        reason=flag.reason(locale),
        figures=flag.params,
        status=flag.status,
        created_at=aware(flag.created_at),
        updated_at=aware(flag.updated_at),
        reviewed_by=flag.reviewer_name or flag.reviewed_by,
        reviewed_at=aware(flag.reviewed_at) if flag.reviewed_at else None,
        note=flag.note,
        suspended=flag.suspended,
        member_suspended=flag.member_suspended,
    )


@router.get("/anomalies/flags", response_model=FlagPageOut)
def list_flags(
    caller: Reader,
    ctx: CtxDep,
    request: Request,
    status: Annotated[
        Literal["open", "approved", "rejected", "all"], Query(description="open by default: the queue.")
    ] = "open",
    kind: Kind | None = None,
    subject: Literal["member", "staff"] | None = None,
    member_id: Annotated[int | None, Query(ge=1)] = None,
    store: Annotated[int | None, Query(ge=1, description="Flags of this store's members.")] = None,
    from_: Annotated[date | None, Query(alias="from", description="Flags whose days reach this day.")] = None,
    to: Annotated[date | None, Query(description="Flags whose days start by this day.")] = None,
    min_score: Annotated[float | None, Query(ge=0)] = None,
    sort: Literal["score", "newest"] = "score",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> FlagPageOut:
    """The review queue: flags by filter, highest score first (a store manager: their stores' members)."""
    if store is not None:
        caller.require_store(store)
    flt = service.FlagFilter(
        status=None if status == "all" else status,
        kind=kind,
        subject_kind=subject,
        member_id=member_id,
        store_id=store,
        start=from_,
        end=to,
        min_score=min_score,
    )
    try:
        page = service.list_flags(ctx, flt, store_ids=caller.store_ids, sort=sort, limit=limit, offset=offset)
    except InvalidInput as exc:
        raise in_query(exc) from exc
    locale = request_locale(request)
    more = offset + len(page.items) < page.total
    return FlagPageOut(
        items=[flag_out(f, locale) for f in page.items],
        total=page.total,
        next_offset=offset + len(page.items) if more else None,
    )


@router.get("/anomalies/flags/{flag_id}", response_model=FlagOut)
def get_flag(flag_id: PathId, caller: Reader, ctx: CtxDep, request: Request) -> FlagOut:
    """One flag with its reason and figures (404 outside a store manager's stores)."""
    return flag_out(service.get_flag(ctx, flag_id, store_ids=caller.store_ids), request_locale(request))


@router.post("/anomalies/flags/{flag_id}/review", response_model=FlagOut)
def review_flag(flag_id: PathId, body: ReviewIn, caller: Reviewer, ctx: CtxDep, request: Request) -> FlagOut:
    """Approve (optionally suspending the member's redemptions) or reject an open flag; audited."""
    service.get_flag(ctx, flag_id, store_ids=caller.store_ids)
    flag = service.review(
        ctx,
        flag_id,
        body.decision,
        actor=caller.to_actor(),
        reviewer_name=caller.username,
        note=body.note,
        suspend=body.suspend,
    )
    return flag_out(flag, request_locale(request))


def rules_out(rules: Any, locale: str) -> RulesOut:
    from loyalty.i18n import translate

    out = []
    for code, s in rules.settings.items():
        rule = s.rule
        out.append(
            RuleOut(
                code=code,
                kind=rule.kind,
                subject=rule.subject,
                title=translate("report", rule.title, locale),
                description=translate("report", rule.description, locale),
                enabled=s.enabled,
                customised=s.customised,
                params=[
                    ParamOut(
                        name=p.name,
                        label=translate("report", p.label, locale),
                        value=s.params[p.name],
                        default=p.default,
                        minimum=p.minimum,
                        maximum=p.maximum,
                        integer=p.integer,
                    )
                    for p in rule.params
                ],
            )
        )
    return RulesOut(rules=out)


@router.get("/anomalies/rules", response_model=RulesOut)
def get_rules(caller: Reader, ctx: CtxDep, request: Request) -> RulesOut:
    """Every rule and method: on or off, and each parameter with its default and allowed range."""
    return rules_out(service.get_rules(ctx), request_locale(request))


@router.put("/anomalies/rules", response_model=RulesOut)
def put_rules(body: RulesIn, caller: Reviewer, ctx: CtxDep, request: Request) -> RulesOut:
    """Change rules (each merged over its current setting); audited. 422 names the bad field."""
    return rules_out(service.set_rules(ctx, body.rules, caller.to_actor()), request_locale(request))


@router.post("/anomalies/scans", response_model=JobOut, status_code=202)
def start_scan(body: ScanIn, caller: Reviewer, ctx: CtxDep) -> JobOut:
    """Scan a period as a job (follow it at `GET /jobs/{id}`); 409 while a scan runs."""
    start, end = service.period(ctx, body.start, body.end)
    job = jobs_service.start(
        ctx,
        jobs_service.ANOMALY_SCAN,
        caller.to_actor(),
        actor_name=caller.username,
        params={"start": start.isoformat(), "end": end.isoformat()},
    )
    return job_view(job)


@router.get("/anomalies/suspensions", response_model=list[SuspensionOut])
def list_suspensions(caller: Reader, ctx: CtxDep) -> list[SuspensionOut]:
    """Members whose redemptions are suspended, newest first (a store manager: their stores')."""
    return [
        SuspensionOut(
            member_id=s.member_id,
            flag_id=s.flag_id,
            store_id=s.store_id,
            suspended_at=aware(s.suspended_at),
            suspended_by=s.suspended_by,
            note=s.note,
        )
        for s in service.list_suspensions(ctx, store_ids=caller.store_ids)
    ]


@router.post("/anomalies/suspensions/{member_id}/lift", status_code=204, response_class=Response)
def lift_suspension(member_id: PathId, body: LiftIn, caller: Reviewer, ctx: CtxDep) -> Response:
    """Let the member redeem again; audited with the note. 404 when they were not suspended."""
    service.lift(ctx, member_id, note=body.note, actor=caller.to_actor())
    return Response(status_code=204)
