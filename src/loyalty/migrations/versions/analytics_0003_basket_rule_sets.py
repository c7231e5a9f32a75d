"""Analytics: stored basket rules (a rule set per scope and level, and its rules); member scores by RFM code.

Revision ID: analytics_0003
Revises: analytics_0002
Create Date: 2026-12-07

The basket-rules refresh (`loyalty analytics basket-rules refresh`, or the `basket_rules` job) mines
the chain and each store over a recent period and keeps the rules here
(`loyalty.db.basket_rule_tables`), so the console's basket page and the API read them instead of
mining on every request. The tables are written out in full (not created from the current metadata)
so that this revision keeps meaning what it meant when it was written.

`ix_member_scores_rfm_code`: the KPI dashboards list the sleeping members of the high-value RFM
groups, a quarter of the members; read by their code, the others are never visited.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from loyalty.db.core_tables import Id, UTCDateTime

revision = "analytics_0003"
down_revision = "analytics_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "basket_rule_sets",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("scope", sa.String(24), nullable=False),
        sa.Column("store_id", Id, nullable=True),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("period_start", sa.Date, nullable=False),
        sa.Column("period_end", sa.Date, nullable=False),
        sa.Column("min_support", sa.Float, nullable=False),
        sa.Column("min_count", sa.Integer, nullable=False),
        sa.Column("min_confidence", sa.Float, nullable=False),
        sa.Column("min_length", sa.Integer, nullable=False),
        sa.Column("max_length", sa.Integer, nullable=False),
        sa.Column("baskets", sa.Integer, nullable=False),
        sa.Column("lines", sa.Integer, nullable=False),
        sa.Column("items", sa.Integer, nullable=False),
        sa.Column("frequent_items", sa.Integer, nullable=False),
        sa.Column("itemsets", sa.Integer, nullable=False),
        sa.Column("rules_found", sa.Integer, nullable=False),
        sa.Column("rules_stored", sa.Integer, nullable=False),
        sa.Column("computed_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_basket_rule_sets"),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.id"],
            name="fk_basket_rule_sets_store_id_stores",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("scope", "level", name="uq_basket_rule_sets_scope_level"),
        sa.CheckConstraint("level IN ('sku', 'category')", name="ck_basket_rule_sets_level"),
        sa.CheckConstraint(
            "(store_id IS NULL) = (scope = 'chain')", name="ck_basket_rule_sets_scope_names_store"
        ),
        sa.CheckConstraint("period_start <= period_end", name="ck_basket_rule_sets_period"),
        sa.CheckConstraint("rules_stored <= rules_found", name="ck_basket_rule_sets_stored_of_found"),
    )
    op.create_table(
        "basket_rules",
        sa.Column("set_id", Id, nullable=False),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("antecedent", sa.JSON, nullable=False),
        sa.Column("consequent", sa.JSON, nullable=False),
        sa.Column("antecedent_key", sa.Text, nullable=False),
        sa.Column("search", sa.Text, nullable=False),
        sa.Column("antecedent_length", sa.Integer, nullable=False),
        sa.Column("length", sa.Integer, nullable=False),
        sa.Column("baskets", sa.Integer, nullable=False),
        sa.Column("support", sa.Float, nullable=False),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("lift", sa.Float, nullable=False),
        sa.Column("leverage", sa.Float, nullable=False),
        sa.Column("conviction", sa.Float, nullable=True),
        sa.PrimaryKeyConstraint("set_id", "rank", name="pk_basket_rules"),
        sa.ForeignKeyConstraint(
            ["set_id"],
            ["basket_rule_sets.id"],
            name="fk_basket_rules_set_id_basket_rule_sets",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_basket_rules_set_id_antecedent_key", "basket_rules", ["set_id", "antecedent_key"])
    if not _has_score_index():  # analytics_0001 creates member_scores from today's metadata, index and all
        op.create_index("ix_member_scores_rfm_code", "member_scores", ["rfm_code"])


def _has_score_index() -> bool:
    found = sa.inspect(op.get_bind()).get_indexes("member_scores")
    return any(ix["name"] == "ix_member_scores_rfm_code" for ix in found)


def downgrade() -> None:
    if _has_score_index():
        op.drop_index("ix_member_scores_rfm_code", table_name="member_scores")
    present = set(sa.inspect(op.get_bind()).get_table_names())
    for name in ("basket_rules", "basket_rule_sets"):
        if name in present:
            op.drop_table(name)
