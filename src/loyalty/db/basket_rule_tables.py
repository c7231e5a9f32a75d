"""Stored basket rules: one rule set per scope (the chain, or one store) and level (SKUs or
categories), and the rules of each set.

The basket-rules refresh (`loyalty.services.basket_rules.stored`, the `basket_rules` job) mines every
scope over a recent period and replaces the sets of the scopes it mined, with their rules, in one
transaction; the console's basket page, `GET /api/v1/analytics/basket-rules/stored` and the programme
engine's cross-sell read them back without mining. A set keeps what it was mined from and at which
thresholds, so a reader can say how fresh and how strict the rules are.

`scope` is the set's key beside `level`: ``chain`` or ``store:<id>`` (a UNIQUE on a nullable
`store_id` would let two chain sets in); the CHECK keeps it in step with `store_id`.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from loyalty.db.base import metadata
from loyalty.db.core_tables import Id, UTCDateTime

basket_rule_sets = Table(
    "basket_rule_sets",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    #: ``chain`` or ``store:<store_id>``
    Column("scope", String(24), nullable=False),
    #: NULL: the whole chain's purchases
    Column("store_id", Id, ForeignKey("stores.id", ondelete="CASCADE"), nullable=True),
    #: what an item is: a line's ``sku`` or its ``category``
    Column("level", String(10), nullable=False),
    #: the business days mined (each store's in its own time zone)
    Column("period_start", Date, nullable=False),
    Column("period_end", Date, nullable=False),
    #: the thresholds the set was mined at (min_support as a share and as a count of baskets)
    Column("min_support", Float, nullable=False),
    Column("min_count", Integer, nullable=False),
    Column("min_confidence", Float, nullable=False),
    Column("min_length", Integer, nullable=False),
    Column("max_length", Integer, nullable=False),
    #: what was mined: baskets, purchase lines, distinct items, frequent items and itemsets
    Column("baskets", Integer, nullable=False),
    Column("lines", Integer, nullable=False),
    Column("items", Integer, nullable=False),
    Column("frequent_items", Integer, nullable=False),
    Column("itemsets", Integer, nullable=False),
    #: rules reaching the thresholds, and how many of them (the best by lift) are stored
    Column("rules_found", Integer, nullable=False),
    Column("rules_stored", Integer, nullable=False),
    Column("computed_at", UTCDateTime(), nullable=False),
    UniqueConstraint("scope", "level"),
    CheckConstraint("level IN ('sku', 'category')", name="level"),
    CheckConstraint("(store_id IS NULL) = (scope = 'chain')", name="scope_names_store"),
    CheckConstraint("period_start <= period_end", name="period"),
    CheckConstraint("rules_stored <= rules_found", name="stored_of_found"),
)

basket_rules = Table(
    "basket_rules",
    metadata,
    Column("set_id", Id, ForeignKey("basket_rule_sets.id", ondelete="CASCADE"), primary_key=True),
    #: 1 = the highest lift of the set (then confidence, support: the order of `Rules.sorted`)
    Column("rank", Integer, primary_key=True),
    #: JSON arrays of item labels, each sorted
    Column("antecedent", JSON, nullable=False),
    Column("consequent", JSON, nullable=False),
    #: the antecedent as canonical JSON text (sorted, no spaces): the cross-sell look-up's key
    Column("antecedent_key", Text, nullable=False),
    #: every label of the rule case-folded, one a line: the item search's haystack
    Column("search", Text, nullable=False),
    Column("antecedent_length", Integer, nullable=False),
    #: items of the rule, both sides
    Column("length", Integer, nullable=False),
    #: baskets holding both sides
    Column("baskets", Integer, nullable=False),
    Column("support", Float, nullable=False),
    Column("confidence", Float, nullable=False),
    Column("lift", Float, nullable=False),
    Column("leverage", Float, nullable=False),
    #: NULL when the rule always holds (infinite conviction)
    Column("conviction", Float, nullable=True),
    Index("ix_basket_rules_set_id_antecedent_key", "set_id", "antecedent_key"),
)

BASKET_RULE_TABLES = (basket_rule_sets, basket_rules)
