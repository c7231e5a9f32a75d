"""Churn: the churn model's last run (its AUC beside P(alive)'s) with the members at risk, and one
member's churn probability and next purchase date.

A run is made by the churn-model job (`POST /jobs {"kind": "churn_model"}`) or `loyalty analytics
churn refresh`; these routes only read what it stored. Before the first run the answers are empty
(`computed_at` null), not errors. The members at risk carry their phone masked as every member list
masks it (`views.sees_pii`): in full only for a reader allowed contact data of the member's store.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from loyalty.api.deps import CtxDep, requires
from loyalty.api.schemas import Money, PathId, aware, money
from loyalty.api.security import Principal, mask_phone
from loyalty.api.views import sees_pii
from loyalty.services import churn as service

router = APIRouter(tags=["analytics"])

Reader = Annotated[Principal, Depends(requires("analytics:read"))]


class ScoreAuc(BaseModel):
    """A churn score and how well it ranked the validation members (AUC: 0.5 a coin, 1 perfect)."""

    score: str = Field(examples=["model", "p_alive", "recency"])
    name_zh: str
    name_en: str
    auc: float | None = Field(description="Null where it could not be computed (no purchase model).")


class RocPoint(BaseModel):
    """The share of churners found (true-positive rate) by each score at a false-positive rate."""

    fpr: float
    model: float | None
    p_alive: float | None
    recency: float | None


class ImportanceOut(BaseModel):
    feature: str = Field(examples=["recency_days"])
    label_zh: str
    label_en: str
    importance: float = Field(description="Mean fall in validation AUC when the feature is shuffled.")
    std: float


class NextPurchaseCheckOut(BaseModel):
    """The next purchase date on the validation members, beside the member's own rhythm: mean error
    in days (a date beyond the horizon, or none, counted as the day after it)."""

    members: int
    buyers: int = Field(description="Members who did buy within the horizon.")
    model_dated: int
    model_error_days: float | None
    rhythm_dated: int
    rhythm_error_days: float | None


class ValidationOut(BaseModel):
    """The out-of-time check: trained on the members of `train_cutoff`, scored on those of `cutoff`,
    whose churn in the horizon after it the model never saw."""

    train_cutoff: date | None
    cutoff: date | None
    members: int | None
    churned: int | None
    problem: str | None = Field(description="Why there is no check: history, one_class; null when there is.")
    problem_zh: str | None
    problem_en: str | None


class AtRiskMemberOut(BaseModel):
    """A member to call back: likely to churn, most value at risk first."""

    member_id: int
    name: str
    phone: str | None = Field(examples=["+86138****5678"])
    pii_masked: bool
    registration_store_id: int | None
    churn_probability: float
    p_alive: float | None
    next_purchase_on: date | None = Field(description="Null: not expected within a year.")
    recency_days: int = Field(description="Days since the last purchase, as of the run.")
    yearly_spend: Money
    value_at_risk: Money = Field(description="Churn probability × yearly spend.")


class ChurnOut(BaseModel):
    """The last churn run: the horizon, the AUCs side by side, the ROC curves, the importances, the
    next purchase date's check, and the members at risk."""

    computed_at: datetime | None = Field(description="Null when the churn model never ran here.")
    as_of: date | None
    horizon_days: int | None = Field(description="Churn: no purchase in this many days.")
    members: int
    currency: str | None
    train_cutoff: date | None
    train_members: int | None
    validation: ValidationOut | None
    aucs: list[ScoreAuc]
    roc: list[RocPoint]
    importances: list[ImportanceOut]
    next_purchase: NextPurchaseCheckOut | None
    purchase_problem: str | None = Field(description="Why there is no P(alive) or next purchase date.")
    at_risk_threshold: float
    at_risk_total: int
    at_risk: list[AtRiskMemberOut]


class MemberChurnOut(BaseModel):
    """The member's churn scores in the last run; null fields when they were not scored (no
    purchase, erased, or no run yet)."""

    member_id: int
    computed_at: datetime | None
    horizon_days: int | None
    churn_probability: float | None = Field(description="P(no purchase in the next horizon_days days).")
    p_alive: float | None
    expected_purchases: float | None = Field(description="Purchase days expected in the horizon.")
    next_purchase_on: date | None = Field(description="Null: not expected within a year, or not scored.")
    value_at_risk: Money | None


@router.get("/analytics/churn", response_model=ChurnOut)
def churn(
    caller: Reader,
    ctx: CtxDep,
    limit: Annotated[int, Query(ge=0, le=200, description="Members at risk listed.")] = 20,
) -> ChurnOut:
    """The churn model's last run: its AUC beside P(alive)'s on an out-of-time validation, and the
    members most at risk to call back."""
    from loyalty.analytics.churn import SCORES, words

    run = service.last_run(ctx)
    if run is None:
        return ChurnOut(
            computed_at=None,
            as_of=None,
            horizon_days=None,
            members=0,
            currency=None,
            train_cutoff=None,
            train_members=None,
            validation=None,
            aucs=[],
            roc=[],
            importances=[],
            next_purchase=None,
            purchase_problem=None,
            at_risk_threshold=service.AT_RISK,
            at_risk_total=0,
            at_risk=[],
        )
    risky = service.at_risk(ctx, limit=limit)
    cur = run.currency
    listed = []
    for m in risky.members:
        shown = sees_pii(caller, m.registration_store_id)
        s = m.scores
        listed.append(
            AtRiskMemberOut(
                member_id=s.member_id,
                name=m.name,
                phone=m.phone if shown else mask_phone(m.phone),
                pii_masked=not shown,
                registration_store_id=m.registration_store_id,
                churn_probability=s.churn_probability,
                p_alive=s.p_alive,
                next_purchase_on=s.next_purchase_on,
                recency_days=s.recency_days,
                yearly_spend=money(s.yearly_spend_minor, cur),
                value_at_risk=money(s.value_at_risk_minor, cur),
            )
        )
    return ChurnOut(
        computed_at=aware(run.computed_at),
        as_of=run.as_of,
        horizon_days=run.horizon_days,
        members=run.members,
        currency=cur,
        train_cutoff=run.train_cutoff,
        train_members=run.train_members,
        validation=ValidationOut(
            train_cutoff=run.validation_train_cutoff,
            cutoff=run.validation_cutoff,
            members=run.validation_members,
            churned=run.validation_churned,
            problem=run.problem,
            problem_zh=run.problem_text("zh-CN") or None,
            problem_en=run.problem_text("en") or None,
        ),
        aucs=[
            ScoreAuc(
                score=s,
                name_zh=words.score_name(s, "zh-CN"),
                name_en=words.score_name(s, "en"),
                auc=run.aucs.get(s),
            )
            for s in SCORES
        ]
        if run.validated
        else [],
        roc=[RocPoint(**{"model": None, "p_alive": None, "recency": None, **p}) for p in run.roc],
        importances=[
            ImportanceOut(
                feature=i.feature,
                label_zh=words.feature_name(i.feature, "zh-CN"),
                label_en=words.feature_name(i.feature, "en"),
                importance=i.importance,
                std=i.std,
            )
            for i in run.importances
        ],
        next_purchase=NextPurchaseCheckOut(**run.next_purchase.to_dict()) if run.next_purchase else None,
        purchase_problem=run.purchase_problem,
        at_risk_threshold=risky.threshold,
        at_risk_total=risky.total,
        at_risk=listed,
    )


@router.get("/members/{member_id}/churn", response_model=MemberChurnOut)
def member_churn(member_id: PathId, caller: Reader, ctx: CtxDep) -> MemberChurnOut:
    """The member's churn probability in the horizon and next purchase date, from the last run."""
    found = service.member_churn_scores(ctx, member_id)
    s, run = found.scores, found.run
    if s is None or run is None:
        return MemberChurnOut(
            member_id=member_id,
            computed_at=None,
            horizon_days=None,
            churn_probability=None,
            p_alive=None,
            expected_purchases=None,
            next_purchase_on=None,
            value_at_risk=None,
        )
    return MemberChurnOut(
        member_id=member_id,
        computed_at=aware(run.computed_at),
        horizon_days=run.horizon_days,
        churn_probability=s.churn_probability,
        p_alive=s.p_alive,
        expected_purchases=s.expected_purchases,
        next_purchase_on=s.next_purchase_on,
        value_at_risk=money(s.value_at_risk_minor, run.currency),
    )
