"""The coupons and promotions of a batch of POS sales, taken with the batch instead of one sale at a
time.

A sale that brings codes or asks for promotions is priced as the live routine prices it
(`offers.checkout.priced`, the member's tier as read, the lines' amounts before the coupons, the
promotions in force at the sale's time) and posted by the set-based routine with the offers' share
folded into its lines' discounts, which is what the live routine stores; the uses are then written
together (`offers.coupons.take_uses`). On PostgreSQL the codes are locked and read in the round trip
that locks the batch's members (`send_coupon_reads`), after those locks, so a member's uses are
counted as the live routine counts them: under the account's lock; the promotions in force over the
batch's times are read in the same round trip.

A batch takes its codes whole or not at all: where a code cannot be used, or the batch's own earlier
sales used it up or would reach a limit, or an offer (a coupon's or a promotion's) scoped by tier
meets a member an earlier sale of the batch might upgrade, `price_coupons` answers None and the sales go
alone, where the live routine answers each as it should (a refusal alone is what it would have been
in the batch: within a batch uses only grow).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache

import numpy as np
from sqlalchemy import Connection

from loyalty.db.stored_time import epoch_us
from loyalty.domain.errors import DomainError, InvalidInput
from loyalty.services.catalogue import StoreInfo, TierLadder
from loyalty.services.offers.checkout import (
    NO_COUPONS,
    Cart,
    CouponDiscounts,
    checked_codes,
    priced,
    send_usables,
)
from loyalty.services.offers.coupons import Usable, Use, lock_codes
from loyalty.services.offers.promotions import Promotion, PromotionsBetween, send_promotions_between
from loyalty.services.posting.member_state import MemberState
from loyalty.services.posting.order_batch import IntArray
from loyalty.services.schemas import PurchaseIn, UsedCoupon


@dataclass(frozen=True)
class CouponReads:
    """The batch's codes, locked and looked up, and the promotions in force over its times, sent before
    they are needed."""

    locked: Callable[[], object]
    codes: list[tuple[list[str], Callable[[], list[Usable]]] | None]  # per sale; None: brings none
    promotions: Mapping[int, Callable[[], PromotionsBetween]]  # by programme, read once for its sales

    def promotions_of(self, programme_id: int, at: datetime) -> list[Promotion]:
        """The promotions in force at `at` for a sale of the programme that asks for them."""
        return self.promotions[programme_id]().at(epoch_us(at))


def send_coupon_reads(
    conn: Connection, sales: Sequence[PurchaseIn], stores: Mapping[int, StoreInfo]
) -> CouponReads | None:
    """Lock the coupons the sales' codes name, send their look-ups and the read of the promotions in
    force over the times of the sales asking for them (PostgreSQL: without waiting); None when a sale's
    codes are refused as given (too many, an empty one, one twice): it goes alone."""
    try:
        stored = [checked_codes(sale.coupon_codes) if sale.coupon_codes else [] for sale in sales]
    except InvalidInput:
        return None
    locked = lock_codes(conn, [code for codes in stored for code in codes])
    codes = [
        (codes, send_usables(conn, codes, sale.member_id, sale.occurred_at)) if codes else None
        for codes, sale in zip(stored, sales, strict=True)
    ]
    asking: dict[int, list[datetime]] = {}
    for sale in sales:
        if sale.apply_promotions:
            asking.setdefault(stores[sale.store_id].programme.id, []).append(sale.occurred_at)
    promotions = {
        programme: cache(send_promotions_between(conn, programme, min(times), max(times)))
        for programme, times in asking.items()
    }
    return CouponReads(locked, codes, promotions)


@dataclass(frozen=True)
class BatchCoupons:
    """What each sale's coupons take off it (`NO_COUPONS` where it brings none)."""

    discounts: list[CouponDiscounts]

    def line_discounts(self, line_counts: IntArray) -> IntArray:
        """Per line of the batch, what the coupons took off it (to add to the till's discount)."""
        parts = [
            np.array(d.per_line, dtype=np.int64) if d.applied else np.zeros(int(n), dtype=np.int64)
            for d, n in zip(self.discounts, line_counts.tolist(), strict=True)
        ]
        off: IntArray = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        return off

    def used(self, i: int) -> list[UsedCoupon]:
        """What sale `i`'s answer lists of its coupons."""
        return [UsedCoupon(**c.shown()) for c in self.discounts[i].applied]

    def uses(self, purchase_ids: Sequence[int], member_ids: Sequence[int | None]) -> list[Use]:
        """The uses to record (coupons' and promotions'), sale by sale in batch order, each sale's in
        the order it applied them."""
        return [
            Use(None if c.usable is None else c.usable.coupon_id, c.offer_id, member, pid, c.discount_minor)
            for d, pid, member in zip(self.discounts, purchase_ids, member_ids, strict=True)
            for c in d.applied
        ]


class _BatchUses:
    """What a batch's earlier sales took of the codes found usable before it: uses per coupon, per
    offer and per member of an offer, and each offer's discount against its budget."""

    def __init__(self) -> None:
        self.coupons: dict[int, int] = {}
        self.offers: dict[int, int] = {}
        self.members: dict[tuple[int, int], int] = {}  # (offer, member)
        self.discounted: dict[int, int] = {}

    def used_up(self, usable: Usable, member: int | None) -> bool:
        """Whether the code is no longer usable after the batch's earlier uses: the live routine
        would refuse it, even where the sale would not apply it."""
        if self.coupons.get(usable.coupon_id, 0) >= usable.coupon_uses_left:
            return True
        offer_left = usable.offer_uses_left
        if offer_left is not None and self.offers.get(usable.offer_id, 0) >= offer_left:
            return True
        limit = usable.per_member_limit
        if limit is None or member is None:
            return False
        return usable.member_uses + self.members.get((usable.offer_id, member), 0) >= limit

    def take(self, usable: Usable, member: int | None, discount_minor: int) -> bool:
        """Count a use of the code (found not `used_up`); False where the offer's budget, as found,
        has no room for its discount after the batch's earlier ones (`Usable.takes`)."""
        self.coupons[usable.coupon_id] = self.coupons.get(usable.coupon_id, 0) + 1
        self.offers[usable.offer_id] = self.offers.get(usable.offer_id, 0) + 1
        if member is not None:
            key = (usable.offer_id, member)
            self.members[key] = self.members.get(key, 0) + 1
        self.discounted[usable.offer_id] = self.discounted.get(usable.offer_id, 0) + discount_minor
        return usable.takes(self.discounted[usable.offer_id])


def price_coupons(
    sales: Sequence[PurchaseIn],
    amounts: Sequence[Sequence[int]],
    reads: CouponReads,
    stores: dict[int, StoreInfo],
    ladder: TierLadder,
    members: dict[int, MemberState],
) -> BatchCoupons | None:
    """Each sale's coupons and promotions priced as the live routine prices them, in batch order, on
    the lines' `amounts` before them; None where the batch cannot take them (see the module)."""
    reads.locked()
    found: list[list[Usable] | None] = []
    for entry in reads.codes:  # every answer read, so that none is left behind on the connection
        try:
            found.append(None if entry is None else entry[1]())
        except DomainError:
            found.append(None)
    for read in reads.promotions.values():
        read()
    if any(entry is not None and usables is None for entry, usables in zip(reads.codes, found, strict=True)):
        return None  # a code that cannot be used: the sale is refused alone
    discounts: list[CouponDiscounts] = []
    taken = _BatchUses()
    seen: set[int] = set()  # members with an earlier sale in the batch
    for sale, lines, entry, usables in zip(sales, amounts, reads.codes, found, strict=True):
        member = sale.member_id
        earlier = member is not None and member in seen
        if member is not None:
            seen.add(member)
        codes, usable = ([], []) if entry is None or usables is None else (entry[0], usables)
        if not codes and not sale.apply_promotions:
            discounts.append(NO_COUPONS)
            continue
        store = stores[sale.store_id]
        promotions = (
            reads.promotions_of(store.programme.id, sale.occurred_at) if sale.apply_promotions else []
        )
        if any(taken.used_up(u, member) for u in usable):
            return None  # found usable, but the batch's earlier sales used it up: refused alone
        specs = [u.spec for u in usable] + [p.spec for p in promotions]
        if earlier and any(spec.when.tiers for spec in specs):
            return None  # its tier is the one an earlier sale of the batch leaves: only posting knows
        state = None if member is None else members.get(member)
        if member is not None and state is None:
            return None  # unknown member: alone, refused
        tier_code = None if state is None else ladder.by_id[state.tier_id].code
        try:
            cart = Cart.of(store.code, sale.channel, tier_code, lines, sale.lines, promotions)
            priced_sale = priced(codes, usable, cart)
        except DomainError:
            return None
        for c in priced_sale.applied:
            if c.usable is not None and not taken.take(c.usable, member, c.discount_minor):
                return None  # the batch's earlier sales spent the budget: this one is refused alone
        discounts.append(priced_sale)
    return BatchCoupons(discounts)
