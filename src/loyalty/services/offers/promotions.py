"""Promotions in force: the automatic offers (满减 for everyone, a tier's 95折) a sale that asks for
promotions gets without a coupon (`offers.checkout`). Read per such sale, by one indexed query, so a
promotion defined or ended in another process applies from its next sale."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, or_, select

from loyalty.db.offer_tables import offers
from loyalty.domain.programme.offers import OfferSpec, parse_offer


@dataclass(frozen=True)
class Promotion:
    offer_id: int
    spec: OfferSpec


def promotions_at(conn: Connection, programme_id: int, at: datetime) -> list[Promotion]:
    """The programme's automatic offers in force at `at`, by code."""
    rows = conn.execute(
        select(offers.c.id, offers.c.definition)
        .where(
            offers.c.programme_id == programme_id,
            offers.c.automatic.is_(True),
            offers.c.valid_from <= at,
            or_(offers.c.valid_to.is_(None), offers.c.valid_to > at),
        )
        .order_by(offers.c.code)
    ).all()
    return [Promotion(int(r.id), parse_offer(r.definition)) for r in rows]
