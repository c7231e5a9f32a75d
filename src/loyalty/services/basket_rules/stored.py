"""The stored basket rules, read back: the sets (when, over what, at which thresholds), one set's rules
filtered, sorted and paged (the cross-sell look-up is `cross_sell`).

What the refresh (`refresh`) wrote is read as it is: nothing here mines. A scope that has no set yet
(before the first refresh, or a store opened since) answers ``rule_set`` None, which the console and
the API show as "not computed yet", with the refresh to run.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, select

from loyalty.analytics.basket.errors import BasketInputError
from loyalty.db.basket_rule_tables import basket_rule_sets, basket_rules
from loyalty.db.core_tables import stores
from loyalty.domain.errors import NotFound
from loyalty.services.basket_rules.baskets import ITEM_COLUMNS
from loyalty.services.basket_rules.rules import MAX_LIMIT, SORTS, RuleRow
from loyalty.services.common import read
from loyalty.services.kpis.schemas import StoreRef
from loyalty.services.stored_runs import aware

if TYPE_CHECKING:
    from sqlalchemy.sql.elements import ColumnElement

    from loyalty.bootstrap import Context


@dataclass(frozen=True)
class RuleSet:
    """A stored set: its scope and level, the period and thresholds it was mined at, what it found."""

    id: int
    store: StoreRef | None
    level: str
    period_start: date
    period_end: date
    min_support: float
    min_count: int
    min_confidence: float
    min_length: int
    max_length: int
    baskets: int
    lines: int
    items: int
    frequent_items: int
    itemsets: int
    rules_found: int
    rules_stored: int
    computed_at: datetime


@dataclass(frozen=True)
class StoredRules:
    """One page of a set's rules that pass the filters; `total` counts them all (None: no set)."""

    rule_set: RuleSet | None
    total: int
    offset: int
    rules: list[RuleRow]


def _stores(conn: Connection) -> dict[int, StoreRef]:
    found = conn.execute(select(stores.c.id, stores.c.code, stores.c.name, stores.c.timezone))
    return {int(r.id): StoreRef.model_validate(r._asdict()) for r in found}


def set_from(row: Any, known: dict[int, StoreRef]) -> RuleSet:
    """A stored set's row as a `RuleSet`, its store looked up in `known`."""
    return RuleSet(
        id=int(row.id),
        store=None if row.store_id is None else known.get(int(row.store_id)),
        level=str(row.level),
        period_start=row.period_start,
        period_end=row.period_end,
        min_support=float(row.min_support),
        min_count=int(row.min_count),
        min_confidence=float(row.min_confidence),
        min_length=int(row.min_length),
        max_length=int(row.max_length),
        baskets=int(row.baskets),
        lines=int(row.lines),
        items=int(row.items),
        frequent_items=int(row.frequent_items),
        itemsets=int(row.itemsets),
        rules_found=int(row.rules_found),
        rules_stored=int(row.rules_stored),
        computed_at=aware(row.computed_at),
    )


def rule_from(row: Any) -> RuleRow:
    """A stored rule's row as a `RuleRow`."""
    return RuleRow(
        antecedent=tuple(str(x) for x in row.antecedent),
        consequent=tuple(str(x) for x in row.consequent),
        count=int(row.baskets),
        support=float(row.support),
        confidence=float(row.confidence),
        lift=float(row.lift),
        leverage=float(row.leverage),
        conviction=None if row.conviction is None else float(row.conviction),
    )


def check_level(level: str) -> None:
    """BASKET_INPUT_INVALID naming `level` unless it is an item level (sku, category)."""
    if level not in ITEM_COLUMNS:
        raise BasketInputError.field(
            "level",
            "level must be one of {choices}",
            BasketInputError.default_code,
            {"choices": ", ".join(ITEM_COLUMNS)},
        )


def check_store(conn: Connection, store_id: int | None) -> dict[int, StoreRef]:
    """The chain's stores; STORE_NOT_FOUND when `store_id` is not one of them."""
    known = _stores(conn)
    if store_id is not None and store_id not in known:
        raise NotFound("STORE_NOT_FOUND", "store {store_id} does not exist", {"store_id": store_id})
    return known


def find_set(
    conn: Connection, store_id: int | None, level: str, known: dict[int, StoreRef] | None = None
) -> RuleSet | None:
    """The stored set of the chain (None) or one store at `level` (None: not computed yet)."""
    where = (
        basket_rule_sets.c.store_id.is_(None) if store_id is None else basket_rule_sets.c.store_id == store_id
    )
    row = conn.execute(select(basket_rule_sets).where(where, basket_rule_sets.c.level == level)).first()
    return None if row is None else set_from(row, _stores(conn) if known is None else known)


def rule_sets(
    ctx: Context, *, store_ids: Collection[int] | None = None, level: str | None = None
) -> list[RuleSet]:
    """The stored sets, the chain's first then by store, SKUs before categories. `store_ids` limits
    them to those stores' (and leaves the chain's out): what store staff may read."""
    if level is not None:
        check_level(level)
    q = select(basket_rule_sets)
    if store_ids is not None:
        q = q.where(basket_rule_sets.c.store_id.in_(list(store_ids)))
    if level is not None:
        q = q.where(basket_rule_sets.c.level == level)
    with read(ctx) as conn:
        known = _stores(conn)
        rows = conn.execute(q).all()
    found = [set_from(r, known) for r in rows]
    order = {lv: i for i, lv in enumerate(ITEM_COLUMNS)}
    return sorted(
        found, key=lambda s: (s.store is not None, s.store.id if s.store else 0, order.get(s.level, 9))
    )


def _order(sort: str) -> list[Any]:
    c = basket_rules.c
    if sort == "lift":
        return [c.rank]  # the refresh ranked the set by lift, then confidence and support
    first = c.conviction.desc().nulls_first() if sort == "conviction" else c[sort].desc()
    return [first, c.confidence.desc(), c.support.desc(), c.rank]


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def stored_rules(
    ctx: Context,
    *,
    store_id: int | None = None,
    level: str = "sku",
    contains: str | None = None,
    min_lift: float | None = None,
    sort: str = "lift",
    offset: int = 0,
    limit: int = 50,
) -> StoredRules:
    """The stored rules of the chain (or one store) at `level`: those with an item whose label holds
    `contains` (any case) and a lift of at least `min_lift`, best first by `sort`, `limit` of them
    from `offset`. STORE_NOT_FOUND for an unknown store; BASKET_INPUT_INVALID naming a bad field."""
    code = BasketInputError.default_code
    check_level(level)
    if sort not in SORTS:
        raise BasketInputError.field(
            "sort", "sort must be one of {choices}", code, {"choices": ", ".join(SORTS)}
        )
    if not 1 <= limit <= MAX_LIMIT:
        raise BasketInputError.field("limit", "limit must be between 1 and {max}", code, {"max": MAX_LIMIT})
    if offset < 0:
        raise BasketInputError.field("offset", "offset must not be negative", code)
    if min_lift is not None and (math.isnan(min_lift) or min_lift < 0):
        raise BasketInputError.field("min_lift", "min_lift must not be negative", code)
    with read(ctx) as conn:
        known = check_store(conn, store_id)
        found = find_set(conn, store_id, level, known)
        if found is None:
            return StoredRules(None, 0, offset, [])
        conds: list[ColumnElement[bool]] = [basket_rules.c.set_id == found.id]
        wanted = " ".join((contains or "").split()).casefold()
        if wanted:
            conds.append(basket_rules.c.search.like(_like(wanted), escape="\\"))
        if min_lift is not None:
            conds.append(basket_rules.c.lift >= min_lift)
        total = int(conn.execute(select(func.count()).select_from(basket_rules).where(*conds)).scalar_one())
        rows = conn.execute(
            select(basket_rules).where(*conds).order_by(*_order(sort)).offset(offset).limit(limit)
        ).all()
    return StoredRules(found, total, offset, [rule_from(r) for r in rows])
