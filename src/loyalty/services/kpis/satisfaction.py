"""Satisfaction of a scope: members' ratings (1 to 5, `services.feedback`) of its stores' sales.

A rating counts on the business day of the sale it rates, at the store that made it (not on the day it
was given): the ratings of a stretch are then the ratings of its sales, so the response rate (rated
sales against the members' sales of the stretch, `Figures.member_tickets`) and the figures by staff
(the sale's staff code, copied beside the rating) add up as the sales do. A rating given after the
report was made moves the figures of its sale's day, as a late return moves nothing but its own day.

Each zone's ratings are one range of `ix_feedback_store_sold` per store (the sale's time is copied
beside its rating), grouped by business day (`kpis.local_days`) in one pass, without the sales. The
average is a Decimal to two places, CSAT and the response rate rates as every other
(`kpis.schemas.rate`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, func, select

from loyalty.db.feedback_tables import feedback
from loyalty.domain.feedback import SATISFIED_FROM
from loyalty.services.kpis.local_days import as_date
from loyalty.services.kpis.schemas import Satisfaction, mean_rating, rate
from loyalty.services.kpis.scope import Scope, Zone


@dataclass
class Ratings:
    """A stretch's ratings: how many, their sum, and how many were 4 or 5."""

    ratings: int = 0
    rating_sum: int = 0
    satisfied: int = 0

    def add(self, other: Ratings) -> None:
        self.ratings += other.ratings
        self.rating_sum += other.rating_sum
        self.satisfied += other.satisfied

    def figures(self, member_tickets: int) -> Satisfaction:
        """The KPI of these ratings, the stretch's members' sales being `member_tickets`."""
        return Satisfaction(
            ratings=self.ratings,
            satisfied=self.satisfied,
            average_rating=mean_rating(self.rating_sum, self.ratings),
            csat=rate(self.satisfied, self.ratings),
            response_rate=rate(self.ratings, member_tickets),
        )


def over(days: dict[date, Ratings], span: Iterable[date]) -> Ratings:
    """The ratings of the sales of the days of `span`."""
    out = Ratings()
    for day in span:
        found = days.get(day)
        if found is not None:
            out.add(found)
    return out


def _rated(zone: Zone) -> list[Any]:
    """The ratings of sales made at `zone`'s stores over its stretch."""
    return [
        feedback.c.store_id.in_(zone.store_ids),
        feedback.c.sold_at >= zone.lo,
        feedback.c.sold_at < zone.hi,
    ]


def _sums() -> tuple[Any, ...]:
    return (
        func.count(),
        func.coalesce(func.sum(feedback.c.rating), 0),
        func.count().filter(feedback.c.rating >= SATISFIED_FROM),
    )


def daily_ratings(conn: Connection, scope: Scope) -> dict[date, Ratings]:
    """The ratings of the scope's sales, by the business day of the sale."""
    out: dict[date, Ratings] = defaultdict(Ratings)
    for zone in scope.zones:
        if not zone.store_ids:
            continue
        day = scope.day(feedback.c.sold_at, zone).label("day")
        rated = select(day, feedback.c.rating).where(*_rated(zone)).subquery()
        rows = conn.execute(
            select(
                rated.c.day,
                func.count(),
                func.coalesce(func.sum(rated.c.rating), 0),
                func.count().filter(rated.c.rating >= SATISFIED_FROM),
            ).group_by(rated.c.day)
        )
        for d, n, total, happy in rows:
            out[as_date(d)].add(Ratings(int(n), int(total), int(happy)))
    return dict(out)


def staff_ratings(conn: Connection, scope: Scope) -> dict[str | None, Ratings]:
    """The ratings of the scope's sales over its whole range, by the staff code of the sale."""
    out: dict[str | None, Ratings] = defaultdict(Ratings)
    for zone in scope.zones:
        if not zone.store_ids:
            continue
        rows = conn.execute(
            select(feedback.c.staff, *_sums()).where(*_rated(zone)).group_by(feedback.c.staff)
        )
        for staff, n, total, happy in rows:
            out[staff].add(Ratings(int(n), int(total), int(happy)))
    return dict(out)
