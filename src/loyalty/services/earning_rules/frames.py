"""The engine's columns (`domain.programme.engine.Sales`, `Lines`) built from what a posting holds.

A sale at the till, the till's grouped sales and an import's batch all come here with the same fields
per sale (store, time, channel, the member's tier and birthday) and per line (amount, category, SKU),
so the engine sees one shape whatever the path. Local dates come from each store's zone: the offset of
each distinct (zone, UTC hour) is looked up once (zones change offset on whole UTC hours).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection

from loyalty.db.stored_time import epoch_us, instant
from loyalty.domain.channels import DEFAULT_CHANNEL
from loyalty.domain.programme.engine import (
    Earned,
    Lines,
    LocalDays,
    Rule,
    Sales,
    Vocabulary,
    earn,
    periods_counted,
    streaks_counted,
)
from loyalty.domain.programme.rules import RuleSpec

if TYPE_CHECKING:
    from loyalty.services.catalogue import StoreInfo, Tier
    from loyalty.services.posting.import_session import BulkSession

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
_US_PER_HOUR = 3_600_000_000
#: up to this many values a column is encoded in Python (`vocabulary`)
_FEW_VALUES = 256


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@lru_cache(maxsize=65_536)
def _offset_us(zone: str, hour: int) -> int:
    offset = instant(hour * _US_PER_HOUR).astimezone(_zone(zone)).utcoffset()
    return 0 if offset is None else int(offset.total_seconds()) * 1_000_000


Column: TypeAlias = Sequence[str | None] | pa.Array | Vocabulary


def utc_offsets(occurred_us: IntArray, zones: Column) -> IntArray:
    """Each sale's UTC offset in its store's zone, microseconds (one look-up per zone and hour)."""
    if len(occurred_us) == 1 and not isinstance(zones, pa.Array):  # a sale at the till
        zone = zones.alone()[0] if isinstance(zones, Vocabulary) else zones[0]
        return np.array([_offset_us(str(zone), int(occurred_us[0]) // _US_PER_HOUR)], dtype=np.int64)
    zone = vocabulary(zones)
    hours = occurred_us // _US_PER_HOUR  # < 2**31 until the year 246,953
    keys, where = np.unique(zone.codes * (1 << 32) + hours, return_inverse=True)
    offsets = np.fromiter(
        (_offset_us(zone.labels[key >> 32], key & 0xFFFFFFFF) for key in keys.tolist()),
        dtype=np.int64,
        count=len(keys),
    )
    found: IntArray = offsets[where.reshape(-1)]
    return found


def vocabulary(values: Column, default: str | None = None) -> Vocabulary:
    """A column's labels and codes (a missing value: `default`, or none). Arrow columns of an import's
    batch are dictionary-encoded in C; a few values (the till's) are encoded in Python, which costs a
    tenth of Arrow's calls at that size, in the same order (first appearance). A `Vocabulary` is
    taken as it is."""
    if isinstance(values, Vocabulary):
        return values
    if isinstance(values, pa.Array | pa.ChunkedArray) and len(values) <= _FEW_VALUES:
        values = values.to_pylist()
    if isinstance(values, pa.Array | pa.ChunkedArray):
        if default is not None:
            values = pc.fill_null(values, default)
        encoded = pc.dictionary_encode(values)
        if isinstance(encoded, pa.ChunkedArray):
            encoded = encoded.combine_chunks()
        codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
        return Vocabulary.encoded(encoded.dictionary.to_pylist(), codes)
    if default is not None:
        values = [default if v is None else v for v in values]
    return Vocabulary.of(values)


@dataclass(frozen=True)
class SaleColumns:
    """Per sale, what a posting knows (lists, Arrow columns or encoded columns of equal length)."""

    programme_id: IntArray
    store_id: IntArray
    occurred_us: IntArray
    zone: Column
    channel: Column  # none: a store sale
    tier_code: Column
    points_per_unit: IntArray
    multiplier_pct: IntArray
    member: BoolArray
    birthday: Sequence[date | None]
    member_id: IntArray | None = None  # needed by rules with a limit per member


def needs_birthdays(rules: Sequence[Rule]) -> bool:
    """Whether any rule asks for the member's birthday (otherwise it is not decoded)."""
    return any(r.spec.when.birthday is not None for r in rules)


def sales_frame(c: SaleColumns) -> Sales:
    months = np.fromiter(
        (0 if b is None else b.month for b in c.birthday), dtype=np.int64, count=len(c.birthday)
    )
    days = np.fromiter((0 if b is None else b.day for b in c.birthday), dtype=np.int64, count=len(c.birthday))
    return Sales(
        programme_id=c.programme_id,
        store_id=c.store_id,
        occurred_us=c.occurred_us,
        local=LocalDays.of(c.occurred_us, utc_offsets(c.occurred_us, c.zone)),
        channel=vocabulary(c.channel, DEFAULT_CHANNEL),
        tier=vocabulary(c.tier_code),
        points_per_unit=c.points_per_unit,
        multiplier_pct=c.multiplier_pct,
        member=c.member,
        birthday_month=months,
        birthday_day=days,
        member_id=np.zeros(len(c.store_id), dtype=np.int64) if c.member_id is None else c.member_id,
    )


def earn_lines(
    rules: Sequence[Rule],
    sales: SaleColumns,
    line_sale: IntArray,
    amount_minor: IntArray,
    category: Sequence[str | None] | pa.Array,
    sku: Sequence[str | None] | pa.Array,
    excluded: BoolArray,
    *,
    brand: Sequence[str | None] | pa.Array | None = None,
    limits: Connection | None = None,
    write: bool = True,
    session: BulkSession | None = None,
) -> Earned:
    """`engine.earn` over the columns of a posting; with `limits` (the posting's connection), the
    limited rules' entries cut to the room their limits leave (`earning_rules.limits`), that room
    taken in the transaction unless `write` is false (a quote), and the sales' purchase numbers
    counted where a rule asks for them, and their visit streaks (`earning_rules.purchase_numbers`; an
    import passes its `session`). `brand`: each line's brand, None when no line names one."""
    lines = Lines(
        sale=line_sale,
        amount_minor=amount_minor,
        category=vocabulary(category),
        sku=vocabulary(sku),
        excluded=excluded,
        brand=Vocabulary.encoded((), np.full(len(line_sale), -1)) if brand is None else vocabulary(brand),
    )
    frame = sales_frame(sales)
    periods, streaked = periods_counted(rules), streaks_counted(rules)
    if periods or streaked:
        frame = _counted(limits, periods, streaked, frame, sales, session)
    earned = earn(rules, frame, lines)
    if limits is not None and any(r.spec.limits for r in earned.rules):
        from loyalty.services.earning_rules.limits import within_limits

        earned = within_limits(limits, earned, frame, lines, write=write)
    return earned


def _counted(
    conn: Connection | None,
    periods: set[str],
    streaked: set[str],
    frame: Sales,
    sales: SaleColumns,
    session: BulkSession | None,
) -> Sales:
    """`frame` with each sale's purchase number per period in `periods` and visit streak per period
    in `streaked` (none known without a connection, a simulation's: no such rule matches)."""
    if conn is None:
        zeros = np.zeros(len(frame), dtype=np.int64)
        return replace(
            frame,
            purchase_numbers=dict.fromkeys(periods, zeros),
            visit_streaks=dict.fromkeys(streaked, zeros),
        )
    from loyalty.services.earning_rules import purchase_numbers as counted

    return replace(
        frame,
        purchase_numbers=counted.purchase_numbers(conn, periods, frame, sales.zone, session),
        visit_streaks=counted.streaks(conn, streaked, frame, sales.zone, session),
    )


def rule_columns(
    earned: Earned, purchase_ids: IntArray, line_nos: IntArray
) -> tuple[list[int], list[int], list[int], list[int]]:
    """`purchase_line_rules` columns of `earned` (purchase id, line no, rule id, points), given each
    line's purchase id and number."""
    if not len(earned.entry_line):
        return [], [], [], []
    rule_ids = np.array([r.id for r in earned.rules], dtype=np.int64)[earned.entry_rule]
    return (
        purchase_ids[earned.entry_line].tolist(),
        line_nos[earned.entry_line].tolist(),
        rule_ids.tolist(),
        earned.entry_points.tolist(),
    )


#: the names of `rule_columns`' columns
RULE_COLUMNS = ("purchase_id", "line_no", "rule_id", "points")


def rule_entries(earned: Earned, purchase_ids: IntArray, line_nos: IntArray) -> dict[str, list[int]]:
    """`rule_columns` by name (`RULE_COLUMNS`), as `db.rows.insert_few` writes a sale's few."""
    return dict(zip(RULE_COLUMNS, rule_columns(earned, purchase_ids, line_nos), strict=True))


def draft_rules(specs: Sequence[RuleSpec], programme_id: int, store_ids: dict[str, int]) -> tuple[Rule, ...]:
    """Rules not yet stored (a simulation or a quote of a draft), in force at any time."""
    return tuple(
        Rule(
            id=-(i + 1),
            version=0,
            programme_id=programme_id,
            spec=spec,
            store_ids=frozenset(store_ids[c] for c in spec.when.stores if c in store_ids),
            effective_from_us=np.iinfo(np.int64).min,
        )
        for i, spec in enumerate(specs)
    )


def earn_one_sale(
    rules: Sequence[Rule],
    *,
    programme_id: int,
    store_id: int,
    zone: str,
    occurred_us: int,
    channel: str | None,
    tier_code: str,
    points_per_unit: int,
    multiplier_pct: int,
    birthday: date | None,
    amounts: Sequence[int],
    categories: Sequence[str | None],
    skus: Sequence[str | None],
    excluded: Sequence[bool],
    brands: Sequence[str | None] = (),
    member_id: int = 0,
    limits: Connection | None = None,
    write: bool = True,
) -> Earned:
    """One member's sale as a batch of one (the live path and the quote); `limits` and `write` as
    `earn_lines`."""
    sales = SaleColumns(
        programme_id=np.array([programme_id], dtype=np.int64),
        store_id=np.array([store_id], dtype=np.int64),
        occurred_us=np.array([occurred_us], dtype=np.int64),
        zone=(zone,),
        channel=(channel,),
        tier_code=(tier_code,),
        points_per_unit=np.array([points_per_unit], dtype=np.int64),
        multiplier_pct=np.array([multiplier_pct], dtype=np.int64),
        member=np.ones(1, dtype=bool),
        birthday=(birthday,),
        member_id=np.array([member_id], dtype=np.int64),
    )
    return earn_lines(
        rules,
        sales,
        np.zeros(len(amounts), dtype=np.int64),
        np.array(amounts, dtype=np.int64),
        categories,
        skus,
        np.array(excluded, dtype=bool),
        brand=brands if any(b is not None for b in brands) else None,
        limits=limits,
        write=write,
    )


class PricedLine(NamedTuple):
    """A line as the rules read it: its amount after the offers, category, SKU and brand."""

    amount_minor: int
    category: str | None
    sku: str
    brand: str | None


def earn_at_store(
    rules: Sequence[Rule],
    store: StoreInfo,
    tier: Tier,
    occurred_at: datetime,
    channel: str | None,
    lines: Sequence[Any],
    *,
    birthday: object,
    member_id: int,
    limits: Connection | None,
    write: bool = True,
) -> Earned:
    """One member's sale at `store` (its programme, zone and exclusions) earning with `tier`: `lines`
    hold each line's amount_minor, category, sku and brand (a posted line or a cart's)."""
    programme = store.programme
    return earn_one_sale(
        rules,
        programme_id=programme.id,
        store_id=store.id,
        zone=store.timezone,
        occurred_us=epoch_us(occurred_at),
        channel=channel,
        tier_code=tier.code,
        points_per_unit=programme.points_per_unit,
        multiplier_pct=tier.multiplier_pct,
        birthday=stored_date(birthday) if needs_birthdays(rules) else None,
        amounts=[ln.amount_minor for ln in lines],
        categories=[ln.category for ln in lines],
        skus=[ln.sku for ln in lines],
        brands=[ln.brand for ln in lines],
        excluded=[ln.category is not None and ln.category in programme.excluded_categories for ln in lines],
        member_id=member_id,
        limits=limits,
        write=write,
    )


def stored_date(value: object) -> date | None:
    """A DATE column as the driver hands it back (SQLite: text) as a date."""
    if value is None:
        return None
    if isinstance(value, str):
        return date.fromisoformat(value)
    return value if isinstance(value, date) else None
