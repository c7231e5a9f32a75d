"""Cross-sell: the stored basket rules a basket fires, best lift first — what to offer beside it.

The till's quote asks on every scan (`suggest`), so a stored set's rules are indexed in memory by
antecedent the first time they are asked for, and a basket is answered from its subsets' keys in that
index; nothing here mines. The index is kept per process under the set's whole stored row: a refresh
(in this process or another, the job worker or the CLI) writes new rows, so the next question reads
the new set and the old index is dropped. From the store's set when it has rules, else the chain's.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, or_, select

from loyalty.analytics.basket.errors import BasketInputError
from loyalty.db.basket_rule_tables import basket_rule_sets, basket_rules
from loyalty.services.basket_rules.refresh import antecedent_key
from loyalty.services.basket_rules.rules import MAX_LIMIT, RuleRow
from loyalty.services.basket_rules.stored import RuleSet, check_level, check_store, rule_from, set_from
from loyalty.services.common import read

if TYPE_CHECKING:
    from loyalty.bootstrap import Context

#: how many antecedent keys a basket is looked up by before the set's rules are walked instead
MAX_KEYS = 2_000
#: items a cross-sell question may name
MAX_ITEMS = 200
#: suggestions a quote may ask for
MAX_SUGGESTIONS = 10
#: stored sets whose index a process keeps (the chain's and each store's, two levels)
_KEPT_SETS = 256
_CODE = BasketInputError.default_code


@dataclass(frozen=True)
class CrossSell:
    """The rules the items' basket fires, best lift first, and the set they come from (None: none)."""

    rule_set: RuleSet | None
    rules: list[RuleRow]


@dataclass(frozen=True)
class Suggestion:
    """An item to offer beside a cart: the best rule that names it, and the cart's items it follows."""

    items: tuple[str, ...]  # the rule's consequent
    because: tuple[str, ...]  # its antecedent, all of them in the cart
    confidence: float
    lift: float


@dataclass(frozen=True)
class _Indexed:
    rank: int
    antecedent: frozenset[str]
    consequent: frozenset[str]
    rule: RuleRow


@dataclass(frozen=True)
class _Index:
    """One stored set's rules by antecedent key; `longest` is its longest antecedent."""

    by_key: dict[str, list[_Indexed]]
    every: list[_Indexed]
    longest: int

    def fired(self, held: list[str], min_lift: float, exclude_held: bool) -> list[RuleRow]:
        """The rules whose antecedent `held` holds, at least `min_lift`, best lift first (then
        confidence, support, the set's rank); those whose consequent is held already left out when
        `exclude_held`."""
        have = set(held)
        keys = _keys(held, self.longest)
        if keys is None or len(keys) > len(self.every):
            found = [r for r in self.every if r.antecedent <= have]
        else:
            found = [r for key in keys for r in self.by_key.get(key, ())]
        found = [r for r in found if r.rule.lift >= min_lift and not (exclude_held and r.consequent <= have)]
        found.sort(key=lambda r: (-r.rule.lift, -r.rule.confidence, -r.rule.support, r.rank))
        return [r.rule for r in found]


def _keys(items: list[str], longest: int) -> list[str] | None:
    """The antecedent keys of every non-empty subset of `items` up to `longest` items (None when
    there would be more than MAX_KEYS)."""
    count = sum(math.comb(len(items), k) for k in range(1, min(longest, len(items)) + 1))
    if count > MAX_KEYS:
        return None
    return [
        antecedent_key(list(combo))
        for k in range(1, min(longest, len(items)) + 1)
        for combo in itertools.combinations(items, k)
    ]


def _index(ctx: Context, conn: Connection, row: Any) -> _Index:
    """The index of the set stored as `row`, built on first use and kept while the row stays as it is."""
    kept: dict[tuple[Any, ...], _Index] = ctx.cache.setdefault("cross_sell", {})
    key = tuple(row)
    found = kept.get(key)
    if found is not None:
        return found
    rows = conn.execute(select(basket_rules).where(basket_rules.c.set_id == row.id)).all()
    every: list[_Indexed] = []
    by_key: dict[str, list[_Indexed]] = {}
    for r in rows:
        indexed = _Indexed(
            int(r.rank), frozenset(map(str, r.antecedent)), frozenset(map(str, r.consequent)), rule_from(r)
        )
        every.append(indexed)
        by_key.setdefault(str(r.antecedent_key), []).append(indexed)
    longest = max((len(r.antecedent) for r in every), default=1)
    stale = [k for k in kept if k[0] == row.id]  # the set this row replaced (a refresh reuses no key)
    for k in stale:
        kept.pop(k, None)
    if len(kept) >= _KEPT_SETS:
        kept.clear()
    found = kept[key] = _Index(by_key, every, longest)
    return found


def _held(items: Iterable[str]) -> list[str]:
    held = sorted({str(i) for i in items if str(i).strip()})
    if len(held) > MAX_ITEMS:
        raise BasketInputError.field("items", "at most {max} items", _CODE, {"max": MAX_ITEMS})
    return held


def cross_sell(
    ctx: Context,
    items: Iterable[str],
    *,
    store_id: int | None = None,
    level: str = "sku",
    min_lift: float = 1.0,
    limit: int = 10,
    exclude_held: bool = True,
) -> CrossSell:
    """The stored rules whose antecedent the basket `items` hold (every item of it), best lift first
    (then confidence, support): what to offer beside them. From the store's set when it has rules,
    else the chain's; rules whose consequent the basket already holds are left out (`exclude_held`),
    as are those below `min_lift` (1: no likelier than by chance). Several rules may offer the same
    item (from different antecedents): each is listed, the best first."""
    check_level(level)
    if not 1 <= limit <= MAX_LIMIT:
        raise BasketInputError.field("limit", "limit must be between 1 and {max}", _CODE, {"max": MAX_LIMIT})
    if math.isnan(min_lift) or min_lift < 0:
        raise BasketInputError.field("min_lift", "min_lift must not be negative", _CODE)
    held = _held(items)
    with read(ctx) as conn:
        known = check_store(conn, store_id)
        chosen = _chosen(_set_rows(conn, store_id, level), store_id)
        if chosen is None:
            return CrossSell(None, [])
        rule_set = set_from(chosen, known)
        if not held:
            return CrossSell(rule_set, [])
        fired = _index(ctx, conn, chosen).fired(held, min_lift, exclude_held)
    return CrossSell(rule_set, fired[:limit])


def _set_rows(conn: Connection, store_id: int | None, level: str) -> list[Any]:
    """The stored rows of the chain's set and the store's, at `level`."""
    c = basket_rule_sets.c
    scope = c.store_id.is_(None) if store_id is None else or_(c.store_id.is_(None), c.store_id == store_id)
    return list(conn.execute(select(basket_rule_sets).where(c.level == level, scope)).all())


def _chosen(rows: Collection[Any], store_id: int | None) -> Any | None:
    """The store's set when it has rules, else the chain's (None: no set yet)."""
    own = next((r for r in rows if store_id is not None and r.store_id == store_id), None)
    if own is not None and int(own.rules_stored) > 0:
        return own
    return next((r for r in rows if r.store_id is None), own)


def suggest(
    ctx: Context, conn: Connection, store_id: int, items: Iterable[str], limit: int
) -> list[Suggestion]:
    """Up to `limit` items to offer beside a cart of `items` (SKUs) at `store_id`, each once with the
    best rule that names it (a lift of at least 1), read in the caller's transaction: the quote's."""
    if not 1 <= limit <= MAX_SUGGESTIONS:
        raise BasketInputError.field(
            "suggestions", "suggestions must be between 1 and {max}", _CODE, {"max": MAX_SUGGESTIONS}
        )
    held = _held(items)
    chosen = _chosen(_set_rows(conn, store_id, "sku"), store_id)
    if chosen is None or not held:
        return []
    out: list[Suggestion] = []
    offered: set[tuple[str, ...]] = set()
    for rule in _index(ctx, conn, chosen).fired(held, 1.0, True):
        if rule.consequent in offered:
            continue
        offered.add(rule.consequent)
        out.append(Suggestion(rule.consequent, rule.antecedent, rule.confidence, rule.lift))
        if len(out) == limit:
            break
    return out
