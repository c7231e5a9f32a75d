"""Member clusters: the members grouped by behaviour in the last run, and one member's cluster.

A run is made by the member-clusters job (`POST /jobs {"kind": "member_clusters"}`, optionally with
`"params": {"k": 5}` to force k) or `loyalty analytics clusters refresh`; these routes only read what
it stored. Before the first run the answers are empty (`computed_at` null, no clusters), not errors.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from loyalty.api.deps import CtxDep, requires
from loyalty.api.schemas import Money, PathId, aware, money
from loyalty.api.security import Principal
from loyalty.services import clusters as service

if TYPE_CHECKING:
    from loyalty.analytics.clusters import Profile, Trait

router = APIRouter(tags=["analytics"])

Reader = Annotated[Principal, Depends(requires("analytics:read"))]


class FeatureMeans(BaseModel):
    """Mean behaviour of a group of members (a cluster, or all of them)."""

    recency_days: float | None = Field(description="Days since the last purchase.")
    visit_days: float | None = Field(description="Distinct days with a purchase.")
    orders: float | None
    spend: Money | None = Field(description="Net spend over the whole history.")
    ticket: Money | None = Field(description="Net spend per purchase.")
    online_share: float | None = Field(
        description="Share of spend outside the store (online, mini-program, delivery)."
    )
    discount_share: float | None = Field(description="Share of line spend on discounted lines.")
    gap_mean_days: float | None = Field(
        description="Mean days between visit days (members with two or more)."
    )
    gap_cv: float | None = Field(description="Coefficient of variation of those gaps: 0 is a steady rhythm.")
    tenure_days: float | None = Field(description="Days since registration (or the first purchase).")
    category_shares: dict[str, float] = Field(description="Share of line spend in each top category.")


class TraitOut(BaseModel):
    """A feature that sets the cluster apart: its standardised difference from all members."""

    feature: str = Field(examples=["frequency", "cat:咖啡"])
    label_zh: str
    label_en: str
    high: bool
    effect: float = Field(description="Cluster mean minus everyone's, in standard deviations.")


class ClusterOut(BaseModel):
    cluster: int = Field(description="1…k; numbered by mean spend, kept across runs where clusters match.")
    members: int
    share: float
    name_zh: str
    name_en: str
    description_zh: str = Field(examples=["高频，小额，多在线上"])
    description_en: str = Field(examples=["Frequent visitors, small baskets, mostly online"])
    traits: list[TraitOut]
    means: FeatureMeans


class KScoreOut(BaseModel):
    k: int
    silhouette: float = Field(description="Mean silhouette on a fixed sample: higher is better separated.")
    inertia: float = Field(description="Mean squared distance to the cluster centre (scaled features).")
    chosen: bool


class ClustersOut(BaseModel):
    """The last clustering run: k and why, the score of every candidate k, and each cluster's profile."""

    computed_at: datetime | None = Field(description="Null when clustering never ran here.")
    as_of: date | None
    members: int
    currency: str | None
    k: int | None
    best_k: int | None = Field(description="The k the criterion chose (differs from k when k was forced).")
    forced: bool
    criterion: str | None = Field(examples=["silhouette"])
    seed: int | None
    reason_zh: str | None
    reason_en: str | None
    scores: list[KScoreOut]
    categories: list[str] = Field(description="The top categories whose shares are features.")
    overall: FeatureMeans | None
    clusters: list[ClusterOut]


class MemberClusterOut(BaseModel):
    """The member's cluster in the last run; `cluster` null when they were not clustered (no purchase,
    erased, or no run yet)."""

    member_id: int
    cluster: int | None
    computed_at: datetime | None
    name_zh: str | None
    name_en: str | None
    description_zh: str | None
    description_en: str | None


def _means(values: dict[str, float], currency: str) -> FeatureMeans:
    def get(name: str) -> float | None:
        return values.get(name)

    def cash(name: str) -> Money | None:
        v = values.get(name)
        return None if v is None else money(round(v), currency)

    return FeatureMeans(
        recency_days=get("recency_days"),
        visit_days=get("visit_days"),
        orders=get("orders"),
        spend=cash("spend_minor"),
        ticket=cash("ticket_minor"),
        online_share=get("online_share"),
        discount_share=get("discount_share"),
        gap_mean_days=get("gap_mean_days"),
        gap_cv=get("gap_cv"),
        tenure_days=get("tenure_days"),
        category_shares={k[4:]: v for k, v in values.items() if k.startswith("cat:")},
    )


def _trait(t: Trait) -> TraitOut:
    from loyalty.analytics.clusters import column_name

    return TraitOut(
        feature=t.feature,
        label_zh=column_name(t.feature, "zh-CN"),
        label_en=column_name(t.feature, "en"),
        high=t.high,
        effect=t.effect,
    )


def _cluster(p: Profile, currency: str) -> ClusterOut:
    from loyalty.analytics.clusters import describe, name

    return ClusterOut(
        cluster=p.cluster,
        members=p.members,
        share=p.share,
        name_zh=name(p.traits, "zh-CN"),
        name_en=name(p.traits, "en"),
        description_zh=describe(p.traits, "zh-CN"),
        description_en=describe(p.traits, "en"),
        traits=[_trait(t) for t in p.traits],
        means=_means(p.means, currency),
    )


@router.get("/analytics/clusters", response_model=ClustersOut)
def clusters(caller: Reader, ctx: CtxDep) -> ClustersOut:
    """The members' clusters: k and the reason for it, the silhouette per candidate k, and each
    cluster's size, mean behaviour and description for a marketer."""
    run = service.last_run(ctx)
    if run is None:
        return ClustersOut(
            computed_at=None,
            as_of=None,
            members=0,
            currency=None,
            k=None,
            best_k=None,
            forced=False,
            criterion=None,
            seed=None,
            reason_zh=None,
            reason_en=None,
            scores=[],
            categories=[],
            overall=None,
            clusters=[],
        )
    return ClustersOut(
        computed_at=aware(run.computed_at),
        as_of=run.as_of,
        members=run.members,
        currency=run.currency,
        k=run.k,
        best_k=run.best_k,
        forced=run.forced,
        criterion=run.criterion,
        seed=run.seed,
        reason_zh=run.reason("zh-CN"),
        reason_en=run.reason("en"),
        scores=[
            KScoreOut(k=s.k, silhouette=s.silhouette, inertia=s.inertia, chosen=s.k == run.k)
            for s in run.scores
        ],
        categories=list(run.categories),
        overall=_means(run.overall, run.currency),
        clusters=[_cluster(p, run.currency) for p in run.profiles],
    )


@router.get("/members/{member_id}/cluster", response_model=MemberClusterOut)
def member_cluster(member_id: PathId, caller: Reader, ctx: CtxDep) -> MemberClusterOut:
    """The member's cluster in the last clustering run, with its description."""
    from loyalty.analytics.clusters import describe, name

    found = service.member_cluster(ctx, member_id)
    p = found.profile
    run = found.run
    return MemberClusterOut(
        member_id=member_id,
        cluster=found.cluster,
        computed_at=aware(run.computed_at) if run is not None else None,
        name_zh=name(p.traits, "zh-CN") if p else None,
        name_en=name(p.traits, "en") if p else None,
        description_zh=describe(p.traits, "zh-CN") if p else None,
        description_en=describe(p.traits, "en") if p else None,
    )
