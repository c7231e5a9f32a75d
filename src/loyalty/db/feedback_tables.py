"""Members' feedback on their purchases: one rating (1–5) per purchase, by the member who made it.

Why a table of its own rather than columns on `purchases`: a sale is written once by the till's hot
path and never rewritten by the member; a rating comes days later, from another actor, with a follow-up
of its own (a store manager calls back about a low rating and marks it handled). `purchase_id` is
unique: a purchase is rated once, the database being the backstop of the service's check. The store,
the staff code (`purchases.staff`, core_0028) and the time of the sale are copied from it, so that
listing a store's feedback and counting the satisfaction KPI read this table only.
"""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, SmallInteger, String, Table

from loyalty.db.base import metadata
from loyalty.db.core_tables import Id, UTCDateTime

#: the longest comment a member leaves and the longest note staff write when handling it
COMMENT_LENGTH = 500
NOTE_LENGTH = 500

feedback = Table(
    "feedback",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("purchase_id", Id, ForeignKey("purchases.id"), nullable=False, unique=True),
    Column("member_id", Id, ForeignKey("members.id"), nullable=False),
    #: the sale's store and who rang it, as the sale named them
    Column("store_id", Id, ForeignKey("stores.id"), nullable=False),
    Column("staff", String(100), nullable=True),
    #: when the sale was made (the sale's `occurred_at`): the KPIs count a rating on its sale's day
    Column("sold_at", UTCDateTime(), nullable=False),
    Column("rating", SmallInteger, nullable=False),
    Column("comment", String(COMMENT_LENGTH), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    #: the follow-up: when and by whom ("staff:12") it was handled, and their note
    Column("handled_at", UTCDateTime(), nullable=True),
    Column("handled_by", String(100), nullable=True),
    Column("handled_note", String(NOTE_LENGTH), nullable=True),
    CheckConstraint("rating BETWEEN 1 AND 5", name="rating"),
    CheckConstraint(f"comment IS NULL OR length(comment) <= {COMMENT_LENGTH}", name="comment"),
    CheckConstraint("(handled_at IS NULL) = (handled_by IS NULL)", name="handled"),
)
# A store's feedback newest first (the staff's list, the follow-up of low ratings).
Index("ix_feedback_store_created", feedback.c.store_id, feedback.c.created_at)
# A store's ratings by the time of the sales rated (the satisfaction KPI, without the sales).
Index("ix_feedback_store_sold", feedback.c.store_id, feedback.c.sold_at, feedback.c.rating)

FEEDBACK_TABLES = (feedback,)
