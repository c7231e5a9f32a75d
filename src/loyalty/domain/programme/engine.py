"""The earning engine: the programme's rules evaluated over columns of sales and lines.

One function, `earn`, serves a quote, a sale posted at the till (a batch of one), the till's grouped
sales and an import's batch of a hundred thousand orders: the columns only differ in length, so a point
earned through any of them is the same point. Each rule is a handful of vectorised steps (the sales it
selects, then their lines); nothing here reads a database or a clock.

Rounding policy ROUND_DOWN_PER_LINE_AND_RULE: a line's base points are floored as before
(`domain.earning.line_points`); each rule's extra points on a line are floored on their own; a sale's
fixed bonus is shared over its selected lines by largest remainder (ties: the earlier line), so the
shares add up to the bonus exactly. A line therefore earns base + Σ its rules' entries, and "why did I
get 37 points?" is answered by those entries.

Order: exclude rules first (their lines earn nothing at all), then the others in ascending priority
(ties: by code, then version id); a rule with ``stop`` keeps the lines it selected from the later ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from loyalty.domain.earning import MINOR_PER_UNIT, US_PER_DAY, line_points
from loyalty.domain.programme.rules import Conditions, MemberDay, RuleSpec

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
_US_PER_MINUTE = 60_000_000
_NO_END = np.iinfo(np.int64).max


@dataclass(frozen=True)
class Rule:
    """A version of a rule as it is in force: its row id, its programme, its stores resolved to ids."""

    id: int
    version: int
    programme_id: int
    spec: RuleSpec
    store_ids: frozenset[int]
    effective_from_us: int
    effective_to_us: int | None = None

    @property
    def order(self) -> tuple[int, str, int]:
        return (self.spec.priority, self.spec.code, self.id)


@dataclass(frozen=True)
class Vocabulary:
    """Distinct labels of a column (categories, SKUs, channels, tier codes) and each row's index into
    them (-1: none), so that a rule's list of names is one lookup per row."""

    labels: tuple[str, ...]
    codes: IntArray

    @classmethod
    def of(cls, values: Sequence[str | None]) -> Vocabulary:
        index: dict[str, int] = {}
        codes = np.fromiter(
            (-1 if v is None else index.setdefault(v, len(index)) for v in values),
            dtype=np.int64,
            count=len(values),
        )
        return cls(tuple(index), codes)

    @classmethod
    def encoded(cls, labels: Sequence[str], codes: IntArray) -> Vocabulary:
        """From an encoding made elsewhere (a dictionary-encoded Arrow column): -1 for none."""
        return cls(tuple(labels), codes)

    def among(self, names: frozenset[str]) -> BoolArray:
        """Whether each row's label is one of `names` (a row without one: False)."""
        lookup = np.zeros(len(self.labels) + 1, dtype=bool)  # the last: a row without a label
        for i, label in enumerate(self.labels):
            lookup[i] = label in names
        found: BoolArray = lookup[self.codes]
        return found


@dataclass(frozen=True)
class LocalDays:
    """Each sale's date and time of day in its store's time zone."""

    days: IntArray  # days since 1970-01-01, local
    year: IntArray
    month: IntArray  # 1–12
    day: IntArray  # 1–31
    weekday: IntArray  # ISO: 1 Monday … 7 Sunday
    minute: IntArray  # minutes since local midnight
    days_in_month: IntArray

    @classmethod
    def of(cls, occurred_us: IntArray, utc_offset_us: IntArray) -> LocalDays:
        local = occurred_us + utc_offset_us
        days = local // US_PER_DAY
        dates = days.astype("datetime64[D]")
        months = dates.astype("datetime64[M]")
        return cls(
            days=days,
            year=months.astype("datetime64[Y]").astype(np.int64) + 1970,
            month=months.astype(np.int64) % 12 + 1,
            day=(dates - months.astype("datetime64[D]")).astype(np.int64) + 1,
            weekday=(days + 3) % 7 + 1,  # 1970-01-01 was a Thursday
            minute=(local % US_PER_DAY) // _US_PER_MINUTE,
            days_in_month=((months + 1).astype("datetime64[D]") - months.astype("datetime64[D]")).astype(
                np.int64
            ),
        )


@dataclass(frozen=True)
class Sales:
    """One row per sale: what the rules may ask of the sale and of its member."""

    programme_id: IntArray
    store_id: IntArray
    occurred_us: IntArray
    local: LocalDays
    channel: Vocabulary
    tier: Vocabulary  # the tier the sale earns with (code)
    points_per_unit: IntArray  # the programme's base rate
    multiplier_pct: IntArray  # the tier's multiplier
    member: BoolArray  # False: an anonymous sale, which earns nothing
    birthday_month: IntArray  # 0: not known
    birthday_day: IntArray
    member_id: IntArray  # 0 for an anonymous sale (a limit per member counts by it)

    def __len__(self) -> int:
        return len(self.store_id)


@dataclass(frozen=True)
class Lines:
    """One row per line; `sale` is the index of its sale in `Sales`."""

    sale: IntArray
    amount_minor: IntArray
    category: Vocabulary
    sku: Vocabulary
    excluded: BoolArray  # the programme's excluded categories (no base points, no rule's)

    def __len__(self) -> int:
        return len(self.sale)


@dataclass(frozen=True)
class Earned:
    """Points per line: the base points and, per (line, rule), what a rule added."""

    base: IntArray
    entry_line: IntArray
    entry_rule: IntArray  # index into `rules`
    entry_points: IntArray
    rules: tuple[Rule, ...]

    @property
    def line_points(self) -> IntArray:
        added = np.bincount(self.entry_line, weights=self.entry_points, minlength=len(self.base))
        return self.base + added.astype(np.int64)

    def sale_points(self, lines: Lines, n_sales: int) -> IntArray:
        return np.bincount(lines.sale, weights=self.line_points, minlength=n_sales).astype(np.int64)


def earn(rules: Sequence[Rule], sales: Sales, lines: Lines) -> Earned:
    """The points each line earns under `rules` (see the module docstring for the order and rounding)."""
    sale = lines.sale
    amount = lines.amount_minor
    per_unit = sales.points_per_unit[sale]
    multiplier = sales.multiplier_pct[sale]
    batch = _Batch.of(sales)
    ordered = sorted((r for r in rules if batch.may_apply(r)), key=lambda r: r.order)
    excluded = lines.excluded | (amount <= 0) | ~sales.member[sale]
    for rule in ordered:
        if rule.spec.kind == "exclude":
            on_sale = _sales_selected(rule, sales, batch)
            if on_sale.any():
                excluded = excluded | (on_sale[sale] & _lines_selected(rule.spec.when, lines))
    base = np.asarray(line_points(amount, excluded, per_unit, multiplier), dtype=np.int64)
    entry_line: list[IntArray] = []
    entry_rule: list[IntArray] = []
    entry_points: list[IntArray] = []
    open_lines = ~excluded  # lines no exclusion and no earlier stopping rule has taken
    for index, rule in enumerate(ordered):
        spec = rule.spec
        if spec.kind == "exclude":
            continue
        on_sale = _sales_selected(rule, sales, batch)
        if not on_sale.any():
            continue
        chosen = on_sale[sale] & open_lines
        if spec.when.categories or spec.when.skus:
            chosen &= _lines_selected(spec.when, lines)
        if spec.when.min_spend_minor:
            spend = np.bincount(sale[chosen], weights=amount[chosen], minlength=len(sales))
            chosen &= (spend >= spec.when.min_spend_minor)[sale]
        at = np.flatnonzero(chosen)
        if not len(at):
            continue
        if spec.kind == "multiplier":
            pts = (amount[at] * per_unit[at] * multiplier[at] * (spec.multiplier_pct - 100)) // (
                100 * 100 * MINOR_PER_UNIT
            )
        elif spec.kind == "bonus_per_unit":
            pts = (amount[at] * spec.points_per_unit) // MINOR_PER_UNIT
        else:
            pts = _shared(spec.points, sale[at], amount[at], len(sales))
        if spec.stop:
            open_lines &= ~chosen
        keep = pts > 0
        entry_line.append(at[keep])
        entry_rule.append(np.full(int(keep.sum()), index, dtype=np.int64))
        entry_points.append(pts[keep].astype(np.int64))
    empty = np.zeros(0, dtype=np.int64)
    return Earned(
        base=base,
        entry_line=np.concatenate(entry_line) if entry_line else empty,
        entry_rule=np.concatenate(entry_rule) if entry_rule else empty,
        entry_points=np.concatenate(entry_points) if entry_points else empty,
        rules=tuple(ordered),
    )


@dataclass(frozen=True)
class _Batch:
    """What a whole batch shares, so that a rule's tests that every sale passes cost nothing."""

    first_us: int
    last_us: int
    programmes: frozenset[int]

    @classmethod
    def of(cls, sales: Sales) -> _Batch:
        if not len(sales):
            return cls(0, -1, frozenset())
        t = sales.occurred_us
        return cls(int(t.min()), int(t.max()), frozenset(np.unique(sales.programme_id).tolist()))

    def may_apply(self, rule: Rule) -> bool:
        """Whether `rule` belongs to a programme of the batch and is in force at some time of it."""
        end = _NO_END if rule.effective_to_us is None else rule.effective_to_us
        in_force = rule.effective_from_us <= self.last_us and self.first_us < end
        return in_force and rule.programme_id in self.programmes

    def covers(self, rule: Rule) -> bool:
        """Whether `rule` is in force over the whole batch, for its one programme."""
        end = _NO_END if rule.effective_to_us is None else rule.effective_to_us
        return len(self.programmes) == 1 and rule.effective_from_us <= self.first_us and self.last_us < end


def _shared(points: int, sale: IntArray, amount: IntArray, n_sales: int) -> IntArray:
    """`points` for each sale, shared over its lines (`sale` ascending) by amount, largest remainder."""
    total = np.bincount(sale, weights=amount, minlength=n_sales).astype(np.int64)[sale]
    share = points * amount
    floor = share // total
    remainder = share % total
    left = points - np.bincount(sale, weights=floor, minlength=n_sales).astype(np.int64)
    order = np.lexsort((np.arange(len(sale)), -remainder, sale))  # by sale, largest remainder first
    first = np.searchsorted(sale[order], sale[order])  # where each line's sale starts in `order`
    rank = np.empty(len(sale), dtype=np.int64)
    rank[order] = np.arange(len(sale)) - first
    return floor + (rank < left[sale])


def _sales_selected(rule: Rule, sales: Sales, batch: _Batch) -> BoolArray:
    """The sales `rule` applies to: members' sales of its programme, in force at the sale's time, and
    its conditions (each test is made only where some sale of the batch could fail it)."""
    when = rule.spec.when
    ok = sales.member
    if not batch.covers(rule):
        t = sales.occurred_us
        end = _NO_END if rule.effective_to_us is None else rule.effective_to_us
        ok = ok & (sales.programme_id == rule.programme_id) & (t >= rule.effective_from_us) & (t < end)
    if rule.store_ids:
        ok = ok & _among_ids(sales.store_id, rule.store_ids)
    if when.channels:
        ok = ok & sales.channel.among(when.channels)
    if when.tiers:
        ok = ok & sales.tier.among(when.tiers)
    local = sales.local
    if when.hours is not None:
        start, stop = when.hours
        minute = local.minute
        ok = ok & (
            (minute >= start) & (minute < stop) if start < stop else (minute >= start) | (minute < stop)
        )
    if when.member_day is not None:
        ok = ok & member_day(when.member_day, local)
    if when.birthday is not None:
        ok = ok & birthday(when.birthday, local, sales.birthday_month, sales.birthday_day)
    selected: BoolArray = ok
    return selected


def _among_ids(values: IntArray, ids: frozenset[int]) -> BoolArray:
    wanted = np.array(sorted(ids), dtype=np.int64)
    at = np.minimum(np.searchsorted(wanted, values), len(wanted) - 1)
    found: BoolArray = wanted[at] == values
    return found


def _lines_selected(when: Conditions, lines: Lines) -> BoolArray:
    chosen = np.ones(len(lines), dtype=bool)
    if when.categories:
        chosen &= lines.category.among(when.categories)
    if when.skus:
        chosen &= lines.sku.among(when.skus)
    return chosen


def member_day(day: MemberDay, local: LocalDays) -> BoolArray:
    """Whether each local date is one of the member day's days."""
    hit: BoolArray = _DAYS_OF_MONTH[day.days_of_month][local.day] | _WEEKDAYS[day.weekdays][local.weekday]
    if -1 in day.days_of_month:
        hit = hit | (local.day == local.days_in_month)
    for weekday, n in day.nth_weekdays:
        same = local.weekday == weekday
        hit = hit | (
            same & (local.day > local.days_in_month - 7 if n == -1 else (local.day - 1) // 7 + 1 == n)
        )
    return hit


class _Lookup(dict[tuple[int, ...], BoolArray]):
    """Boolean tables indexed by a day number (1–31, 1–7), one per set of days, made once."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def __missing__(self, days: tuple[int, ...]) -> BoolArray:
        table = np.zeros(self.size, dtype=bool)
        table[[d for d in days if 0 < d < self.size]] = True
        self[days] = table
        return table


_DAYS_OF_MONTH = _Lookup(32)
_WEEKDAYS = _Lookup(8)


def birthday(window: str, local: LocalDays, month: IntArray, day: IntArray) -> BoolArray:
    """Whether each local date falls in the member's birthday `window` (day, ISO week or month).

    A 29 February birthday is the 28th in other years. The week is the Monday-to-Sunday week holding
    the birthday, looked for in the sale's year and both neighbours (a week may span New Year).
    """
    known: BoolArray = month > 0
    if window == "month":
        in_month: BoolArray = known & (local.month == month)
        return in_month
    if window == "day":
        on_day: BoolArray = (
            known & (local.month == month) & (local.day == _clamped_day(local.year, month, day))
        )
        return on_day
    hit: BoolArray = np.zeros(len(local.days), dtype=bool)
    for shift in (-1, 0, 1):
        when = _birthday_in(local.year + shift, month, day)
        monday = when - (when + 3) % 7
        hit |= (local.days >= monday) & (local.days <= monday + 6)
    return known & hit


def _month_start(year: IntArray, month: IntArray) -> npt.NDArray[np.datetime64]:
    return ((year - 1970) * 12 + np.maximum(month, 1) - 1).astype("datetime64[M]")


def _clamped_day(year: IntArray, month: IntArray, day: IntArray) -> IntArray:
    start = _month_start(year, month)
    length = ((start + 1).astype("datetime64[D]") - start.astype("datetime64[D]")).astype(np.int64)
    clamped: IntArray = np.minimum(day, length)
    return clamped


def _birthday_in(year: IntArray, month: IntArray, day: IntArray) -> IntArray:
    """The birthday's date in `year`, as days since 1970-01-01."""
    start = _month_start(year, month).astype("datetime64[D]").astype(np.int64)
    return start + _clamped_day(year, month, day) - 1
