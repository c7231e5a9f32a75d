"""Rewards bought with points: what a reward's terms may be, its price for a tier, and an order's life.

A reward (a gift, a coupon, a service) has a price in points, optionally a lower or higher one per
tier (`tier_prices`, by tier code), an optional stock and an optional limit per member. It may be
exclusive to some tiers (`tiers`, tier codes): then only members of exactly those tiers may order it —
a reward for 金卡 and above lists 金卡 and every tier above it, so adding a tier to the ladder never
opens (or closes) a reward to anyone by itself. None (the default): every member may. Its terms are
checked whole here, every bad field named, before anything is written.

An order is made `reserved` (points spent, a unit of stock taken) and then moves on once:

- a gift or a service: `reserved` → `shipped` → `collected`, or `reserved` → `collected` / `fulfilled`
  (handed over at the counter, a service rendered); `shipped` may still end `fulfilled`;
- a coupon reward is `fulfilled` when it is made (the coupon is in the member's wallet at once);
- `cancelled` gives the points and the unit back: from `reserved`, or from `fulfilled` for a coupon
  whose code was never used (the code is voided). A shipped or collected gift is not cancelled: what
  the member holds comes back by a return, not by undoing the order.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from loyalty.domain.errors import InvalidInput
from loyalty.domain.programme.fields import FieldErrors, whole_number

RewardKind = Literal["gift", "coupon", "service"]
REWARD_KINDS: tuple[RewardKind, ...] = ("gift", "coupon", "service")
OrderStatus = Literal["reserved", "fulfilled", "shipped", "collected", "cancelled"]
ORDER_STATUSES: tuple[OrderStatus, ...] = ("reserved", "fulfilled", "shipped", "collected", "cancelled")
#: what fulfilment may set (cancelling is its own use case: it gives points and stock back)
FULFILMENT_STATUSES: tuple[OrderStatus, ...] = ("fulfilled", "shipped", "collected")

CODE_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,39}$"
_CODE = re.compile(CODE_PATTERN)
MAX_POINTS = 10_000_000
MAX_STOCK = 10_000_000
MAX_PER_MEMBER = 1_000
MAX_TIER_PRICES = 50

_NEXT: dict[str, frozenset[str]] = {
    "reserved": frozenset({"fulfilled", "shipped", "collected"}),
    "shipped": frozenset({"collected", "fulfilled"}),
}


@dataclass(frozen=True)
class RewardTerms:
    """A reward's terms as a marketer sets them (codes and names as given, points as integers)."""

    code: str
    name: str
    kind: RewardKind
    points: int
    tier_prices: Mapping[str, int] = field(default_factory=dict)
    stock: int | None = None
    per_member_limit: int | None = None
    offer_code: str | None = None
    description: str | None = None
    #: the tier codes whose members alone may order it; None: every member
    tiers: tuple[str, ...] | None = None


def open_to(tiers: Sequence[str] | None, tier_code: str | None) -> bool:
    """Whether a member of `tier_code` may order a reward exclusive to `tiers` (None: to everyone)."""
    return tiers is None or (tier_code is not None and tier_code in tiers)


def price_for(points: int, tier_prices: Mapping[str, int], tier_code: str | None) -> int:
    """The price a member of `tier_code` pays: the tier's own price where it has one, else `points`."""
    if tier_code is not None and tier_code in tier_prices:
        return int(tier_prices[tier_code])
    return points


def may_move(status: str, to: str) -> bool:
    """Whether fulfilment may move an order from `status` to `to`."""
    return to in _NEXT.get(status, frozenset())


def cancellable(status: str, coupon_unused: bool | None) -> bool:
    """Whether an order may be cancelled: reserved, or a coupon reward whose code was never used."""
    return status == "reserved" or (status == "fulfilled" and coupon_unused is True)


def _text(raw: Any, name: str, errors: FieldErrors, most: int, required: bool) -> str | None:
    if raw is None and not required:
        return None
    if not isinstance(raw, str) or not raw.strip():
        errors.add(name, "must not be empty")
        return None
    if len(raw) > most:
        errors.add(name, "is at most {n} characters", {"n": most})
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in raw):
        errors.add(name, "must not contain control characters")
    return raw.strip()


def check_terms(terms: RewardTerms, *, known_tiers: frozenset[str] | None = None) -> RewardTerms:
    """The terms, refused whole (REWARD_INVALID, every bad field named) when they cannot work.

    `known_tiers`: the chain's tier codes, which `tier_prices` and `tiers` must name (None: not checked
    here).
    """
    errors = FieldErrors("")
    if not isinstance(terms.code, str) or not _CODE.match(terms.code):
        errors.add(
            "code", "must be 1 to 40 lower-case letters, digits, - or _, starting with a letter or digit"
        )
    _text(terms.name, "name", errors, 200, True)
    _text(terms.description, "description", errors, 1000, False)
    if terms.kind not in REWARD_KINDS:
        errors.add("kind", "must be one of {kinds}", {"kinds": ", ".join(REWARD_KINDS)})
    whole_number(terms.points, "points", errors, 1, MAX_POINTS)
    if len(terms.tier_prices) > MAX_TIER_PRICES:
        errors.add("tier_prices", "names at most {n} tiers", {"n": MAX_TIER_PRICES})
    for tier, price in sorted(terms.tier_prices.items()):
        whole_number(price, f"tier_prices.{tier}", errors, 1, MAX_POINTS)
        if known_tiers is not None and tier not in known_tiers:
            errors.add(f"tier_prices.{tier}", "no tier has the code {value}", {"value": tier})
    if terms.tiers is not None:
        if not terms.tiers:
            errors.add("tiers", "names at least one tier (leave it out for every member)")
        elif len(terms.tiers) > MAX_TIER_PRICES:
            errors.add("tiers", "names at most {n} tiers", {"n": MAX_TIER_PRICES})
        for tier in terms.tiers:
            if known_tiers is not None and tier not in known_tiers:
                errors.add("tiers", "no tier has the code {value}", {"value": tier})
    if terms.stock is not None:
        whole_number(terms.stock, "stock", errors, 0, MAX_STOCK)
    if terms.per_member_limit is not None:
        whole_number(terms.per_member_limit, "per_member_limit", errors, 1, MAX_PER_MEMBER)
    if terms.kind == "coupon" and not terms.offer_code:
        errors.add("offer_code", "a coupon reward names the offer whose coupon it gives")
    if terms.kind != "coupon" and terms.offer_code:
        errors.add("offer_code", "only a coupon reward gives a coupon")
    refuse_any(errors)
    return terms


def refuse_any(errors: FieldErrors) -> None:
    """REWARD_INVALID naming the first bad field (and every one in `errors`)."""
    if errors.entries:
        first = errors.entries[0]
        raise InvalidInput(
            "REWARD_INVALID",
            "the reward cannot work: {field}: {reason}",
            {"field": first["field"], "reason": first["message"], "errors": errors.entries},
        )
