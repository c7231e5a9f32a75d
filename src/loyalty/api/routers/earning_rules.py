"""The programme's earning rules (`/programme/rules`) and why a sale earned what it did (`…/earning`).

Rules are read with `programme:read` and defined, changed or retired with `programme:write` (admins
and marketers), through `services.earning_rules`: each definition checked whole and named field by
field (`rules[2].when.hours`), all or nothing, versioned from `effective_from` (never in the past),
audited. The rules travel as YAML too (`rules.yaml`: exported, validated with `dry_run=true`,
imported), and so does the whole programme, its offers with its rules (`/programme.yaml`,
`services.programme_document`: one transaction; an offer in use is never changed in place).
A receipt's explanation (`/purchases/{id}/earning`) is read by whoever may read the receipt: store
staff their stores' only, a member their own (`/me/purchases/{id}/earning`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from loyalty.api.deps import CtxDep, MemberPrincipal, requires
from loyalty.api.schemas import Money, PathId, aware, money
from loyalty.api.security import Principal
from loyalty.bootstrap import Context
from loyalty.domain.errors import InvalidInput, NotFound, field_error
from loyalty.services import programme_document
from loyalty.services.earning_rules import book, yaml_io
from loyalty.services.earning_rules import quote as quote_service
from loyalty.services.earning_rules.book import RuleVersion

router = APIRouter(tags=["programme"])

Reader = Annotated[Principal, Depends(requires("programme:read"))]
Writer = Annotated[Principal, Depends(requires("programme:write"))]
PurchaseReader = Annotated[Principal, Depends(requires("purchases:read"))]
RuleCode = Annotated[
    str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$", description="The rule's code, e.g. member-day.")
]
_YAML = yaml_io.MEDIA_TYPE


class RuleOut(BaseModel):
    """One version of an earning rule and the period it is (or was) in force."""

    id: int
    code: str
    name: str
    kind: str
    version: int
    priority: int
    effective_from: datetime
    effective_to: datetime | None = Field(description="None: in force until changed or retired.")
    created_at: datetime
    created_by: str
    definition: dict[str, Any] = Field(
        description="The rule as defined: the form POST /programme/rules and the YAML take."
    )


class RulesIn(BaseModel):
    """Rules to define or change, each in the YAML's form (see docs/marketer-guide.md). A rule whose
    code exists gets a new version from `effective_from`; one that is the same as in force is left."""

    model_config = ConfigDict(extra="forbid")

    rules: list[dict[str, Any]] = Field(min_length=1, max_length=yaml_io.MAX_RULES)
    effective_from: AwareDatetime | None = Field(
        default=None, description="When the rules start (now by default; never in the past)."
    )


class RuleChangeOut(BaseModel):
    """What an import does (or, dry, would do) to one rule."""

    code: str
    action: Literal["new", "changed", "unchanged", "retired", "kept"] = Field(
        description="kept: in force, absent from the document and not retired (retire_missing=false)."
    )
    version: int | None


class ImportOut(BaseModel):
    """The programme the document was for, whether anything was written, and each rule's fate."""

    programme: str
    dry_run: bool
    effective_from: datetime | None
    changes: list[RuleChangeOut]


class RuleEntryOut(BaseModel):
    """Points one rule added to a line."""

    code: str
    name: str
    version: int
    kind: str
    points: int


class LinePointsOut(BaseModel):
    """A line's amount and its points: the base points plus each rule's entry."""

    line_no: int
    sku: str
    category: str | None
    amount: Money
    base_points: int = Field(description="By the programme's base rate and the tier's multiplier.")
    rules: list[RuleEntryOut]
    points: int
    brand: str | None = None


class EarningOut(BaseModel):
    """Why a sale earned its points, line by line."""

    purchase_id: int
    store_id: int
    member_id: int | None
    order_id: str
    occurred_at: datetime
    base_rule: str = Field(description="The base rate and tier the sale earned by (`rule` of the purchase).")
    lines: list[LinePointsOut]
    points_earned: int
    points_reversed: int = Field(description="Taken back by returns since.")


def rule_view(v: RuleVersion) -> RuleOut:
    return RuleOut(
        id=v.id,
        code=v.spec.code,
        name=v.spec.name,
        kind=v.spec.kind,
        version=v.version,
        priority=v.spec.priority,
        effective_from=aware(v.effective_from),
        effective_to=aware(v.effective_to) if v.effective_to is not None else None,
        created_at=aware(v.created_at),
        created_by=v.created_by,
        definition=v.spec.as_dict(),
    )


def line_views(lines: list[quote_service.LinePoints], currency: str) -> list[LinePointsOut]:
    return [
        LinePointsOut(
            line_no=ln.line_no,
            sku=ln.sku,
            category=ln.category,
            amount=money(ln.amount_minor, currency),
            base_points=ln.base_points,
            rules=[
                RuleEntryOut(code=e.code, name=e.name, version=e.version, kind=e.kind, points=e.points)
                for e in ln.entries
            ],
            points=ln.points,
            brand=ln.brand,
        )
        for ln in lines
    ]


def import_view(result: yaml_io.ImportResult) -> ImportOut:
    return ImportOut(
        programme=result.programme,
        dry_run=result.dry_run,
        effective_from=result.effective_from,
        changes=[RuleChangeOut(code=c.code, action=c.action, version=c.version) for c in result.changes],
    )


@router.get("/programme/rules", response_model=list[RuleOut])
def list_rules(
    caller: Reader,
    ctx: CtxDep,
    history: Annotated[
        bool, Query(description="Every version, past and scheduled, not only those in force.")
    ] = False,
) -> list[RuleOut]:
    """The programme's earning rules in force now (every version with `history=true`), in the order
    they apply."""
    return [rule_view(v) for v in book.list_rules(ctx, history=history)]


@router.post("/programme/rules", response_model=list[RuleOut], status_code=201)
def define_rules(body: RulesIn, caller: Writer, ctx: CtxDep) -> list[RuleOut]:
    """Define or change rules (audited; all or nothing). Answers the versions written: a rule the
    same as in force is left as it is and not listed."""
    checked = yaml_io.validate(ctx, {"rules": body.rules})
    written = book.define_rules(
        ctx,
        checked.raw,
        programme=checked.programme,
        effective_from=body.effective_from,
        actor=caller.to_actor(),
    )
    return [rule_view(v) for v in written]


@router.delete("/programme/rules/{code}", response_model=RuleOut)
def retire_rule(code: RuleCode, caller: Writer, ctx: CtxDep) -> RuleOut:
    """Retire a rule now (audited): sales from now on earn without it; those made earn as they did."""
    try:
        return rule_view(book.retire_rule(ctx, code, actor=caller.to_actor()))
    except NotFound as exc:  # the code in the path names no rule in force: say which parameter
        raise NotFound(
            exc.code,
            exc.template,
            {**(exc.details or {}), "errors": [field_error("path.code", exc.template, exc.details)]},
        ) from exc


def _yaml_docs(
    description: str, lists: tuple[str, ...], required: tuple[str, ...] = ()
) -> tuple[dict[int | str, dict[str, Any]], dict[str, Any]]:
    """The OpenAPI of a YAML document's download (`responses`) and upload (`openapi_extra`): its header
    (programme, currency, when exported) and its lists (`rules`, `offers`) of objects."""
    properties: dict[str, Any] = {
        name: {"type": "string"} for name in ("programme", "currency", "exported_at")
    }
    properties |= {name: {"type": "array", "items": {"type": "object"}} for name in lists}
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    response: dict[int | str, dict[str, Any]] = {
        200: {"content": {_YAML: {"schema": {"type": "object"}}}, "description": description}
    }
    body: dict[str, Any] = {"requestBody": {"required": True, "content": {_YAML: {"schema": schema}}}}
    return response, body


_YAML_RESPONSE, _YAML_BODY = _yaml_docs(
    "The programme's code, currency and when exported, and its rules in force.", ("rules",), ("rules",)
)


DryRun = Annotated[bool, Query(description="Validate and say what would change; write nothing.")]
EffectiveFrom = Annotated[
    AwareDatetime | None, Query(description="When the changes start (now by default; never in the past).")
]


@router.get("/programme/rules.yaml", response_class=Response, responses=_YAML_RESPONSE)
def export_rules(caller: Reader, ctx: CtxDep) -> Response:
    """The rules in force as a YAML document to keep in git and import back."""
    return Response(yaml_io.export_yaml(ctx), media_type=f"{_YAML}; charset=utf-8")


@router.put("/programme/rules.yaml", response_model=ImportOut, openapi_extra=_YAML_BODY)
async def import_rules(
    request: Request,
    caller: Writer,
    ctx: CtxDep,
    dry_run: DryRun = False,
    retire_missing: Annotated[
        bool, Query(description="Retire the rules in force that the document leaves out.")
    ] = False,
    effective_from: EffectiveFrom = None,
) -> ImportOut:
    """Import a programme's rules from YAML (audited; every rule checked first, then all or nothing);
    `dry_run=true` only validates."""
    result = await _imported(
        yaml_io.import_rules, request, ctx, caller, effective_from, retire_missing, dry_run
    )
    return import_view(result)


async def _imported(
    importer: Callable[..., Any],
    request: Request,
    ctx: Context,
    caller: Principal,
    effective_from: datetime | None,
    retire_missing: bool,
    dry_run: bool,
) -> Any:
    """The body, as UTF-8 YAML text, imported by `importer` (the rules' or the whole programme's) in
    the thread pool, as `caller`."""
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput.field("yaml", "is not UTF-8 text", "RULES_YAML_INVALID") from None
    return await run_in_threadpool(
        importer,
        ctx,
        text,
        effective_from=effective_from,
        retire_missing=retire_missing,
        dry_run=dry_run,
        actor=caller.to_actor(),
    )


class OfferChangeOut(BaseModel):
    """What an import does (or, dry, would do) to one offer."""

    code: str
    action: Literal["new", "changed", "unchanged", "ended", "kept"] = Field(
        description="changed: in place, only while it has issued no coupon and discounted no sale; "
        "kept: running, absent from the document and not ended (retire_missing=false)."
    )


class DocumentImportOut(BaseModel):
    """The programme the document was for, whether anything was written, and each rule's and
    offer's fate (null: the document has no `rules` or no `offers`, left as they are)."""

    programme: str
    dry_run: bool
    unchanged: bool = Field(description="Nothing to write: the programme is as the document says.")
    effective_from: datetime | None
    rules: list[RuleChangeOut] | None
    offers: list[OfferChangeOut] | None


_DOCUMENT_RESPONSE, _DOCUMENT_BODY = _yaml_docs(
    "The programme's header, its rules in force and its offers running or scheduled.", ("rules", "offers")
)


@router.get("/programme.yaml", response_class=Response, responses=_DOCUMENT_RESPONSE)
def export_programme(caller: Reader, ctx: CtxDep) -> Response:
    """The whole programme (rules and offers with their limits) as a YAML document to keep in git."""
    return Response(programme_document.export_yaml(ctx), media_type=f"{_YAML}; charset=utf-8")


@router.put("/programme.yaml", response_model=DocumentImportOut, openapi_extra=_DOCUMENT_BODY)
async def import_programme(
    request: Request,
    caller: Writer,
    ctx: CtxDep,
    dry_run: DryRun = False,
    retire_missing: Annotated[
        bool, Query(description="Retire the rules and end the offers that the document leaves out.")
    ] = False,
    effective_from: EffectiveFrom = None,
) -> DocumentImportOut:
    """Import a whole programme from YAML (audited; every rule and offer checked first, then one
    transaction, all or nothing); `dry_run=true` only validates. An offer that has issued a coupon or
    discounted a sale is refused a change (422 naming `offers[i]`): define a new code, end the old."""
    result = await _imported(
        programme_document.import_document, request, ctx, caller, effective_from, retire_missing, dry_run
    )
    return DocumentImportOut(
        programme=result.programme,
        dry_run=result.dry_run,
        unchanged=result.unchanged,
        effective_from=result.effective_from,
        rules=None
        if result.rules is None
        else [RuleChangeOut(code=c.code, action=c.action, version=c.version) for c in result.rules],
        offers=None
        if result.offers is None
        else [OfferChangeOut(code=c.code, action=c.action) for c in result.offers],
    )


def earning_view(x: quote_service.Explanation) -> EarningOut:
    return EarningOut(
        purchase_id=x.purchase_id,
        store_id=x.store_id,
        member_id=x.member_id,
        order_id=x.order_id,
        occurred_at=aware(x.occurred_at),
        base_rule=x.base_rule,
        lines=line_views(x.lines, x.currency),
        points_earned=x.points_earned,
        points_reversed=x.points_reversed,
    )


@router.get("/purchases/{purchase_id}/earning", response_model=EarningOut, tags=["purchases"])
def purchase_earning(purchase_id: PathId, caller: PurchaseReader, ctx: CtxDep) -> EarningOut:
    """Why a sale earned its points: each line's base points and what each rule added; store staff
    see only their stores' sales."""
    explained = quote_service.explain(ctx, purchase_id)
    caller.require_store(explained.store_id)
    return earning_view(explained)


@router.get("/me/purchases/{purchase_id}/earning", response_model=EarningOut, tags=["me"])
def my_purchase_earning(purchase_id: PathId, me: MemberPrincipal, ctx: CtxDep) -> EarningOut:
    """Why one of my sales earned its points, line by line (404 for anyone else's)."""
    explained = quote_service.explain(ctx, purchase_id)
    if explained.member_id is None or explained.member_id != me.member_id:
        raise NotFound(
            "PURCHASE_NOT_FOUND",
            "member {member_id} has no purchase {purchase_id}",
            {"member_id": me.member_id, "purchase_id": purchase_id},
        )
    return earning_view(explained)
