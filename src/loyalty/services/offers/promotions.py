"""Promotions in force: the automatic offers (满减 for everyone, a tier's 95折) a sale that asks for
promotions gets without a coupon (`offers.checkout`). Read per such sale, or once for a batch of
sales (`send_promotions_between`), by one indexed query, so a promotion defined or ended in another
process applies from its next sale."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Text, bindparam, cast, or_, select

from loyalty.db.offer_tables import offers
from loyalty.db.prepared import Prepared
from loyalty.db.stored_time import read_instants
from loyalty.domain.programme.offers import OfferSpec
from loyalty.services.offers.coupons import spec_of


@dataclass(frozen=True)
class Promotion:
    offer_id: int
    spec: OfferSpec


def promotions_at(conn: Connection, programme_id: int, at: datetime) -> list[Promotion]:
    """The programme's automatic offers in force at `at`, by code (one statement compiled once: a
    till that prices with the programme asks on every quote and sale)."""
    return send_promotions_at(conn, programme_id, at)()


def send_promotions_at(conn: Connection, programme_id: int, at: datetime) -> Callable[[], list[Promotion]]:
    """`promotions_at` with its statement sent now and its answer read when called: inside a pipeline
    on PostgreSQL a quote's reads travel together."""
    read = send_promotions_between(conn, programme_id, at, at)
    return lambda: [promotion for promotion, _, _ in read().entries]  # every one is in force at `at`


@dataclass(frozen=True)
class PromotionsBetween:
    """A programme's automatic offers in force at some time of a span, each with its validity
    (epoch microseconds, UTC; no end: open), by code."""

    entries: list[tuple[Promotion, int, int | None]]

    def at(self, us: int) -> list[Promotion]:
        """Those in force at `us`: what `promotions_at` answers for that instant."""
        return [p for p, start, end in self.entries if start <= us and (end is None or us < end)]


def send_promotions_between(
    conn: Connection, programme_id: int, first: datetime, last: datetime
) -> Callable[[], PromotionsBetween]:
    """The programme's automatic offers in force at some time from `first` to `last`, for a batch of
    sales: the statement sent now (inside a pipeline on PostgreSQL, with the batch's other reads), the
    answer read when called."""
    pending = _IN_FORCE.send(conn, {"programme_id": programme_id, "first": first, "last": last})

    def read() -> PromotionsBetween:
        entries = []
        for offer_id, definition, valid_from, valid_to in pending.rows():
            start = int(read_instants([valid_from])[0])
            end = None if valid_to is None else int(read_instants([valid_to])[0])
            entries.append((Promotion(int(offer_id), spec_of(definition)), start, end))
        return PromotionsBetween(entries)

    return read


#: a programme's automatic offers in force at some time from `first` to `last`, by code
_IN_FORCE = Prepared(
    select(offers.c.id, cast(offers.c.definition, Text), offers.c.valid_from, offers.c.valid_to)
    .where(
        offers.c.programme_id == bindparam("programme_id"),
        offers.c.automatic.is_(True),
        offers.c.valid_from <= bindparam("last"),
        or_(offers.c.valid_to.is_(None), offers.c.valid_to > bindparam("first")),
    )
    .order_by(offers.c.code)
)
