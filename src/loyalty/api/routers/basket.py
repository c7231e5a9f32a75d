"""Market-basket rules of the chain's (or one store's) purchases: stored, or mined on request.

`GET /analytics/basket-rules/stored` reads the rules the basket-rules job stored (`POST /jobs
{"kind": "basket_rules"}`: the chain and each store over the last 90 days) without mining, and
`GET /analytics/basket-rule-sets` lists those sets with their period and thresholds.

`GET /analytics/basket-rules` reads the product database and mines it within bounds: a scope of more
purchase lines than one request may read, or a support whose frequent itemsets would pass the
request limit, is refused with 422 before the work (`BASKET_SCOPE_TOO_LARGE` with the line count,
`BASKET_TOO_MANY_ITEMSETS` with the estimated number of itemsets). Nothing of it is stored: the
answer depends on the question's store, period and thresholds (see `loyalty.services.basket_rules`).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal, cast

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from loyalty.api.deps import CtxDep, in_query, requires
from loyalty.api.security import Principal
from loyalty.domain.errors import InvalidInput
from loyalty.services import basket_rules as service

router = APIRouter(tags=["analytics"])

Reader = Annotated[Principal, Depends(requires("analytics:read"))]
Level = Literal["sku", "category"]


class RuleOut(BaseModel):
    """X ⇒ Y: baskets holding X also hold Y. Item labels sorted; measures as plain numbers."""

    antecedent: list[str] = Field(examples=[["bread", "butter"]])
    consequent: list[str] = Field(examples=[["milk"]])
    baskets: int = Field(description="Baskets holding X and Y.")
    support: float = Field(description="Share of all baskets holding X and Y.")
    confidence: float = Field(description="Share of the baskets holding X that hold Y.")
    lift: float = Field(description="Confidence against Y's own share: above 1, X makes Y likelier.")
    leverage: float = Field(description="Support minus the support X and Y would have if independent.")
    conviction: float | None = Field(
        description="(1 − share of Y) / (1 − confidence); null when Y always follows."
    )


class ScopeOut(BaseModel):
    store_id: int | None
    store_code: str | None
    start: date | None = Field(description="First business day mined (null: from the first sale).")
    end: date | None
    item: Literal["sku", "category"]


class BasketRulesOut(BaseModel):
    """The rules of a scope, best first, and what was mined to find them."""

    scope: ScopeOut
    min_support: float
    min_count: int = Field(description="Baskets an itemset must be in: the support as a count.")
    min_confidence: float
    baskets: int = Field(description="Purchases with at least one line not returned in full.")
    lines: int
    items: int = Field(description="Distinct items (SKUs or categories) in the baskets.")
    frequent_items: int
    itemsets: int = Field(description="Frequent itemsets mined.")
    total: int = Field(description="Rules passing every filter (the list holds the first `limit`).")
    rules: list[RuleOut]


@router.get("/analytics/basket-rules", response_model=BasketRulesOut)
def basket_rules(
    caller: Reader,
    ctx: CtxDep,
    min_support: Annotated[
        float, Query(gt=0, le=1, description="Share of baskets an itemset must be in.")
    ] = 0.01,
    min_confidence: Annotated[float, Query(ge=0, le=1)] = 0.5,
    min_length: Annotated[int, Query(ge=1, le=20, description="Fewest items in a rule, both sides.")] = 2,
    max_length: Annotated[int | None, Query(ge=1, le=20)] = None,
    min_lift: Annotated[float | None, Query(ge=0)] = None,
    contains: Annotated[
        str | None, Query(max_length=100, description="Only rules with an item whose label holds this text.")
    ] = None,
    item: Annotated[
        Literal["sku", "category"], Query(description="What an item is: a line's SKU or category.")
    ] = "sku",
    store: Annotated[
        int | None, Query(ge=1, description="One store's purchases (default: the chain's).")
    ] = None,
    from_: Annotated[date | None, Query(alias="from", description="First business day.")] = None,
    to: Annotated[date | None, Query(description="Last business day.")] = None,
    sort: Annotated[Literal["lift", "confidence", "support", "leverage", "conviction"], Query()] = "lift",
    limit: Annotated[int, Query(ge=1, le=service.MAX_LIMIT)] = 100,
    prune_redundant: Annotated[
        bool, Query(description="Leave out a rule when a more general one is at least as confident.")
    ] = False,
) -> BasketRulesOut:
    """Which items sell together: association rules with support, confidence, lift, leverage and
    conviction (analysts and marketers; a store's rules or, without `store`, the chain's)."""
    caller.require_store(store)
    scope = service.BasketScope(store_id=store, start=from_, end=to, item=item)
    thresholds = service.Thresholds(
        min_support=min_support,
        min_confidence=min_confidence,
        min_length=min_length,
        max_length=max_length,
        min_lift=min_lift,
        contains=contains or None,
        sort=sort,
        limit=limit,
        prune_redundant=prune_redundant,
    )
    try:
        result = service.basket_rules(ctx, scope, thresholds)
    except InvalidInput as exc:
        if exc.code == "BASKET_INPUT_INVALID" and (exc.details or {}).get("errors"):
            raise in_query(exc) from exc
        raise
    return BasketRulesOut(
        scope=ScopeOut(
            store_id=store,
            store_code=result.store.code if result.store else None,
            start=from_,
            end=to,
            item=item,
        ),
        min_support=min_support,
        min_count=result.min_count,
        min_confidence=min_confidence,
        baskets=result.baskets,
        lines=result.lines,
        items=result.items,
        frequent_items=result.frequent_items,
        itemsets=result.itemsets,
        total=result.total,
        rules=[
            RuleOut(
                antecedent=list(r.antecedent),
                consequent=list(r.consequent),
                baskets=r.count,
                support=r.support,
                confidence=r.confidence,
                lift=r.lift,
                leverage=r.leverage,
                conviction=r.conviction,
            )
            for r in result.rules
        ],
    )


# --- stored rules: what the basket-rules job mined, read without mining -----------------------------


class RuleSetOut(BaseModel):
    """A stored set: its scope and level, the business days and thresholds it was mined at, and what
    it found. The rules keep the best `rules_stored` of `rules_found` by lift."""

    store_id: int | None = Field(description="Null: the whole chain's purchases.")
    store_code: str | None
    level: Literal["sku", "category"]
    start: date = Field(description="First business day mined.")
    end: date
    min_support: float = Field(description="The support it was mined at (raised where the store is small).")
    min_count: int = Field(description="Baskets an itemset had to be in.")
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


class StoredRulesOut(BaseModel):
    """One page of a stored set's rules (`rule_set` null: this scope has not been mined yet)."""

    rule_set: RuleSetOut | None
    total: int = Field(description="Stored rules passing the filters (the list holds `limit` from `offset`).")
    offset: int
    rules: list[RuleOut]


class RuleSetsOut(BaseModel):
    """Every stored set the caller may read: the chain's first, then each store's."""

    sets: list[RuleSetOut]


def _set_out(s: service.RuleSet) -> RuleSetOut:
    return RuleSetOut(
        store_id=s.store.id if s.store else None,
        store_code=s.store.code if s.store else None,
        level=cast(Level, s.level),  # the table's CHECK keeps it to sku or category
        start=s.period_start,
        end=s.period_end,
        min_support=s.min_support,
        min_count=s.min_count,
        min_confidence=s.min_confidence,
        min_length=s.min_length,
        max_length=s.max_length,
        baskets=s.baskets,
        lines=s.lines,
        items=s.items,
        frequent_items=s.frequent_items,
        itemsets=s.itemsets,
        rules_found=s.rules_found,
        rules_stored=s.rules_stored,
        computed_at=s.computed_at,
    )


def _rule_out(r: service.RuleRow) -> RuleOut:
    return RuleOut(
        antecedent=list(r.antecedent),
        consequent=list(r.consequent),
        baskets=r.count,
        support=r.support,
        confidence=r.confidence,
        lift=r.lift,
        leverage=r.leverage,
        conviction=r.conviction,
    )


@router.get("/analytics/basket-rule-sets", response_model=RuleSetsOut)
def basket_rule_sets(
    caller: Reader,
    ctx: CtxDep,
    level: Annotated[Literal["sku", "category"] | None, Query(description="Only this level's sets.")] = None,
) -> RuleSetsOut:
    """The stored basket-rule sets: when each was mined, over which days, at which thresholds, and how
    many rules it holds (the basket-rules job makes them)."""
    found = service.rule_sets(ctx, store_ids=caller.store_ids, level=level)
    return RuleSetsOut(sets=[_set_out(s) for s in found])


@router.get("/analytics/basket-rules/stored", response_model=StoredRulesOut)
def stored_basket_rules(
    caller: Reader,
    ctx: CtxDep,
    store: Annotated[int | None, Query(ge=1, description="One store's set (default: the chain's).")] = None,
    level: Annotated[
        Literal["sku", "category"], Query(description="What an item is: a line's SKU or category.")
    ] = "sku",
    contains: Annotated[
        str | None, Query(max_length=100, description="Only rules with an item whose label holds this text.")
    ] = None,
    min_lift: Annotated[float | None, Query(ge=0)] = None,
    sort: Annotated[Literal["lift", "confidence", "support", "leverage", "conviction"], Query()] = "lift",
    limit: Annotated[int, Query(ge=1, le=service.MAX_LIMIT)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> StoredRulesOut:
    """The stored rules of the chain or one store, filtered and sorted, without mining: what the
    basket-rules job found over its recent period (see `GET /analytics/basket-rule-sets`)."""
    caller.require_store(store)  # the chain's (store None) only for chain-wide callers
    found = service.stored_rules(
        ctx,
        store_id=store,
        level=level,
        contains=contains or None,
        min_lift=min_lift,
        sort=sort,
        offset=offset,
        limit=limit,
    )
    return StoredRulesOut(
        rule_set=_set_out(found.rule_set) if found.rule_set else None,
        total=found.total,
        offset=found.offset,
        rules=[_rule_out(r) for r in found.rules],
    )
