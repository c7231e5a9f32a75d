"""Offers and coupons: what a marketer defines, the codes issued for it, and each use of a code.

`offers` holds an offer (`domain.programme.offers`) with its validity and limits, and counts its uses
and the discount given so far; `coupons` the codes issued for it — one member's (a wallet's) or a
shared campaign code with several uses; `coupon_uses` every use with the sale it discounted, released
when that sale is fully returned. The counters move by conditional updates (`uses < max_uses`), so
racing checkouts never use a code or an offer beyond its limit.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    false,
)

from loyalty.db.base import metadata
from loyalty.db.core_tables import Id, UTCDateTime

offers = Table(
    "offers",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("programme_id", Id, ForeignKey("programmes.id"), nullable=False),
    Column("code", String(40), nullable=False),
    Column("name", String(200), nullable=False),
    Column("kind", String(20), nullable=False),
    #: the offer as defined (`domain.programme.offers.OfferSpec`, dict form)
    Column("definition", JSON, nullable=False),
    Column("valid_from", UTCDateTime(), nullable=False),
    Column("valid_to", UTCDateTime(), nullable=True),
    #: a coupon becomes usable this many days after it is issued (next-order coupons: the return window)
    Column("activation_days", Integer, nullable=False),
    #: a coupon expires this many days after it is issued (None: at the offer's end)
    Column("validity_days", Integer, nullable=True),
    Column("per_member_limit", Integer, nullable=True),
    Column("max_uses", Integer, nullable=True),
    Column("budget_minor", BigInteger, nullable=True),
    Column("uses", Integer, nullable=False),
    Column("discounted_minor", BigInteger, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("created_by", String(100), nullable=False),
    #: a promotion applied without a coupon to the sales that ask for promotions (core_0026)
    Column("automatic", Boolean, nullable=False, server_default=false()),
    UniqueConstraint("programme_id", "code", name="uq_offers_code"),
    CheckConstraint("uses >= 0 AND (max_uses IS NULL OR uses <= max_uses)", name="uses"),
    CheckConstraint(
        "discounted_minor >= 0 AND (budget_minor IS NULL OR discounted_minor <= budget_minor)", name="budget"
    ),
    CheckConstraint("activation_days >= 0", name="activation"),
)

coupons = Table(
    "coupons",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("offer_id", Id, ForeignKey("offers.id"), nullable=False),
    #: 16 symbols of a 32-letter alphabet (80 bits), stored without separators
    Column("code", String(32), nullable=False, unique=True),
    #: the member whose wallet holds it; None: a shared code anyone may use
    Column("member_id", Id, ForeignKey("members.id"), nullable=True),
    Column("max_uses", Integer, nullable=False),
    Column("uses", Integer, nullable=False),
    Column("issued_at", UTCDateTime(), nullable=False),
    Column("usable_from", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=True),
    Column("voided_at", UTCDateTime(), nullable=True),
    CheckConstraint("uses >= 0 AND uses <= max_uses", name="uses"),
)
Index("ix_coupons_member", coupons.c.member_id, coupons.c.offer_id)
# An offer's coupons (its listing, its uses and budget), core_0027.
Index("ix_coupons_offer", coupons.c.offer_id)

coupon_uses = Table(
    "coupon_uses",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    #: None: an automatic promotion's use (no coupon; core_0026)
    Column("coupon_id", Id, ForeignKey("coupons.id"), nullable=True),
    Column("offer_id", Id, ForeignKey("offers.id"), nullable=False),
    Column("member_id", Id, ForeignKey("members.id"), nullable=True),
    Column("purchase_id", Id, ForeignKey("purchases.id"), nullable=True),
    Column("discount_minor", BigInteger, nullable=False),
    Column("used_at", UTCDateTime(), nullable=False),
    #: a fully returned sale gives its coupon back
    Column("released_at", UTCDateTime(), nullable=True),
    CheckConstraint("discount_minor >= 0", name="discount"),
)
Index("ix_coupon_uses_offer_member", coupon_uses.c.offer_id, coupon_uses.c.member_id)
Index("ix_coupon_uses_purchase", coupon_uses.c.purchase_id)

OFFER_TABLES = (offers, coupons, coupon_uses)
