"""One member's recommendations as the endpoint and the member page serve them: a few indexed reads.

The member's own ranked items of the last refresh when they have any; otherwise (no purchase yet,
joined since the refresh, or erased) the popular list of their registration store, else the chain's,
every item with the reason ``popular``. Before the first refresh the list is empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Connection, select

from loyalty.db.core_tables import members
from loyalty.db.recommendation_tables import member_recommendations as stored
from loyalty.db.recommendation_tables import recommendation_popular, recommendation_runs
from loyalty.domain.errors import NotFound
from loyalty.services.common import read

if TYPE_CHECKING:
    from loyalty.bootstrap import Context

#: where a member's list came from: their own (personal), their store's popular list, the chain's,
#: or nothing (no refresh yet)
Source = Literal["member", "store", "chain", "none"]
#: the most items a member can be given (a refresh keeps this many per member)
MAX_LIMIT = 20


@dataclass(frozen=True)
class RecommendedItem:
    rank: int
    sku: str
    category: str | None
    score: float
    reason: str

    @property
    def label(self) -> str:
        from loyalty.analytics.recommend.words import label

        return label(self.sku, self.category)


@dataclass(frozen=True)
class MemberRecommendations:
    member_id: int
    source: Source
    computed_at: datetime | None
    items: tuple[RecommendedItem, ...]


def _items(rows: list[Any], popular: bool) -> tuple[RecommendedItem, ...]:
    return tuple(
        RecommendedItem(
            rank=int(r.rank),
            sku=str(r.sku),
            category=r.category,
            score=float(r.score),
            reason="popular" if popular else str(r.reason),
        )
        for r in rows
    )


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _popular(conn: Connection, store_id: int | None, limit: int) -> list[Any]:
    p = recommendation_popular
    where = p.c.store_id.is_(None) if store_id is None else p.c.store_id == store_id
    q = (
        select(p.c.rank, p.c.sku, p.c.category, p.c.score, recommendation_runs.c.computed_at)
        .join(recommendation_runs, recommendation_runs.c.id == p.c.run_id)
        .where(where)
        .order_by(p.c.rank)
        .limit(limit)
    )
    return list(conn.execute(q).all())


def member_recommendations(ctx: Context, member_id: int, limit: int = 10) -> MemberRecommendations:
    """Up to ``limit`` (1…20) items for the member, best first; MEMBER_NOT_FOUND for an unknown one."""
    limit = max(1, min(limit, MAX_LIMIT))
    with read(ctx) as conn:
        member = conn.execute(
            select(members.c.registration_store_id, members.c.erased_at).where(members.c.id == member_id)
        ).first()
        if member is None:
            raise NotFound("MEMBER_NOT_FOUND", "member {member_id} does not exist", {"member_id": member_id})
        r = stored
        own = conn.execute(
            select(r.c.rank, r.c.sku, r.c.category, r.c.score, r.c.reason, recommendation_runs.c.computed_at)
            .join(recommendation_runs, recommendation_runs.c.id == r.c.run_id)
            .where(r.c.member_id == member_id)
            .order_by(r.c.rank)
            .limit(limit)
        ).all()
        if own and member.erased_at is None:
            return MemberRecommendations(
                member_id, "member", _aware(own[0].computed_at), _items(list(own), False)
            )
        source: Source = "store"
        rows = _popular(conn, member.registration_store_id, limit) if member.registration_store_id else []
        if not rows:
            source = "chain"
            rows = _popular(conn, None, limit)
    if not rows:
        return MemberRecommendations(member_id, "none", None, ())
    return MemberRecommendations(member_id, source, _aware(rows[0].computed_at), _items(rows, True))
