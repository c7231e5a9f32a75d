"""Recommendations: a member's top items (next-best offer for the till, campaigns and the console),
and the last refresh's figures.

A refresh is made by the recommendations job (`POST /jobs {"kind": "recommendations"}`) or `loyalty
analytics recommendations refresh`; these routes only read what it stored (a member's list is a few
indexed rows). The member route has the scope of `GET /members/{id}`: every reader of members, store
staff of any store included (it shows no contact data); a member without history, or before the
first purchase, gets their store's popular items, each with the reason `popular`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from loyalty.api.deps import CtxDep, requires
from loyalty.api.schemas import PathId, aware
from loyalty.api.security import Principal
from loyalty.services import recommendations as service

router = APIRouter(tags=["analytics"])

MemberReader = Annotated[Principal, Depends(requires("members:read"))]
Reader = Annotated[Principal, Depends(requires("analytics:read"))]

Reason = Literal["cf", "content", "popular"]


class RecommendationOut(BaseModel):
    """One recommended item."""

    rank: int = Field(description="1 is the best.")
    sku: str
    category: str | None
    label: str = Field(description="How the item is named: its SKU and category.", examples=["P0111 · 咖啡"])
    score: float = Field(description="The blended score, 0…1 (popular items: the store's share, 1 the best).")
    reason: Reason = Field(
        description="cf: members who buy what this member buys also buy it; content: matches the "
        "categories the member buys; popular: sells well at the member's store lately."
    )
    reason_zh: str
    reason_en: str


class MemberRecommendationsOut(BaseModel):
    """A member's recommendations from the last refresh."""

    member_id: int
    source: Literal["member", "store", "chain", "none"] = Field(
        description="member: their own list; store / chain: the popular list of their registration "
        "store, or the chain's (no history yet); none: no refresh has run."
    )
    computed_at: datetime | None
    items: list[RecommendationOut]


class ModelFiguresOut(BaseModel):
    """One model's figures on the holdout."""

    model: str = Field(examples=["blend", "als", "item_knn", "popular"])
    name_zh: str
    name_en: str
    precision: float = Field(description="precision@k")
    recall: float = Field(description="recall@k")
    map: float = Field(description="MAP@k")
    coverage: float = Field(description="Share of the catalogue recommended to anyone.")
    training_seconds: float


class RecommenderOut(BaseModel):
    """The last refresh: what it learnt from, its settings and the time-split holdout's figures."""

    computed_at: datetime | None = Field(description="Null when no refresh has run here.")
    as_of: date | None = Field(description="The last day of sales learnt from.")
    members: int
    items: int
    training_seconds: float | None
    settings: dict[str, float | int]
    k: int | None
    cutoff: date | None = Field(description="Trained on the sales up to this day, tested on the rest.")
    members_tested: int
    models: list[ModelFiguresOut]
    problem: str | None = Field(description="Why there are no figures (too little history to test).")


def _item(item: service.RecommendedItem) -> RecommendationOut:
    from loyalty.analytics.recommend import reason

    return RecommendationOut(
        rank=item.rank,
        sku=item.sku,
        category=item.category,
        label=item.label,
        score=round(item.score, 6),
        reason=item.reason,
        reason_zh=reason(item.reason, "zh-CN"),
        reason_en=reason(item.reason, "en"),
    )


@router.get("/members/{member_id}/recommendations", response_model=MemberRecommendationsOut)
def member_recommendations(
    member_id: PathId,
    caller: MemberReader,
    ctx: CtxDep,
    limit: Annotated[int, Query(ge=1, le=service.MAX_LIMIT)] = 10,
) -> MemberRecommendationsOut:
    """The member's recommended items, best first, each with its score and reason."""
    found = service.member_recommendations(ctx, member_id, limit)
    return MemberRecommendationsOut(
        member_id=member_id,
        source=found.source,
        computed_at=aware(found.computed_at) if found.computed_at is not None else None,
        items=[_item(i) for i in found.items],
    )


@router.get("/analytics/recommendations", response_model=RecommenderOut)
def recommender(caller: Reader, ctx: CtxDep) -> RecommenderOut:
    """The last refresh of the recommender and its figures on the holdout (precision@10, recall@10,
    MAP@10, coverage) beside ALS alone, item neighbours and popularity."""
    from loyalty.analytics.recommend import model_name

    run = service.last_run(ctx)
    if run is None:
        return RecommenderOut(
            computed_at=None,
            as_of=None,
            members=0,
            items=0,
            training_seconds=None,
            settings={},
            k=None,
            cutoff=None,
            members_tested=0,
            models=[],
            problem=None,
        )
    ev = run.evaluation
    return RecommenderOut(
        computed_at=aware(run.computed_at),
        as_of=run.as_of,
        members=run.members,
        items=run.items,
        training_seconds=run.seconds,
        settings=run.settings.to_dict(),
        k=ev.k if ev else None,
        cutoff=ev.cutoff if ev else None,
        members_tested=ev.members if ev else 0,
        models=[
            ModelFiguresOut(
                model=m.name,
                name_zh=model_name(m.name, "zh-CN"),
                name_en=model_name(m.name, "en"),
                precision=m.scores.precision,
                recall=m.scores.recall,
                map=m.scores.map,
                coverage=m.scores.coverage,
                training_seconds=m.seconds,
            )
            for m in (ev.models if ev else ())
        ],
        problem=run.problem,
    )
