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

from bisect import bisect_right
from calendar import monthrange
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, timedelta
from functools import lru_cache
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from loyalty.domain.earning import MINOR_PER_UNIT, US_PER_DAY, line_points
from loyalty.domain.programme.rules import SALE_KINDS, RuleSpec

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
_US_PER_MINUTE = 60_000_000
_NO_END = np.iinfo(np.int64).max
_EPOCH = date(1970, 1, 1)


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

    def alone(self) -> list[str | None]:
        """Each row's label (None: none), as Python values."""
        return [None if c < 0 else self.labels[c] for c in self.codes.tolist()]

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
        if len(local) == 1:  # a sale at the till: its day from a memo, not seven array conversions
            day_no, minute = divmod(int(local[0]), US_PER_DAY)
            year, month, day, weekday, in_month = _local_day(day_no)
            return cls(
                days=np.array([day_no], dtype=np.int64),
                year=np.array([year], dtype=np.int64),
                month=np.array([month], dtype=np.int64),
                day=np.array([day], dtype=np.int64),
                weekday=np.array([weekday], dtype=np.int64),
                minute=np.array([minute // _US_PER_MINUTE], dtype=np.int64),
                days_in_month=np.array([in_month], dtype=np.int64),
            )
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


def period_numbers(local: LocalDays, per: str) -> IntArray:
    """Each row's period of the store's calendar (`per`: day, week, month or year) as a number, one
    more for each next period: days since 1970-01-01, ISO weeks (Monday to Sunday) since the one
    holding it, months since January 1970, years since 1970."""
    if per == "day":
        return local.days
    if per == "week":
        return (local.days + 3) // 7  # 1970-01-01 was a Thursday: its week began on day -3
    if per == "month":
        return (local.year - 1970) * 12 + local.month - 1
    if per == "year":
        return local.year - 1970
    raise ValueError(f"no calendar period {per!r}")


_PERIOD_KEY = 1 << 32  # a (member, period) pair as one number: member × this + period + _PERIOD_SHIFT
_PERIOD_SHIFT = 1 << 31


def visit_streaks(
    held_member: IntArray, held_period: IntArray, member: IntArray, period: IntArray, first: BoolArray
) -> IntArray:
    """Each sale's visit streak (`Sales.visit_streaks`): where it is its member's first purchase of
    its period (`first`), one more than the run of consecutive periods with a purchase of the member
    ending just before its own; 0 elsewhere. `held_member`/`held_period`: the member's purchases
    (in any order, repeats allowed) by member and period number (`period_numbers`, in the sale's
    store's calendar); periods after a sale's own do not matter, so every purchase may be given."""
    keys = np.unique(held_member * _PERIOD_KEY + held_period + _PERIOD_SHIFT)
    before = np.zeros(len(member), dtype=np.int64)
    if len(keys):
        breaks = np.ones(len(keys), dtype=bool)
        breaks[1:] = keys[1:] != keys[:-1] + 1
        run_start = np.flatnonzero(breaks)[np.cumsum(breaks) - 1]
        run = np.arange(len(keys)) - run_start + 1  # periods in a row up to each one
        wanted = member * _PERIOD_KEY + period - 1 + _PERIOD_SHIFT  # the period before the sale's
        at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
        before = np.where(keys[at] == wanted, run[at], 0)
    found: IntArray = np.where(first, before + 1, 0)
    return found


@lru_cache(maxsize=4096)
def _local_day(day_no: int) -> tuple[int, int, int, int, int]:
    """Year, month, day, ISO weekday and the month's length of day `day_no` (days since 1970-01-01),
    as `LocalDays.of` computes them for a column."""
    d = _EPOCH + timedelta(days=day_no)
    return d.year, d.month, d.day, d.isoweekday(), monthrange(d.year, d.month)[1]


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
    #: per period a rule counts purchases in, each sale's number among its member's purchases
    #: there (1: the first), by time (`periods_counted` says which the rules need)
    purchase_numbers: Mapping[str, IntArray] = field(default_factory=dict)
    #: per period a rule counts visit streaks in, each sale's streak: the consecutive periods ending
    #: with its own in which its member bought, at the member's first purchase of its period (0 at a
    #: later one, which no streak selects; `streaks_counted` says which the rules need)
    visit_streaks: Mapping[str, IntArray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.store_id)

    def row(self, i: int) -> Sales:
        """Sale i alone: every column cut to its row."""
        return Sales(**{f.name: _row(getattr(self, f.name), slice(i, i + 1)) for f in fields(Sales)})


def _row(column: Any, at: slice) -> Any:
    """`column` (an array, an encoded column, the local days or a mapping of arrays) cut to `at`."""
    if isinstance(column, np.ndarray):
        return column[at]
    if isinstance(column, Vocabulary):
        return Vocabulary(column.labels, column.codes[at])
    if isinstance(column, LocalDays):
        return LocalDays(*(getattr(column, f.name)[at] for f in fields(LocalDays)))
    assert isinstance(column, Mapping)
    return {name: values[at] for name, values in column.items()}


@dataclass(frozen=True)
class Lines:
    """One row per line; `sale` is the index of its sale in `Sales`."""

    sale: IntArray
    amount_minor: IntArray
    category: Vocabulary
    sku: Vocabulary
    excluded: BoolArray  # the programme's excluded categories (no base points, no rule's)
    brand: Vocabulary

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
    """The points each line earns under `rules` (see the module docstring for the order and rounding).

    The rules are evaluated together, as a matrix of rules × sales (which sales each rule selects)
    and of rules × lines, so that a sale alone costs about as many array operations as a batch.
    """
    if len(sales) == 1 and len(lines) <= _FEW:
        return _earn_alone(rules, sales, lines)
    sale, amount = lines.sale, lines.amount_minor
    per_unit = sales.points_per_unit[sale]
    multiplier = sales.multiplier_pct[sale]
    excluded = lines.excluded | (amount <= 0) | ~sales.member[sale]
    batch = _Batch.of(sales)
    table = _RuleTable.of(_in_force(rules, batch))
    empty = np.zeros(0, dtype=np.int64)
    if not table.rules:
        base = np.asarray(line_points(amount, excluded, per_unit, multiplier), dtype=np.int64)
        return Earned(base, empty, empty, empty, ())
    chosen = table.sales_selected(sales, batch)[:, sale] & table.lines_selected(lines)
    if table.exclude.any():
        excluded = excluded | chosen[table.exclude].any(axis=0)
        chosen[table.exclude] = False
    base = np.asarray(line_points(amount, excluded, per_unit, multiplier), dtype=np.int64)
    chosen &= ~excluded
    n_sales = len(sales)
    for r in table.in_turn:  # a minimum spend, then a stop, in the rules' order
        if table.min_spend[r]:
            if n_sales == 1:  # one sale: its spend is one sum
                if int(amount @ chosen[r]) < table.min_spend[r]:
                    chosen[r] = False
            else:
                spend = np.bincount(sale, weights=amount * chosen[r], minlength=n_sales)
                chosen[r] &= (spend >= table.min_spend[r])[sale]
        if table.stop[r]:
            chosen[r + 1 :] &= ~chosen[r]
    rows, at = np.nonzero(chosen)  # by rule, then line: each rule's lines in posting order
    pts = np.zeros(len(at), dtype=np.int64)
    kind = table.kind[rows]
    extra = kind == _MULTIPLIER
    if extra.any():
        a, r = at[extra], rows[extra]
        pts[extra] = (amount[a] * per_unit[a] * multiplier[a] * (table.multiplier_pct[r] - 100)) // (
            100 * 100 * MINOR_PER_UNIT
        )
    per_spend = kind == _BONUS_PER_UNIT
    if per_spend.any():
        pts[per_spend] = (amount[at[per_spend]] * table.points_per_unit[rows[per_spend]]) // MINOR_PER_UNIT
    fixed = kind == _FIXED_BONUS
    if fixed.any():
        a, r = at[fixed], rows[fixed]
        pts[fixed] = shared(table.points[r], r * n_sales + sale[a], amount[a])
    keep = pts > 0
    return Earned(
        base=base, entry_line=at[keep], entry_rule=rows[keep], entry_points=pts[keep], rules=table.rules
    )


def _earn_alone(rules: Sequence[Rule], sales: Sales, lines: Lines) -> Earned:
    """`earn` for a sale alone with a few lines (the till's): the same steps in the same order on
    Python integers (as `domain.earning` does for a line), since a sale's few values cost less that
    way than as arrays. Tested equal to the column path (`tests/programme/test_engine.py`)."""
    amounts = lines.amount_minor.tolist()
    member = bool(sales.member[0])
    excluded = [
        bool(x) or a <= 0 or not member for x, a in zip(lines.excluded.tolist(), amounts, strict=True)
    ]
    per_unit, multiplier = int(sales.points_per_unit[0]), int(sales.multiplier_pct[0])
    table = _RuleTable.of(_in_force(rules, _Batch.of(sales)))
    if not table.rules:
        base = [line_points(a, x, per_unit, multiplier) for a, x in zip(amounts, excluded, strict=True)]
        return Earned(np.array(base, dtype=np.int64), _EMPTY, _EMPTY, _EMPTY, ())
    n = len(amounts)
    # Only the rules that select the sale can select a line; the others' rows are all False, which
    # neither excludes, nor passes a minimum spend, nor stops anything.
    active = table.selecting_alone(sales) if member else ()
    chosen: dict[int, list[bool]] = {}
    if active:
        on_line = [table.line_alone("categories", c) for c in lines.category.alone()]
        on_sku = [table.line_alone("skus", k) for k in lines.sku.alone()]
        on_brand = [table.line_alone("brands", b) for b in lines.brand.alone()]
        for r in active:
            chosen[r] = [on_line[i][r] and on_sku[i][r] and on_brand[i][r] for i in range(n)]
    for r in table.exclude_rows:
        if r in chosen:
            excluded = [x or c for x, c in zip(excluded, chosen[r], strict=True)]
            chosen[r] = [False] * n
    base = [line_points(a, x, per_unit, multiplier) for a, x in zip(amounts, excluded, strict=True)]
    for r, row in chosen.items():
        chosen[r] = [c and not x for c, x in zip(row, excluded, strict=True)]
    for r in active:  # in the rules' order: a minimum spend, then a stop
        floor = table.min_spend_of[r]
        if floor and sum(a for a, c in zip(amounts, chosen[r], strict=True) if c) < floor:
            chosen[r] = [False] * n
        if table.stop_of[r]:
            stopped = chosen[r]
            for later in active:
                if later > r:
                    chosen[later] = [c and not s for c, s in zip(chosen[later], stopped, strict=True)]
    lines_of, rules_of, points_of = [], [], []
    for r in active:
        at = [i for i, c in enumerate(chosen[r]) if c]
        if not at:
            continue
        kind = table.kind_of[r]
        if kind == _MULTIPLIER:
            extra = table.multiplier_of[r] - 100
            pts = [(amounts[i] * per_unit * multiplier * extra) // (100 * 100 * MINOR_PER_UNIT) for i in at]
        elif kind == _BONUS_PER_UNIT:
            pts = [(amounts[i] * table.points_per_unit_of[r]) // MINOR_PER_UNIT for i in at]
        elif kind == _FIXED_BONUS:
            pts = _shared_few([table.points_of[r]] * len(at), [r] * len(at), [amounts[i] for i in at])
        else:
            continue
        for i, p in zip(at, pts, strict=True):
            if p > 0:
                lines_of.append(i)
                rules_of.append(r)
                points_of.append(p)
    return Earned(
        base=np.array(base, dtype=np.int64),
        entry_line=np.array(lines_of, dtype=np.int64),
        entry_rule=np.array(rules_of, dtype=np.int64),
        entry_points=np.array(points_of, dtype=np.int64),
        rules=table.rules,
    )


_EMPTY = np.zeros(0, dtype=np.int64)


_MULTIPLIER, _BONUS_PER_UNIT, _FIXED_BONUS, _EXCLUDE = 0, 1, 2, 3
_KIND_CODE = {
    "multiplier": _MULTIPLIER,
    "bonus_per_unit": _BONUS_PER_UNIT,
    "fixed_bonus": _FIXED_BONUS,
    "exclude": _EXCLUDE,
}
_BIRTHDAY_CODE = {None: 0, "day": 1, "week": 2, "month": 3}


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
        if len(t) == 1:
            return cls(int(t[0]), int(t[0]), frozenset((int(sales.programme_id[0]),)))
        return cls(int(t.min()), int(t.max()), frozenset(np.unique(sales.programme_id).tolist()))

    def may_apply(self, rule: Rule) -> bool:
        """Whether `rule` belongs to a programme of the batch and is in force at some time of it."""
        end = _NO_END if rule.effective_to_us is None else rule.effective_to_us
        in_force = rule.effective_from_us <= self.last_us and self.first_us < end
        return in_force and rule.programme_id in self.programmes


def _in_force(rules: Sequence[Rule], batch: _Batch) -> tuple[Rule, ...]:
    """The sale-kind rules that may apply to the batch. The answer is the same for every instant
    between two rules' boundaries, so for a batch of one programme within one such span (a sale
    alone, the till's few) it is kept per span."""
    if len(batch.programmes) != 1:
        return tuple(r for r in rules if r.spec.kind in SALE_KINDS and batch.may_apply(r))
    key = tuple(map(id, rules))
    spans = _SPANS.get(key)
    if spans is None:
        if len(_SPANS) >= 64:
            _SPANS.clear()
        spans = _SPANS[key] = _Spans(tuple(rules))
    if not spans.same_span(batch.first_us, batch.last_us):
        return tuple(r for r in rules if r.spec.kind in SALE_KINDS and batch.may_apply(r))
    return spans.at(batch.first_us, next(iter(batch.programmes)))


class _Spans:
    """A rule list's boundaries in time (each version's start and end) and, per span between two and
    programme, the rules that may apply there (`_Batch.may_apply` of a one-instant batch)."""

    def __init__(self, rules: tuple[Rule, ...]) -> None:
        self.rules = rules  # held, so the ids keying `_SPANS` stay theirs
        edges = {r.effective_from_us for r in rules} | {r.effective_to_us for r in rules if r.effective_to_us}
        self.edges = sorted(edges)
        self.found: dict[tuple[int, int], tuple[Rule, ...]] = {}

    def same_span(self, first: int, last: int) -> bool:
        """Whether no boundary lies between the instants `first` and `last` (so `at` answers for both
        and every instant between them)."""
        return first == last or bisect_right(self.edges, first) == bisect_right(self.edges, last)

    def at(self, t: int, programme: int) -> tuple[Rule, ...]:
        span = bisect_right(self.edges, t)
        found = self.found.get((span, programme))
        if found is None:
            batch = _Batch(t, t, frozenset((programme,)))
            found = tuple(r for r in self.rules if r.spec.kind in SALE_KINDS and batch.may_apply(r))
            self.found[(span, programme)] = found
        return found


_SPANS: dict[tuple[int, ...], _Spans] = {}


class _RuleTable:
    """The rules' conditions and effects as arrays, one row per rule in the order they run.

    Made once per set of rules (the rule book changes rarely; `of` keeps the last few).
    """

    def __init__(self, rules: tuple[Rule, ...]) -> None:
        rules = tuple(sorted(rules, key=lambda r: r.order))
        self.rules = rules
        self._tables: dict[tuple[str, tuple[str, ...]], BoolArray] = {}
        self._single: dict[tuple[str, object], BoolArray] = {}
        n = len(rules)
        specs = [r.spec for r in rules]
        self.kind = np.array([_KIND_CODE[s.kind] for s in specs], dtype=np.int64)
        self.exclude = self.kind == _EXCLUDE
        self.stop = np.array([s.stop for s in specs], dtype=bool)
        self.min_spend = np.array([s.when.min_spend_minor for s in specs], dtype=np.int64)
        self.in_turn = [i for i in range(n) if self.stop[i] or self.min_spend[i]]
        self.multiplier_pct = np.array([s.multiplier_pct for s in specs], dtype=np.int64)
        self.points_per_unit = np.array([s.points_per_unit for s in specs], dtype=np.int64)
        self.points = np.array([s.points for s in specs], dtype=np.int64)
        self.programme = np.array([r.programme_id for r in rules], dtype=np.int64)
        self.start = np.array([r.effective_from_us for r in rules], dtype=np.int64)
        self.end = np.array(
            [_NO_END if r.effective_to_us is None else r.effective_to_us for r in rules], dtype=np.int64
        )
        hours = [s.when.hours for s in specs]
        self.has_hours = np.array([h is not None for h in hours], dtype=bool)
        self.hours_from = np.array([h[0] if h else 0 for h in hours], dtype=np.int64)[:, None]
        self.hours_to = np.array([h[1] if h else 0 for h in hours], dtype=np.int64)[:, None]
        self.wraps = self.hours_from > self.hours_to
        days = [s.when.member_day for s in specs]
        self.has_day = np.array([d is not None for d in days], dtype=bool)
        self.day_of_month = np.zeros((n, 32), dtype=bool)
        self.last_day = np.zeros(n, dtype=bool)
        self.weekday = np.zeros((n, 8), dtype=bool)
        self.nth = np.zeros((n, 8, 6), dtype=bool)  # weekday × n (1–5); [.., 0]: the last one
        for i, d in enumerate(days):
            if d is None:
                continue
            self.day_of_month[i, [x for x in d.days_of_month if x > 0]] = True
            self.last_day[i] = -1 in d.days_of_month
            self.weekday[i, list(d.weekdays)] = True
            for w, k in d.nth_weekdays:
                self.nth[i, w, 0 if k == -1 else k] = True
        self.birthday = np.array([_BIRTHDAY_CODE[s.when.birthday] for s in specs], dtype=np.int64)
        self.checks = {
            name: any(getattr(s.when, name) for s in specs)
            for name in ("channels", "tiers", "categories", "skus", "brands")
        }
        self.any_stores = any(r.store_ids for r in rules)
        self.numbered = [(i, s.when.purchase_number) for i, s in enumerate(specs) if s.when.purchase_number]
        self.streaked = [(i, s.when.visit_streak) for i, s in enumerate(specs) if s.when.visit_streak]
        # the conditions some rule has: (name, sale i's memo key, the factor over the sales)
        factors: tuple[tuple[str, bool, _Key, Callable[[Sales], BoolArray]], ...] = (
            ("stores", self.any_stores, lambda s, i: int(s.store_id[i]), self._stores),
            ("channels", self.checks["channels"], lambda s, i: _label(s.channel, i), self._channels),
            ("tiers", self.checks["tiers"], lambda s, i: _label(s.tier, i), self._tiers),
            ("hours", bool(self.has_hours.any()), lambda s, i: int(s.local.minute[i]), self._hours),
            ("day", bool(self.has_day.any()), lambda s, i: int(s.local.days[i]), self._member_day),
            ("birthday", bool(self.birthday.any()), _birthday_key, self._birthday),
        )
        self._wanted = [(name, key, factor) for name, wanted, key, factor in factors if wanted]
        # the same as Python values, for a sale alone (`_earn_alone`)
        self.kind_of = self.kind.tolist()
        self.exclude_rows = np.flatnonzero(self.exclude).tolist()
        self.min_spend_of = self.min_spend.tolist()
        self.stop_of = self.stop.tolist()
        self.multiplier_of = self.multiplier_pct.tolist()
        self.points_per_unit_of = self.points_per_unit.tolist()
        self.points_of = self.points.tolist()
        self._alone: dict[object, tuple[int, ...]] = {}
        self._labels: dict[tuple[str, str | None], list[bool]] = {}

    _made: ClassVar[dict[tuple[int, ...], _RuleTable]] = {}

    @classmethod
    def of(cls, rules: tuple[Rule, ...]) -> _RuleTable:
        """The table of `rules`, made once for the same rule objects (a table holds its rules, so
        their ids stay theirs while it is kept)."""
        key = tuple(map(id, rules))
        found = cls._made.get(key)
        if found is None:
            if len(cls._made) >= 16:
                cls._made.clear()
            found = cls._made[key] = cls(rules)
        return found

    def _among(self, vocabulary: Vocabulary, name: str) -> BoolArray:
        """rules × rows: each row's label is in the rule's list (or the rule has none)."""
        key = (name, vocabulary.labels)
        table = self._tables.get(key)
        if table is None:
            table = np.ones((len(self.rules), len(vocabulary.labels) + 1), dtype=bool)
            for i, rule in enumerate(self.rules):
                names = getattr(rule.spec.when, name)
                if names:
                    table[i, :-1] = [label in names for label in vocabulary.labels]
                    table[i, -1] = False
            if len(self._tables) >= 64:
                self._tables.clear()
            self._tables[key] = table
        found: BoolArray = table[:, vocabulary.codes]
        return found

    def sales_selected(self, sales: Sales, batch: _Batch) -> BoolArray:
        """rules × sales: members' sales of the rule's programme, in force at their time, meeting its
        conditions.

        Each condition is a factor computed over the sales, row by row; a sale alone (the till's)
        takes each factor's column from a small memo keyed by what it depends on (its store, channel,
        tier, minute, day, birthday), so a sale costs a handful of operations on one column per
        condition, and a few sales (the till's grouped ones) are their columns side by side.
        """
        t = sales.occurred_us
        ok = (self.start[:, None] <= t) & (t < self.end[:, None]) & sales.member
        if len(batch.programmes) > 1:
            ok &= self.programme[:, None] == sales.programme_id
        if len(t) == 1:  # a sale alone: each factor from the memo
            for name, key, factor in self._wanted:
                ok &= self._memo(name, key(sales, 0), lambda f=factor: f(sales))  # type: ignore[misc]
        elif len(t) <= FEW_SALES:
            for name, key, factor in self._wanted:
                ok &= np.hstack(
                    [
                        self._memo(name, key(sales, i), lambda f=factor, i=i: f(sales.row(i)))  # type: ignore[misc]
                        for i in range(len(t))
                    ]
                )
        else:
            for _, _, factor in self._wanted:
                ok &= factor(sales)
        for i, number in self.numbered:
            counted = sales.purchase_numbers[number.per]
            ok[i] &= counted == number.n if number.n else counted % number.every == 0
        for i, streak in self.streaked:
            run = sales.visit_streaks[streak.per]
            ok[i] &= (run > 0) & (run % streak.periods == 0)
        return ok

    def _memo(self, name: str, key: object, make: Callable[[], BoolArray]) -> BoolArray:
        found = self._single.get((name, key))
        if found is None:
            if len(self._single) >= 16_384:
                self._single.clear()
            found = self._single[(name, key)] = make()
        return found

    def _stores(self, sales: Sales) -> BoolArray:
        stores, where = np.unique(sales.store_id, return_inverse=True)
        table = np.array(
            [[not r.store_ids or s in r.store_ids for s in stores.tolist()] for r in self.rules], dtype=bool
        )
        found: BoolArray = table[:, where.reshape(-1)]
        return found

    def _channels(self, sales: Sales) -> BoolArray:
        return self._among(sales.channel, "channels")

    def _tiers(self, sales: Sales) -> BoolArray:
        return self._among(sales.tier, "tiers")

    def _hours(self, sales: Sales) -> BoolArray:
        minute = sales.local.minute
        after, before = minute >= self.hours_from, minute < self.hours_to
        inside = np.where(self.wraps, after | before, after & before)
        found: BoolArray = ~self.has_hours[:, None] | inside
        return found

    def _member_day(self, sales: Sales) -> BoolArray:
        local = sales.local
        hit = self.day_of_month[:, local.day] | self.weekday[:, local.weekday]
        hit |= self.last_day[:, None] & (local.day == local.days_in_month)
        hit |= self.nth[:, local.weekday, (local.day - 1) // 7 + 1]
        hit |= self.nth[:, local.weekday, 0] & (local.day > local.days_in_month - 7)
        found: BoolArray = ~self.has_day[:, None] | hit
        return found

    def _birthday(self, sales: Sales) -> BoolArray:
        month, day = sales.birthday_month, sales.birthday_day
        if not month.any():  # no birthday known: birthday rules select nothing
            return np.broadcast_to((self.birthday == 0)[:, None], (len(self.rules), len(month)))
        used = set(self.birthday.tolist())
        windows = np.ones((4, len(month)), dtype=bool)
        for code, window in ((1, "day"), (2, "week"), (3, "month")):
            if code in used:
                windows[code] = birthday(window, sales.local, month, day)
        found: BoolArray = windows[self.birthday]
        return found

    def selecting_alone(self, sales: Sales) -> tuple[int, ...]:
        """The rows of the rules that select a member's sale alone (`sales_selected` for one sale, of
        this table's rules, all in force at its time: see `_in_force`); kept per combination of what
        the conditions read."""
        if self.numbered or self.streaked:  # purchase numbers and streaks differ sale by sale
            return tuple(np.flatnonzero(self.sales_selected(sales, _Batch.of(sales))[:, 0]).tolist())
        key = tuple(key(sales, 0) for _, key, _ in self._wanted)
        found = self._alone.get(key)
        if found is None:
            if len(self._alone) >= 16_384:
                self._alone.clear()
            column = self.sales_selected(sales, _Batch.of(sales))[:, 0]
            found = self._alone[key] = tuple(np.flatnonzero(column).tolist())
        return found

    def line_alone(self, name: str, label: str | None) -> list[bool]:
        """Per rule, whether a line labelled `label` is among its `name` (categories, skus, brands) — or the
        rule names none (`_among` for one line)."""
        found = self._labels.get((name, label))
        if found is None:
            found = []
            for rule in self.rules:
                names = getattr(rule.spec.when, name)
                found.append(not names or (label is not None and label in names))
            if len(self._labels) >= 16_384:
                self._labels.clear()
            self._labels[(name, label)] = found
        return found

    def lines_selected(self, lines: Lines) -> BoolArray:
        """rules × lines: the line's category, SKU and brand are among the rule's (or it names none)."""
        chosen = np.ones((len(self.rules), len(lines)), dtype=bool)
        if self.checks["categories"]:
            chosen &= self._among(lines.category, "categories")
        if self.checks["skus"]:
            chosen &= self._among(lines.sku, "skus")
        if self.checks["brands"]:
            chosen &= self._among(lines.brand, "brands")
        return chosen


def _label(vocabulary: Vocabulary, i: int) -> str | None:
    code = int(vocabulary.codes[i])
    return None if code < 0 else vocabulary.labels[code]


def _birthday_key(sales: Sales, i: int) -> tuple[int, int, int]:
    return (int(sales.local.days[i]), int(sales.birthday_month[i]), int(sales.birthday_day[i]))


#: a condition's memo key of sale i of the sales (`_RuleTable.sales_selected`)
_Key = Callable[[Sales, int], object]

#: up to this many sales a batch's conditions are taken sale by sale from the memo
#: (`_RuleTable.sales_selected`): a factor over the columns costs as much as a few dozen look-ups
FEW_SALES = 32


def periods_counted(rules: Sequence[Rule]) -> set[str]:
    """The periods in which some rule counts a member's purchases (`Sales.purchase_numbers`)."""
    return {r.spec.when.purchase_number.per for r in rules if r.spec.when.purchase_number is not None}


def streaks_counted(rules: Sequence[Rule]) -> set[str]:
    """The periods in which some rule counts a member's visit streak (`Sales.visit_streaks`)."""
    return {r.spec.when.visit_streak.per for r in rules if r.spec.when.visit_streak is not None}


def shared(points: IntArray, group: IntArray, amount: IntArray) -> IntArray:
    """Each group's `points` (one per line, the group's) shared over its lines (`group` ascending) by
    amount, largest remainder (ties: the earlier line)."""
    if len(group) <= _FEW:
        return np.array(_shared_few(points.tolist(), group.tolist(), amount.tolist()), dtype=np.int64)
    first = np.ones(len(group), dtype=bool)
    first[1:] = group[1:] != group[:-1]
    starts = np.flatnonzero(first)
    counts = np.diff(np.append(starts, len(group)))
    total = np.repeat(np.add.reduceat(amount, starts), counts)
    share = points * amount
    floor = share // total
    remainder = share % total
    left = np.repeat(points[starts] - np.add.reduceat(floor, starts), counts)
    order = np.lexsort((np.arange(len(group)), -remainder, group))  # by group, largest remainder first
    rank = np.empty(len(group), dtype=np.int64)
    rank[order] = np.arange(len(group)) - np.repeat(starts, counts)
    shared: IntArray = floor + (rank < left)
    return shared


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


# Calendar tables for 1900–2199 (a birthday's date in a sale's year, by lookup rather than date
# arithmetic): the first day of each year (days since 1970-01-01), whether it is a leap year, and the
# days before each month and in each month, for common and leap years.
_FIRST_YEAR = 1900
_YEARS = np.arange(_FIRST_YEAR, 2200)
_YEAR_START = (_YEARS - 1970).astype("datetime64[Y]").astype("datetime64[D]").astype(np.int64)
_LEAP = ((_YEARS % 4 == 0) & (_YEARS % 100 != 0)) | (_YEARS % 400 == 0)
_MONTH_DAYS = np.array(
    [
        [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31],
        [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31],
    ],
    dtype=np.int64,
)
_DAYS_BEFORE = np.concatenate(
    [np.zeros((2, 1), dtype=np.int64), np.cumsum(_MONTH_DAYS, axis=1)[:, :-1]], axis=1
)


def _year_index(year: IntArray) -> IntArray:
    found: IntArray = np.clip(year - _FIRST_YEAR, 0, len(_YEARS) - 1)
    return found


def _clamped_day(year: IntArray, month: IntArray, day: IntArray) -> IntArray:
    """`day` of `month`, or the month's last day when it has fewer (29 February in a common year)."""
    leap = _LEAP[_year_index(year)].astype(np.int64)
    clamped: IntArray = np.minimum(day, _MONTH_DAYS[leap, np.maximum(month, 1)])
    return clamped


def _birthday_in(year: IntArray, month: IntArray, day: IntArray) -> IntArray:
    """The birthday's date in `year`, as days since 1970-01-01."""
    index = _year_index(year)
    leap = _LEAP[index].astype(np.int64)
    m = np.maximum(month, 1)
    found: IntArray = _YEAR_START[index] + _DAYS_BEFORE[leap, m] + np.minimum(day, _MONTH_DAYS[leap, m]) - 1
    return found


#: up to this many entries `shared` runs in plain Python (a sale's few lines cost less that way)
_FEW = 32


def _shared_few(points: list[int], group: list[int], amount: list[int]) -> list[int]:
    """`shared` on lists: the same floors and the same largest-remainder order, entry by entry."""
    out = [0] * len(group)
    start = 0
    while start < len(group):
        end = start
        while end < len(group) and group[end] == group[start]:
            end += 1
        total = sum(amount[start:end])
        given = points[start]
        left = given
        remainders = []
        for i in range(start, end):
            floor, remainder = divmod(given * amount[i], total)
            out[i] = floor
            left -= floor
            remainders.append((-remainder, i))
        for _, i in sorted(remainders)[:left]:
            out[i] += 1
        start = end
    return out
