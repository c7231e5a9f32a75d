"""Offers at checkout as data: what a coupon or a promotion takes off a cart, evaluated on columns.

Kinds (seeds 000, 003):

- ``percent_off``: ``percent`` % off the selected lines (a tier's 95折 is ``percent: 5``);
- ``amount_off``: ``amount`` off the selected lines' spend;
- ``ladder`` (满减): the highest step reached (满100减20 / 满300减80), or with ``repeat`` every full
  step (每满100减10, one step);
- ``buy_x_get_y``: for every ``buy`` + ``get`` selected items, the ``get`` cheapest are free;
- ``gift``: the selected SKU is free, once (a gift with purchase the till scans as a line).

Conditions (``when``: stores, channels, tiers, categories, SKUs, minimum spend on the selected lines
— on the whole cart for a gift, whose SKU is what is given) select as for earning rules;
``max_discount`` caps an offer's discount per sale.

An offer's discount is computed on the lines' amounts before any offer, so offers never depend on
each other's order, and shared over its lines in proportion to their amounts by largest remainder
(ties: the earlier line), so a returned line gives back exactly its share. A line is never
discounted below zero: where offers together would, the later ones in the chosen order are cut.

Stacking: an offer in ``group: exclusive`` applies alone; other offers stack, at most one per named
group. Of the ways to combine the offers a sale qualifies for, the one giving the member the largest
discount is taken (ties: fewer offers, then the earlier codes) — a deterministic best-for-member
choice, the same in a quote and in the posting.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import product
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from loyalty.domain.programme.engine import shared
from loyalty.domain.programme.fields import FieldErrors, money, names, whole_number
from loyalty.domain.programme.rules import Conditions

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
OfferKind = Literal["percent_off", "amount_off", "ladder", "buy_x_get_y", "gift"]
OFFER_KINDS: tuple[OfferKind, ...] = ("percent_off", "amount_off", "ladder", "buy_x_get_y", "gift")
EXCLUSIVE = "exclusive"
_MAX_MONEY = 10**12


@dataclass(frozen=True)
class OfferSpec:
    """One offer as defined (a coupon's or a promotion's)."""

    code: str
    name: str
    kind: OfferKind
    percent: int = 0
    amount_minor: int = 0
    steps: tuple[tuple[int, int], ...] = ()  # (threshold, off) ascending, minor units
    repeat: bool = False
    buy: int = 0
    get: int = 0
    max_discount_minor: int = 0
    group: str | None = None
    when: Conditions = field(default_factory=Conditions)
    #: a promotion: applied to every sale it selects, without a coupon, when the till asks for them
    automatic: bool = False


@dataclass(frozen=True)
class OfferLine:
    """A cart's line as offers see it (`amount_minor` before any offer)."""

    amount_minor: int
    quantity: int
    category: str | None
    sku: str


@dataclass(frozen=True)
class OfferSale:
    """What an offer's sale-level conditions ask."""

    store_code: str
    channel: str
    tier_code: str


@dataclass(frozen=True)
class Applied:
    """The chosen offers' discount per line, and per (line, offer) what each took off."""

    discount: IntArray  # per line
    entry_line: IntArray
    entry_offer: IntArray  # index into `offers`
    entry_minor: IntArray
    offers: tuple[OfferSpec, ...]

    @property
    def total_minor(self) -> int:
        return int(self.discount.sum())


def parse_offer(raw: Any, prefix: str = "", minor_per_unit: int = 100) -> OfferSpec:
    """An offer from its dict form; `InvalidInput` naming every bad field otherwise."""
    errors = FieldErrors(prefix)
    if not isinstance(raw, dict):
        errors.add("", "an offer is a mapping of fields")
        errors.raise_any()
    fields = {"code", "name", "kind", "percent", "amount", "steps", "repeat", "buy", "get", "max_discount"}
    for name in sorted(set(raw) - fields - {"group", "when", "automatic"}):
        errors.add(name, "is not a field of an offer")
    code = raw.get("code")
    if not isinstance(code, str) or not code.strip() or len(code) > 40:
        errors.add("code", "must be a text of 1 to 40 characters")
    name = raw.get("name", code)
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        errors.add("name", "must be a text of 1 to 200 characters")
    kind = raw.get("kind")
    if kind not in OFFER_KINDS:
        errors.add(
            "kind", "must be one of {kinds} (got {value})", {"kinds": ", ".join(OFFER_KINDS), "value": kind}
        )
    percent = amount = buy = get = 0
    steps: list[tuple[int, int]] = []
    if kind == "percent_off":
        percent = whole_number(raw.get("percent"), "percent", errors, 1, 99)
    elif kind == "amount_off":
        amount = money(raw.get("amount"), "amount", errors, minor_per_unit)
        if not amount:
            errors.add("amount", "must be more than zero")
    elif kind == "ladder":
        steps = _steps(raw.get("steps"), errors, minor_per_unit)
        if raw.get("repeat") and len(steps) != 1:
            errors.add("steps", "a repeated ladder (每满…减…) has one step")
    elif kind == "buy_x_get_y":
        buy = whole_number(raw.get("buy"), "buy", errors, 1, 100)
        get = whole_number(raw.get("get"), "get", errors, 1, 100)
    elif kind == "gift" and not raw.get("when", {}).get("skus"):
        errors.add("when.skus", "a gift names the SKU given")
    repeat = raw.get("repeat", False)
    if not isinstance(repeat, bool) or (repeat and kind != "ladder"):
        errors.add("repeat", "is true or false, for a ladder only")
    automatic = raw.get("automatic", False)
    if not isinstance(automatic, bool):
        errors.add("automatic", "is true (a promotion, no coupon needed) or false")
    max_discount = money(raw.get("max_discount"), "max_discount", errors, minor_per_unit)
    group = raw.get("group")
    if group is not None and (not isinstance(group, str) or not group.strip() or len(group) > 40):
        errors.add("group", "must be a text of 1 to 40 characters (exclusive: applies alone)")
    when_raw = raw.get("when") or {}
    allowed = {"stores", "channels", "tiers", "categories", "skus", "min_spend"}
    if not isinstance(when_raw, dict):
        errors.add("when", "must be a mapping of conditions")
        when_raw = {}
    for name_ in sorted(set(when_raw) - allowed):
        errors.add(f"when.{name_}", "is not a condition of an offer")
    when = Conditions(
        stores=names(when_raw.get("stores"), "when.stores", errors),
        channels=names(when_raw.get("channels"), "when.channels", errors),
        tiers=names(when_raw.get("tiers"), "when.tiers", errors),
        categories=names(when_raw.get("categories"), "when.categories", errors),
        skus=names(when_raw.get("skus"), "when.skus", errors),
        min_spend_minor=money(when_raw.get("min_spend"), "when.min_spend", errors, minor_per_unit),
    )
    errors.raise_any("OFFER_INVALID")
    return OfferSpec(
        code=str(code),
        name=str(name),
        kind=kind,
        percent=percent,
        amount_minor=amount,
        steps=tuple(steps),
        repeat=bool(repeat),
        buy=buy,
        get=get,
        max_discount_minor=max_discount,
        group=group,
        when=when,
        automatic=bool(automatic),
    )


def _steps(raw: Any, errors: FieldErrors, minor_per_unit: int) -> list[tuple[int, int]]:
    if not isinstance(raw, list) or not raw:
        errors.add("steps", "a ladder lists its steps: [{over: 100, off: 20}, …]")
        return []
    steps = []
    for i, step in enumerate(raw):
        if not isinstance(step, dict) or set(step) != {"over", "off"}:
            errors.add(f"steps[{i}]", "a step is {over: amount, off: amount}")
            continue
        over = money(step["over"], f"steps[{i}].over", errors, minor_per_unit)
        off = money(step["off"], f"steps[{i}].off", errors, minor_per_unit)
        if not 0 < off < over:
            errors.add(f"steps[{i}]", "takes off more than nothing and less than its threshold")
        steps.append((over, off))
    overs = [s[0] for s in steps]
    offs = [s[1] for s in steps]
    if overs != sorted(set(overs)) or offs != sorted(set(offs)):
        errors.add("steps", "steps must rise: each threshold and each discount above the one before")
    return steps


def _selected(offer: OfferSpec, sale: OfferSale, lines: Sequence[OfferLine]) -> BoolArray:
    when = offer.when
    if (
        (when.stores and sale.store_code not in when.stores)
        or (when.channels and sale.channel not in when.channels)
        or (when.tiers and sale.tier_code not in when.tiers)
    ):
        return np.zeros(len(lines), dtype=bool)
    return np.array(
        [
            ln.amount_minor > 0
            and (not when.categories or ln.category in when.categories)
            and (not when.skus or ln.sku in when.skus)
            for ln in lines
        ],
        dtype=bool,
    )


def offer_discount(offer: OfferSpec, sale: OfferSale, lines: Sequence[OfferLine]) -> IntArray:
    """What `offer` alone takes off each line (zeros where the sale does not qualify)."""
    amount = np.array([ln.amount_minor for ln in lines], dtype=np.int64)
    chosen = _selected(offer, sale, lines)
    # a gift's SKU is what is given: its minimum spend counts the whole cart (满50送杯)
    spend = int(amount[amount > 0].sum()) if offer.kind == "gift" else int(amount[chosen].sum())
    out = np.zeros(len(lines), dtype=np.int64)
    if not chosen.any() or spend < max(offer.when.min_spend_minor, 1):
        return out
    if offer.kind == "percent_off":
        total = spend * offer.percent // 100
    elif offer.kind == "amount_off":
        total = min(offer.amount_minor, spend)
    elif offer.kind == "ladder":
        if offer.repeat:
            over, off = offer.steps[0]
            total = spend // over * off
        else:
            reached = [off for over, off in offer.steps if spend >= over]
            total = reached[-1] if reached else 0
    elif offer.kind == "buy_x_get_y":
        total = _free_items(offer, lines, chosen)
    else:  # gift: one unit of the selected SKU
        first = int(np.flatnonzero(chosen)[0])
        total = lines[first].amount_minor // max(lines[first].quantity, 1)
        share = np.zeros(len(lines), dtype=np.int64)
        share[first] = min(total, offer.max_discount_minor or total)
        return share
    if offer.max_discount_minor:
        total = min(total, offer.max_discount_minor)
    weights = amount[chosen]
    out[chosen] = shared(
        np.full(len(weights), total, dtype=np.int64), np.zeros(len(weights), dtype=np.int64), weights
    )
    return out


def _free_items(offer: OfferSpec, lines: Sequence[OfferLine], chosen: BoolArray) -> int:
    """Buy `buy` get `get`: the cheapest `get` of every `buy + get` selected units are free."""
    units = sorted(  # a line's units share its amount in whole minor units
        ln.amount_minor // ln.quantity + (k < ln.amount_minor % ln.quantity)
        for ln, c in zip(lines, chosen, strict=True)
        if c
        for k in range(ln.quantity)
    )
    free = len(units) // (offer.buy + offer.get) * offer.get
    return int(sum(units[:free]))


def apply_offers(offers: Sequence[OfferSpec], sale: OfferSale, lines: Sequence[OfferLine]) -> Applied:
    """The best-for-member combination of `offers` for the cart (see the module docstring)."""
    amounts = np.array([ln.amount_minor for ln in lines], dtype=np.int64)
    alone = {o.code: offer_discount(o, sale, lines) for o in offers}
    usable = sorted((o for o in offers if alone[o.code].any()), key=lambda o: o.code)
    best: tuple[int, int, tuple[str, ...]] | None = None
    chosen: list[OfferSpec] = []
    for combo in _combinations(usable):
        total = _capped(combo, alone, amounts).sum()
        key = (-int(total), len(combo), tuple(o.code for o in combo))
        if best is None or key < best:
            best, chosen = key, list(combo)
    discount = np.zeros(len(lines), dtype=np.int64)
    entry_line: list[int] = []
    entry_offer: list[int] = []
    entry_minor: list[int] = []
    capped = _capped(chosen, alone, amounts) if chosen else np.zeros((0, len(lines)), dtype=np.int64)
    for index, row in enumerate(capped):
        for line in np.flatnonzero(row).tolist():
            entry_line.append(line)
            entry_offer.append(index)
            entry_minor.append(int(row[line]))
        discount += row
    return Applied(
        discount=discount,
        entry_line=np.array(entry_line, dtype=np.int64),
        entry_offer=np.array(entry_offer, dtype=np.int64),
        entry_minor=np.array(entry_minor, dtype=np.int64),
        offers=tuple(chosen),
    )


def _capped(combo: Sequence[OfferSpec], alone: dict[str, IntArray], amounts: IntArray) -> IntArray:
    """Each offer's discount per line (rows in `combo`'s order), cut so no line goes below zero."""
    rows = np.zeros((len(combo), len(amounts)), dtype=np.int64)
    left = amounts.copy()
    for i, offer in enumerate(combo):
        rows[i] = np.minimum(alone[offer.code], np.maximum(left, 0))
        left -= rows[i]
    return rows


def _combinations(offers: Sequence[OfferSpec]) -> list[tuple[OfferSpec, ...]]:
    """Every way to combine `offers`: an exclusive one alone, or at most one per named group of the
    others (those without a group always stack)."""
    exclusive = [(o,) for o in offers if o.group == EXCLUSIVE]
    free = tuple(o for o in offers if o.group is None)
    groups: dict[str, list[OfferSpec]] = {}
    for o in offers:
        if o.group not in (None, EXCLUSIVE):
            groups.setdefault(str(o.group), []).append(o)
    stacked = [
        free + tuple(o for o in pick if o is not None)
        for pick in product(*([None, *members] for _, members in sorted(groups.items())))
    ]
    return [c for c in [*exclusive, *stacked] if c]
