"""Coupons and promotions at the till: the codes a cart brings, found usable, applied to its lines
with the promotions in force when the till asks for them, and used.

One function (`coupon_discounts`) serves the quote, which only reads, and the posting, which then
records each use in the sale's own transaction (`record_uses`), so a quote is what posting the same
cart does. The policy, as the marketer's guide states it:

* Each code must be usable by this member at the sale's time (`coupons.find_usable`), its offer
  with uses left and, once the discount is known, budget left for it; any code that is not, for
  whatever reason, gets the one answer COUPON_NOT_USABLE and the sale is not posted, so a till
  cannot tell an unknown code from a used or expired one, and a quote refuses what posting would.
* The usable codes' offers are combined best-for-member (`domain.programme.offers.apply_offers`:
  exclusive and stackable groups); a code whose offer the choice leaves out, or that gives this cart
  nothing, is reported as not applied and stays unused. At most one coupon of an offer counts per
  sale.
* An offer's discount is shared over its lines by largest remainder; the lines' amounts after the
  discount are what the sale earns points on and what a return refunds.
* A use is taken by conditional updates (`coupons.use_coupon`): the coupon's, the offer's and its
  budget's counters never pass their limits, whatever the concurrency; a checkout that loses the race
  is refused with COUPON_NOT_USABLE and writes nothing.
* A fully returned sale gives its coupons back (`coupons.release_coupons`); a partial return keeps
  them used, the discount staying with the lines as they were sold.
* Promotions (`promotions`: automatic offers, e.g. 满200减20 for everyone or a tier's 95折) join the
  coupons' offers in the best-for-member choice when the sale asks for them (`apply_promotions`: a
  till that prices with the programme; an import or a till that applied its own discounts does
  not). Their uses are recorded without a coupon and have no limits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from loyalty.db.offer_tables import coupon_uses, coupons, offers
from loyalty.domain.errors import Conflict, InvalidInput, field_error
from loyalty.domain.programme.offers import OfferLine, OfferSale, apply_offers
from loyalty.services.offers.coupons import (
    Usable,
    not_usable,
    printed,
    record_use,
    send_usable,
    typed,
    use_coupon,
)
from loyalty.services.offers.promotions import Promotion

#: the most codes one sale may bring
MAX_CODES = 5


@dataclass(frozen=True)
class AppliedCoupon:
    """A code the sale uses: its offer and what it took off the cart."""

    code: str | None  # as printed; None: a promotion, applied without a coupon
    offer_code: str
    offer_name: str
    kind: str
    discount_minor: int
    usable: Usable | None  # None: a promotion
    offer_id: int = 0

    def shown(self) -> dict[str, Any]:
        """What a sale's answer says of it (`schemas.UsedCoupon`)."""
        return {
            "code": self.code,
            "offer_code": self.offer_code,
            "offer_name": self.offer_name,
            "discount_minor": self.discount_minor,
        }


@dataclass(frozen=True)
class CouponDiscounts:
    """What a cart's codes take off: per line, per coupon used, and the codes left unused."""

    per_line: list[int] = field(default_factory=list)
    applied: list[AppliedCoupon] = field(default_factory=list)
    not_applied: list[str] = field(default_factory=list)

    @property
    def total_minor(self) -> int:
        return sum(c.discount_minor for c in self.applied)

    def net(self, amounts: Sequence[int]) -> list[int]:
        """The lines' amounts after the coupons (as they are when none applies)."""
        if not self.applied:
            return list(amounts)
        return [a - d for a, d in zip(amounts, self.per_line, strict=True)]


NO_COUPONS = CouponDiscounts()


def checked_codes(codes: Sequence[str], prefix: str = "coupon_codes") -> list[str]:
    """The codes in their stored form; PURCHASE_INVALID naming the entry for too many, an empty one or
    the same code twice (however each was typed)."""
    errors = []
    if len(codes) > MAX_CODES:
        errors.append(field_error(prefix, "a sale takes at most {n} coupon codes", {"n": MAX_CODES}))
    seen: set[str] = set()
    out = []
    for i, code in enumerate(codes):
        stored = typed(code)
        if not stored:
            errors.append(field_error(f"{prefix}.{i}", "a coupon code must not be empty"))
        elif stored in seen:
            errors.append(field_error(f"{prefix}.{i}", "the same coupon code is given twice"))
        seen.add(stored)
        out.append(stored)
    if errors:
        raise InvalidInput("PURCHASE_INVALID", errors[0]["message"], {"errors": errors})
    return out


@dataclass(frozen=True)
class CartLine:
    """A line as the coupons see it: its amount before them."""

    amount_minor: int
    quantity: int
    category: str | None
    sku: str


@dataclass(frozen=True)
class Cart:
    """A cart as the offers see it: where, by which channel and tier, its lines, and the promotions in
    force when it asks for them."""

    store_code: str
    channel: str
    tier_code: str | None
    lines: Sequence[CartLine]
    promotions: Sequence[Promotion] = ()

    @classmethod
    def of(
        cls,
        store_code: str,
        channel: str,
        tier_code: str | None,
        amounts: Sequence[int],
        lines: Sequence[Any],
        promotions: Sequence[Promotion] = (),
    ) -> Cart:
        """A sale's or a quoted cart's `lines` (quantity, category, SKU) at their `amounts` before the
        coupons."""
        cart = [CartLine(a, ln.quantity, ln.category, ln.sku) for a, ln in zip(amounts, lines, strict=True)]
        return cls(store_code, channel, tier_code, cart, promotions)


def coupon_discounts(
    conn: Connection, codes: Sequence[str], cart: Cart, *, member_id: int | None, at: datetime
) -> CouponDiscounts:
    """What `codes`, and the cart's promotions, take off its lines for `member_id` at `at` (reads
    only; see the module): coupons and promotions are combined best-for-member together."""
    if not codes and not cart.promotions:
        return CouponDiscounts(per_line=[0] * len(cart.lines))
    stored = checked_codes(codes)
    return priced(stored, send_usables(conn, stored, member_id, at)(), cart)


def send_usables(
    conn: Connection, stored: Sequence[str], member_id: int | None, at: datetime
) -> Callable[[], list[Usable]]:
    """The coupons of `stored` codes (`checked_codes`), each found usable by `member_id` at `at`:
    the statements sent now, the answers read when called (COUPON_NOT_USABLE for the first that is
    not). A batch of sales sends its codes with its other reads (`posting.pos_batch`)."""
    pending = [send_usable(conn, code, member_id, at) for code in stored]

    def read() -> list[Usable]:
        found, refused = [], None
        for usable in pending:  # every answer read, so that none is left behind on the connection
            try:
                found.append(usable())
            except Conflict as exc:
                refused = refused or exc
        if refused is not None:
            raise refused
        return found

    return read


def priced(stored: Sequence[str], usables: Sequence[Usable], cart: Cart) -> CouponDiscounts:
    """What the codes `stored`, found `usables`, and the cart's promotions take off its lines,
    combined best-for-member (see the module); COUPON_NOT_USABLE where an offer's budget, as found,
    has no room for its discount."""
    promotions = cart.promotions
    by_offer: dict[str, tuple[str | None, Usable | None, int]] = {
        p.spec.code: (None, None, p.offer_id) for p in promotions
    }
    specs = {p.spec.code: p.spec for p in promotions}
    for code, usable in zip(stored, usables, strict=True):
        if usable.spec.code not in by_offer:  # one coupon of an offer per sale
            by_offer[usable.spec.code] = (code, usable, usable.offer_id)
            specs[usable.spec.code] = usable.spec
    sale = OfferSale(store_code=cart.store_code, channel=cart.channel, tier_code=cart.tier_code or "")
    lines = [OfferLine(ln.amount_minor, ln.quantity, ln.category, ln.sku) for ln in cart.lines]
    chosen = apply_offers(list(specs.values()), sale, lines)
    totals = [0] * len(chosen.offers)
    for index, minor in zip(chosen.entry_offer.tolist(), chosen.entry_minor.tolist(), strict=True):
        totals[index] += minor
    applied = []
    for spec, total in zip(chosen.offers, totals, strict=True):
        given, found, offer_id = by_offer[spec.code]
        shown = None if given is None else printed(given)
        applied.append(AppliedCoupon(shown, spec.code, spec.name, spec.kind, total, found, offer_id))
    if any(c.usable is not None and not c.usable.takes(c.discount_minor) for c in applied):
        raise not_usable()  # as using it would be (`coupons.use_coupon`): the quote refuses it too
    used = {c.usable.coupon_id for c in applied if c.usable is not None}
    left = [printed(code) for code, u in zip(stored, usables, strict=True) if u.coupon_id not in used]
    return CouponDiscounts(per_line=chosen.discount.tolist(), applied=applied, not_applied=left)


def record_uses(
    conn: Connection, discounts: CouponDiscounts, member_id: int | None, at: datetime, purchase_id: int
) -> None:
    """Take a use of each applied coupon for purchase `purchase_id`, in the caller's transaction
    (COUPON_NOT_USABLE, and the transaction rolled back by the caller, when a racer took it first);
    a promotion's use is recorded without a coupon and without counters (it has no use limits)."""
    for coupon in discounts.applied:
        if coupon.usable is not None:
            use_coupon(conn, coupon.usable, member_id, coupon.discount_minor, at, purchase_id=purchase_id)
            continue
        record_use(conn, None, coupon.offer_id, member_id, purchase_id, coupon.discount_minor, at)


def used_by(conn: Connection, purchase_id: int) -> list[dict[str, Any]]:
    """The coupons purchase `purchase_id` used, as its answer shows them (a replay answers the same);
    a use given back by a full return is still listed: the sale did use it."""
    rows = conn.execute(
        select(coupons.c.code, offers.c.code.label("offer_code"), offers.c.name, coupon_uses.c.discount_minor)
        .select_from(coupon_uses)
        .outerjoin(coupons, coupons.c.id == coupon_uses.c.coupon_id)  # none: a promotion's use
        .join(offers, offers.c.id == coupon_uses.c.offer_id)
        .where(coupon_uses.c.purchase_id == purchase_id)
        .order_by(coupon_uses.c.id)
    ).all()
    return [
        {
            "code": None if r.code is None else printed(r.code),
            "offer_code": r.offer_code,
            "offer_name": r.name,
            "discount_minor": int(r.discount_minor),
        }
        for r in rows
    ]
