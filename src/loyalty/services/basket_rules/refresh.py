"""The basket-rules refresh: mine the chain and every store over a recent period, and store the rules.

Mining on every request (``rules.basket_rules``) answers any question but takes seconds on a chain's
purchases; the pages and the programme engine ask the same few questions again and again: which
items sell together lately, in the chain and in each store. The refresh (the ``basket_rules`` job,
``loyalty analytics basket-rules refresh``) answers them once:

* the period is the last ``DEFAULT_DAYS`` (90) business days up to today, each store's in its own
  time zone (today's sales so far included);
* every scope — the chain, then each store — is mined at both levels (SKUs and categories) at
  ``DEFAULT_THRESHOLDS``: a support of 0.1 % of the scope's baskets but never fewer than
  ``MIN_BASKETS`` (10) baskets (a rule seen in three baskets of a small store is chance, not a
  pattern), a confidence of 10 % (cross-sell needs the likelier pairings, not only the near-certain
  ones: the lift says how much likelier), rules of 2 to 4 items with one item as the consequent, as
  R's arules. A scope with fewer than ``MIN_BASKETS`` baskets gets an empty set that says so;
* a scope whose itemsets would pass ``MAX_ITEMSETS`` at that support is mined again at twice the
  support (at most ``RAISES`` times): the set keeps the support it was mined at, so readers see it;
* each set keeps its ``MAX_STORED`` best rules by lift (then confidence, support) and counts all.

The sets of the scopes mined replace the stored ones in one transaction at the end (``write_sets``):
a refresh that fails leaves the previous rules as they were, and a reader never sees half of one.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select

from loyalty.analytics.basket.errors import BasketInputError, TooManyItemsets
from loyalty.db.basket_rule_tables import basket_rule_sets, basket_rules
from loyalty.services.basket_rules.baskets import ITEM_COLUMNS, load_period_lines
from loyalty.services.basket_rules.rules import RuleRow, rule_rows
from loyalty.services.kpis.periods import today_in

if TYPE_CHECKING:
    from loyalty.analytics.basket import Baskets
    from loyalty.bootstrap import Context

#: business days a refresh mines, up to today
DEFAULT_DAYS = 90
MAX_DAYS = 3660
#: an itemset must be in at least this many baskets, whatever the support says
MIN_BASKETS = 10
#: frequent itemsets one scope may mine before its support is raised
MAX_ITEMSETS = 200_000
#: how many times a scope's support may be doubled to bring its itemsets under MAX_ITEMSETS
RAISES = 6
#: rules a set keeps (the best by lift); `rules_found` counts them all
MAX_STORED = 2_000
#: the stages of a refresh, as its progress names them: reading the lines, mining each scope and
#: level (one unit each), writing the sets
STAGES = ("load", "mine", "save")

#: told `(units done, units in all, the stage under way)`; after the last, the stage is "done"
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class RefreshThresholds:
    """What a stored rule must reach: support (a share of the scope's baskets, and at least
    `min_baskets` baskets), confidence, and its length in items (both sides)."""

    min_support: float = 0.001
    min_baskets: int = MIN_BASKETS
    min_confidence: float = 0.1
    min_length: int = 2
    max_length: int = 4

    def check(self) -> None:
        code = BasketInputError.default_code
        if not 0 < self.min_support <= 1 or math.isnan(self.min_support):
            raise BasketInputError.field("min_support", "min_support must be above 0 and at most 1", code)
        if not 0 <= self.min_confidence <= 1 or math.isnan(self.min_confidence):
            raise BasketInputError.field("min_confidence", "min_confidence must be between 0 and 1", code)
        if self.min_baskets < 1:
            raise BasketInputError.field("min_baskets", "min_baskets must be at least 1", code)
        if not 2 <= self.min_length <= self.max_length <= 10:
            raise BasketInputError.field(
                "max_length", "the lengths must satisfy 2 ≤ min_length ≤ max_length ≤ 10", code
            )


DEFAULT_THRESHOLDS = RefreshThresholds()


#: a rule the refresh stores is a rule as the reads give it back: its labels and measures
MinedRule = RuleRow


@dataclass(frozen=True)
class MinedSet:
    """One scope's and level's rules, as `write_sets` stores them (best lift first)."""

    store_id: int | None
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
    computed_at: datetime
    rules: list[MinedRule] = field(default_factory=list)

    @property
    def scope(self) -> str:
        return scope_key(self.store_id)


@dataclass(frozen=True)
class RefreshResult:
    period_start: date
    period_end: date
    sets: int
    stores: int
    rules_found: int
    rules_stored: int
    baskets: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": self.period_start.isoformat(),
            "end": self.period_end.isoformat(),
            "sets": self.sets,
            "stores": self.stores,
            "rules_found": self.rules_found,
            "rules_stored": self.rules_stored,
            "baskets": self.baskets,
        }


def scope_key(store_id: int | None) -> str:
    """A set's scope as stored: ``chain`` or ``store:<id>``."""
    return "chain" if store_id is None else f"store:{store_id}"


def mine_set(
    baskets: Baskets,
    lines: int,
    *,
    store_id: int | None,
    level: str,
    start: date,
    end: date,
    thresholds: RefreshThresholds,
    computed_at: datetime,
    max_stored: int = MAX_STORED,
    max_itemsets: int = MAX_ITEMSETS,
) -> MinedSet:
    """The rules of one scope's baskets at `thresholds` (the support raised as the module says)."""
    import numpy as np

    from loyalty.analytics.basket import association_rules, frequent_itemsets, min_count_for

    t = thresholds
    n = baskets.count
    support = min(1.0, max(t.min_support, t.min_baskets / n)) if n else t.min_support
    head: dict[str, Any] = {
        "store_id": store_id,
        "level": level,
        "period_start": start,
        "period_end": end,
        "min_confidence": t.min_confidence,
        "min_length": t.min_length,
        "max_length": t.max_length,
        "baskets": n,
        "lines": lines,
        "items": len(baskets.labels) if n else 0,
        "computed_at": computed_at,
    }
    if n < t.min_baskets:  # nothing can be in min_baskets baskets: no itemset, no rule
        return MinedSet(
            **head,
            min_support=support,
            min_count=t.min_baskets,
            frequent_items=0,
            itemsets=0,
            rules_found=0,
        )
    for raised in range(RAISES + 1):
        try:
            itemsets = frequent_itemsets(baskets, support, max_length=t.max_length, limit=max_itemsets)
            break
        except TooManyItemsets:
            if raised == RAISES or support >= 1.0:
                raise
            support = min(1.0, support * 2)
    rules = association_rules(itemsets, t.min_confidence, min_length=t.min_length, max_length=t.max_length)
    best = rules.sorted("lift")
    kept = best.take(np.arange(min(max_stored, len(best)), dtype=np.int64))
    mined = rule_rows(kept)
    return MinedSet(
        **head,
        min_support=support,
        min_count=min_count_for(support, n),
        frequent_items=itemsets.n_items,
        itemsets=itemsets.count(),
        rules_found=len(rules),
        rules=mined,
    )


def antecedent_key(labels: tuple[str, ...] | list[str]) -> str:
    """An antecedent as canonical JSON text: its labels sorted, no spaces (the cross-sell key)."""
    return json.dumps(sorted(labels), ensure_ascii=False, separators=(",", ":"))


def search_text(antecedent: tuple[str, ...], consequent: tuple[str, ...]) -> str:
    """Every label of a rule, case-folded, one a line: what the item search looks in."""
    return "\n".join(label.casefold() for label in (*antecedent, *consequent))


def _rule_rows(set_id: int, rules: list[MinedRule]) -> list[dict[str, Any]]:
    return [
        {
            "set_id": set_id,
            "rank": rank,
            "antecedent": list(r.antecedent),
            "consequent": list(r.consequent),
            "antecedent_key": antecedent_key(r.antecedent),
            "search": search_text(r.antecedent, r.consequent),
            "antecedent_length": len(r.antecedent),
            "length": len(r.antecedent) + len(r.consequent),
            "baskets": r.count,
            "support": r.support,
            "confidence": r.confidence,
            "lift": r.lift,
            "leverage": r.leverage,
            "conviction": r.conviction,
        }
        for rank, r in enumerate(rules, start=1)
    ]


def write_sets(ctx: Context, mined: list[MinedSet]) -> None:
    """Replace the stored sets of the scopes and levels in `mined` by these, in one transaction: on
    any error nothing of them is written and the sets stored before stay as they were."""
    keys = {(m.scope, m.level) for m in mined}
    with ctx.engine.begin() as conn:
        old = [
            int(r.id)
            for r in conn.execute(
                select(basket_rule_sets.c.id, basket_rule_sets.c.scope, basket_rule_sets.c.level)
            )
            if (r.scope, r.level) in keys
        ]
        for start in range(0, len(old), 500):
            chunk = old[start : start + 500]
            conn.execute(delete(basket_rules).where(basket_rules.c.set_id.in_(chunk)))
            conn.execute(delete(basket_rule_sets).where(basket_rule_sets.c.id.in_(chunk)))
        for m in mined:
            set_id = int(
                conn.execute(
                    insert(basket_rule_sets).returning(basket_rule_sets.c.id),
                    {
                        "scope": m.scope,
                        "store_id": m.store_id,
                        "level": m.level,
                        "period_start": m.period_start,
                        "period_end": m.period_end,
                        "min_support": m.min_support,
                        "min_count": m.min_count,
                        "min_confidence": m.min_confidence,
                        "min_length": m.min_length,
                        "max_length": m.max_length,
                        "baskets": m.baskets,
                        "lines": m.lines,
                        "items": m.items,
                        "frequent_items": m.frequent_items,
                        "itemsets": m.itemsets,
                        "rules_found": m.rules_found,
                        "rules_stored": len(m.rules),
                        "computed_at": m.computed_at,
                    },
                ).scalar_one()
            )
            rows = _rule_rows(set_id, m.rules)
            for start in range(0, len(rows), 5_000):
                conn.execute(insert(basket_rules), rows[start : start + 5_000])


def refresh_basket_rules(
    ctx: Context,
    *,
    days: int = DEFAULT_DAYS,
    end: date | None = None,
    thresholds: RefreshThresholds = DEFAULT_THRESHOLDS,
    levels: tuple[str, ...] = ITEM_COLUMNS,
    progress: Progress | None = None,
) -> RefreshResult:
    """Mine the chain and every store over the `days` business days up to `end` (default: today in
    the programme's time zone) at both levels, and store the sets (replacing those scopes' sets).

    Bad arguments are BASKET_INPUT_INVALID naming the field; a store without purchases in the period
    gets an empty set (its page says so), not an error."""
    code = BasketInputError.default_code
    if not 1 <= days <= MAX_DAYS:
        raise BasketInputError.field("days", "days must be between 1 and {max}", code, {"max": MAX_DAYS})
    unknown = [lv for lv in levels if lv not in ITEM_COLUMNS]
    if unknown or not levels:
        raise BasketInputError.field(
            "levels", "levels must be among {choices}", code, {"choices": ", ".join(ITEM_COLUMNS)}
        )
    thresholds.check()
    now = ctx.now()
    last = end if end is not None else today_in(ctx.settings.timezone, now)
    first = last - timedelta(days=days - 1)

    def tell(done: int, total: int, stage: str) -> None:
        if progress is not None:
            progress(done, total, stage)

    tell(0, 3, "load")
    period = load_period_lines(ctx, first, last)
    scopes: list[int | None] = [None, *[s.id for s in period.stores]]
    total = 2 + len(scopes) * len(levels)
    done = 1
    mined: list[MinedSet] = []
    for store_id in scopes:
        for level in levels:
            tell(done, total, "mine")
            baskets, lines = period.baskets(level, store_id)
            mined.append(
                mine_set(
                    baskets,
                    lines,
                    store_id=store_id,
                    level=level,
                    start=first,
                    end=last,
                    thresholds=thresholds,
                    computed_at=now,
                )
            )
            done += 1
    tell(done, total, "save")
    write_sets(ctx, mined)
    tell(total, total, "done")
    chain = [m for m in mined if m.store_id is None]
    return RefreshResult(
        period_start=first,
        period_end=last,
        sets=len(mined),
        stores=len(period.stores),
        rules_found=sum(m.rules_found for m in mined),
        rules_stored=sum(len(m.rules) for m in mined),
        baskets=chain[0].baskets if chain else 0,
    )
