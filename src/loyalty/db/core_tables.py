"""Core tables: merchants, stores, programme, tiers, members, purchases, returns and the points ledger.

The ledger is double-entry: a `transfers` row moves a positive amount from a debit account to a credit
account and writes exactly two `postings` (−amount, +amount), so the sum over all postings is zero by
construction. Member accounts cache `balance` (sum of their postings) and `debt` so a spend can be
checked under one row lock; `point_lots` hold earned points with their expiry (and, once expired, the
run that took them), and `lot_allocations` record which lot paid for which spend or reversal. CHECK
constraints are the last line of defence behind the service-level checks.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from loyalty.db.base import metadata
from loyalty.domain.channels import CHANNELS


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on both backends.

    SQLite has no timezone type and SQLAlchemy would hand back naive values there; normalising to UTC on
    the way in and tagging UTC on the way out keeps comparisons and arithmetic identical on both.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        """On SQLite, straight to the stored text: a POS sale binds about ten times, and the generic
        chain (this type's processing, then SQLite's DATETIME formatting) cost 7% of a sale.

        The text is what SQLAlchemy's SQLite DATETIME stores ('YYYY-MM-DD HH:MM:SS.ffffff'): both
        paths write the same values (tests/core/test_prepared.py compares them).
        """
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        def process(value: datetime | None) -> str | None:
            return None if value is None else utc_text(value)

        return process


@lru_cache(maxsize=256)
def utc_text(value: datetime) -> str:
    """The stored text of an aware datetime, in UTC (SQLite stores it as it is; PostgreSQL parses it
    with '+00' appended, `db.stored_time.stored_text`).

    Cached: a sale binds the same few instants again and again (its time, now, its lot's dates), and a
    look-up costs a fraction of the formatting. Equal instants in other zones share one entry, which
    is right, since they store the same text.
    """
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:-6]  # without its '+00:00'


#: the purchases' CHECK constraints that core_0011 added (a new channel needs a migration of its own)
CHANNEL_CHECK = "channel IN (" + ", ".join(f"'{c}'" for c in CHANNELS) + ")"
ANONYMOUS_CHECK = (
    "member_id IS NOT NULL OR "
    "(points_earned = 0 AND points_reversed = 0 AND redeemed_points = 0 AND claimed_at IS NULL)"
)

# BIGINT primary keys autoincrement on PostgreSQL; on SQLite only INTEGER is the rowid alias.
Id = BigInteger().with_variant(Integer(), "sqlite")


def _id() -> Column[int]:
    return Column("id", Id, primary_key=True, autoincrement=True)


def _ts(name: str, nullable: bool = False) -> Column[object]:
    return Column(name, UTCDateTime(), nullable=nullable)


programmes = Table(
    "programmes",
    metadata,
    _id(),
    Column("code", String(40), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("currency", String(3), nullable=False),
    # Earning: points per whole currency unit of eligible spend, before the tier multiplier.
    Column("points_per_unit", Integer, nullable=False),
    Column("excluded_categories", JSON, nullable=False),
    # Redemption: how many points buy one currency unit, the share of an order they may pay, and the
    # balance a member must keep to redeem at all.
    Column("points_per_currency_unit", Integer, nullable=False),
    Column("redeem_cap_pct", Integer, nullable=False),
    Column("min_redeem_balance", Integer, nullable=False),
    Column("return_window_days", Integer, nullable=False),
    Column("expiry_days", Integer, nullable=False),
    Column("tier_window_days", Integer, nullable=False),
    Column("downgrade_policy", String(20), nullable=False),
    Column("downgrade_grace_days", Integer, nullable=False),
    _ts("created_at"),
    CheckConstraint("points_per_unit >= 0", name="points_per_unit"),
    CheckConstraint("points_per_currency_unit > 0", name="points_per_currency_unit"),
    CheckConstraint("redeem_cap_pct BETWEEN 0 AND 100", name="redeem_cap_pct"),
    CheckConstraint("downgrade_policy IN ('one_step', 'window')", name="downgrade_policy"),
)

merchants = Table(
    "merchants",
    metadata,
    _id(),
    Column("code", String(40), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("programme_id", Id, ForeignKey("programmes.id"), nullable=True),
    _ts("created_at"),
)

stores = Table(
    "stores",
    metadata,
    _id(),
    Column("merchant_id", Id, ForeignKey("merchants.id"), nullable=False),
    Column("code", String(40), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("city", String(100), nullable=True),
    Column("timezone", String(64), nullable=False),
    _ts("created_at"),
    # The region a chain groups its stores by for KPIs and targets (华东, "North"), core_0024.
    Column("region", String(64), nullable=True),
)

tiers = Table(
    "tiers",
    metadata,
    _id(),
    Column("code", String(40), nullable=False, unique=True),
    Column("name", String(100), nullable=False),
    Column("rank", Integer, nullable=False, unique=True),
    Column("threshold_minor", BigInteger, nullable=False),
    # Earning multiplier in percent (100 = ×1.0) so no float ever enters the ledger.
    Column("multiplier_pct", Integer, nullable=False),
    Column("programme_id", Id, ForeignKey("programmes.id"), nullable=True),
    # The benefits the tier gives that are not points (VIP lane, free parking): service codes of
    # `domain.tier_services.SERVICES`, in the marketer's order (core_0027).
    Column("services", JSON, nullable=False, server_default=text("'[]'")),
    CheckConstraint("threshold_minor >= 0", name="threshold"),
    CheckConstraint("multiplier_pct >= 0", name="multiplier"),
)

members = Table(
    "members",
    metadata,
    _id(),
    # E.164 (at most 16 characters), or for a member imported without one a placeholder that can never
    # be a number: "nophone:" and the card number (up to 20), see imports.loaders.NO_PHONE_PREFIX.
    Column("phone", String(32), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("email", String(254), nullable=True),
    Column("birthday", Date, nullable=True),
    Column("gender", String(10), nullable=True),
    Column("registration_store_id", Id, ForeignKey("stores.id"), nullable=True),
    Column("tags", JSON, nullable=False),
    Column("marketing_consent", Boolean, nullable=False),
    Column("card_no", String(20), nullable=False, unique=True),
    Column("member_code", String(40), nullable=False, unique=True),
    Column("status", String(10), nullable=False),
    Column("merged_into_id", Id, ForeignKey("members.id"), nullable=True),
    Column("tier_id", Id, ForeignKey("tiers.id"), nullable=False),
    Column("tier_locked_until", UTCDateTime(), nullable=True),
    Column("tier_lock_reason", Text, nullable=True),
    Column("tier_grace_until", UTCDateTime(), nullable=True),
    _ts("created_at"),
    _ts("updated_at"),
    # When the member's personal data was erased (`services.privacy`): the row stays, anonymised, for
    # the ledger and purchases that name it (core_0016).
    _ts("erased_at", nullable=True),
    # Who signed the member up: a staff code as the registration named it, or the username of the staff
    # account that registered them (`domain.staff`); NULL: nobody named (core_0028).
    Column("registered_by", String(100), nullable=True),
    CheckConstraint("status IN ('active', 'inactive', 'merged')", name="status"),
)

accounts = Table(
    "accounts",
    metadata,
    _id(),
    # 'member' accounts hold a member's points; the merchant's 'liability' issues them, 'redeemed' and
    # 'expired' receive them back when used up.
    Column("kind", String(20), nullable=False),
    Column("member_id", Id, ForeignKey("members.id"), nullable=True, unique=True),
    Column("merchant_id", Id, ForeignKey("merchants.id"), nullable=True),
    Column("balance", BigInteger, nullable=False),
    Column("debt", BigInteger, nullable=False),
    _ts("created_at"),
    CheckConstraint("kind IN ('member', 'liability', 'redeemed', 'expired')", name="kind"),
    CheckConstraint("debt >= 0", name="debt"),
    # A member account never holds less than minus its debt: unspent lots are never negative.
    CheckConstraint("kind <> 'member' OR balance + debt >= 0", name="member_floor"),
    UniqueConstraint("merchant_id", "kind", name="uq_accounts_merchant_kind"),
)

purchases = Table(
    "purchases",
    metadata,
    _id(),
    Column("store_id", Id, ForeignKey("stores.id"), nullable=False),
    # NULL: an anonymous sale (no card shown). It earns nothing and moves no ledger account, but counts
    # in the chain's sales; a member may claim it later with the receipt (`services.purchase_claims`).
    Column("member_id", Id, ForeignKey("members.id"), nullable=True),
    Column("order_id", String(100), nullable=False),
    _ts("occurred_at"),
    Column("total_minor", BigInteger, nullable=False),
    Column("eligible_minor", BigInteger, nullable=False),
    Column("refunded_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("points_earned", BigInteger, nullable=False),
    Column("points_reversed", BigInteger, nullable=False),
    Column("redeemed_points", BigInteger, nullable=False),
    Column("rule", String(200), nullable=False),
    # Hash of the POS request body, to tell a replay from a reused order id; NULL for orders a bulk
    # import posted (no body: a replay of one is compared by content, see purchases._same_as_imported).
    Column("request_hash", String(64), nullable=True),
    _ts("created_at"),
    # Where the sale was made (`domain.channels`): store, online, mini_program or delivery (core_0011).
    Column("channel", String(20), nullable=False, server_default="store"),
    # When a member claimed this sale, made anonymously, with its receipt (NULL: never anonymous, or not
    # claimed yet).
    _ts("claimed_at", nullable=True),
    # The member's tier as the sale (or its claim) left it, and the tier it upgraded them to, if any: a
    # re-read answers what the posting answered, whatever the tier is now (core_0013). Codes, not keys:
    # a snapshot of the answer, and no foreign-key check per sale.
    Column("tier_code", String(40), nullable=True),
    Column("upgraded_to", String(40), nullable=True),
    # Who rang the sale: the cashier's code the till (or import file) sent, or the username of the staff
    # account that posted it (`domain.staff`); NULL: nobody named (core_0028). The KPIs by staff.
    Column("staff", String(100), nullable=True),
    UniqueConstraint("store_id", "order_id", name="uq_purchases_store_order"),
    CheckConstraint("total_minor >= 0", name="total"),
    CheckConstraint("refunded_minor >= 0 AND refunded_minor <= total_minor", name="refunded"),
    CheckConstraint("points_reversed >= 0 AND points_reversed <= points_earned", name="reversed"),
    CheckConstraint(CHANNEL_CHECK, name="channel"),
    # An anonymous sale earns nothing, and only a sale with a member can have been claimed.
    CheckConstraint(ANONYMOUS_CHECK, name="anonymous"),
)
# A member's purchases in time order, carrying what the tier window sums (total and refunds), so the
# window spend every sale checks is read from the index alone (core_0008). Anonymous sales are left
# out (core_0011): nothing reads them by member, and each would cost the index an entry.
Index(
    "ix_purchases_member_occurred",
    purchases.c.member_id,
    purchases.c.occurred_at,
    purchases.c.total_minor,
    purchases.c.refunded_minor,
    sqlite_where=purchases.c.member_id.is_not(None),
    postgresql_where=purchases.c.member_id.is_not(None),
)
# A store's sales in time order, carrying what the KPIs add up (member or not, total, points, who
# rang it), so a store's (or the chain's, store by store) days and the KPIs by staff are read from
# the index alone (core_0017, core_0030, `services.kpis`). Keyed by store then time, a sale lands at
# the end of its store's part.
Index(
    "ix_purchases_store_occurred",
    purchases.c.store_id,
    purchases.c.occurred_at,
    purchases.c.member_id,
    purchases.c.total_minor,
    purchases.c.points_earned,
    purchases.c.staff,
)

purchase_lines = Table(
    "purchase_lines",
    metadata,
    Column("purchase_id", Id, ForeignKey("purchases.id"), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("sku", String(100), nullable=False),
    Column("category", String(100), nullable=True),
    Column("quantity", Integer, nullable=False),
    Column("unit_price_minor", BigInteger, nullable=False),
    Column("discount_minor", BigInteger, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("points", BigInteger, nullable=False),
    Column("returned_quantity", Integer, nullable=False),
    Column("brand", String(100), nullable=True),  # core_0032: what a rule's `when.brands` selects
    CheckConstraint("quantity > 0", name="quantity"),
    CheckConstraint("returned_quantity >= 0 AND returned_quantity <= quantity", name="returned"),
    # SQLite: the rows live in their primary-key B-tree (core_0007), not in a rowid table beside a
    # second B-tree for the key; a line is always read by its purchase.
    sqlite_with_rowid=False,
)

returns = Table(
    "returns",
    metadata,
    _id(),
    Column("purchase_id", Id, ForeignKey("purchases.id"), nullable=False),
    Column("store_id", Id, ForeignKey("stores.id"), nullable=False),
    Column("return_id", String(100), nullable=False),
    _ts("occurred_at"),
    Column("refund_minor", BigInteger, nullable=False),
    Column("points_reversed", BigInteger, nullable=False),
    Column("debt_created", BigInteger, nullable=False),
    Column("lines", JSON, nullable=True),
    Column("request_hash", String(64), nullable=False),
    _ts("created_at"),
    UniqueConstraint("store_id", "return_id", name="uq_returns_store_return"),
    CheckConstraint("refund_minor >= 0", name="refund"),
)
# A receipt's returns, which a member's purchase history shows beside it (core_0012).
Index("ix_returns_purchase", returns.c.purchase_id)

transfers = Table(
    "transfers",
    metadata,
    _id(),
    # earn | return | redeem | expire | adjust | merge
    Column("kind", String(20), nullable=False),
    # NULL only for an expiry run: one transfer whose debit legs are many member accounts (postings).
    Column("debit_account_id", Id, ForeignKey("accounts.id"), nullable=True),
    Column("credit_account_id", Id, ForeignKey("accounts.id"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("member_id", Id, ForeignKey("members.id"), nullable=True),
    Column("purchase_id", Id, ForeignKey("purchases.id"), nullable=True),
    Column("return_id", Id, ForeignKey("returns.id"), nullable=True),
    Column("lot_id", BigInteger, nullable=True),
    Column("reverses_transfer_id", Id, ForeignKey("transfers.id"), nullable=True),
    # Which rule produced the entry, so any balance can be explained line by line.
    Column("rule", String(200), nullable=False),
    Column("reason", Text, nullable=True),
    Column("operator", String(100), nullable=True),
    Column("store_id", Id, ForeignKey("stores.id"), nullable=True),
    Column("order_id", String(100), nullable=True),
    Column("value_minor", BigInteger, nullable=True),
    _ts("created_at"),
    CheckConstraint("amount > 0", name="amount"),
    CheckConstraint("debit_account_id <> credit_account_id", name="distinct_accounts"),
    CheckConstraint("debit_account_id IS NOT NULL OR kind = 'expire'", name="single_debit"),
)
# An expiry is posted at most once per lot; an earning at most once per purchase.
Index(
    "uq_transfers_expire_lot",
    transfers.c.lot_id,
    unique=True,
    sqlite_where=transfers.c.kind == "expire",
    postgresql_where=transfers.c.kind == "expire",
)

postings = Table(
    "postings",
    metadata,
    _id(),
    Column("transfer_id", Id, ForeignKey("transfers.id"), nullable=False),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    _ts("created_at"),
    CheckConstraint("amount <> 0", name="nonzero"),
)
Index("ix_postings_account", postings.c.account_id)
Index("ix_postings_transfer", postings.c.transfer_id)

point_lots = Table(
    "point_lots",
    metadata,
    _id(),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False),
    Column("member_id", Id, ForeignKey("members.id"), nullable=False),
    Column("merchant_id", Id, ForeignKey("merchants.id"), nullable=False),
    Column("transfer_id", Id, ForeignKey("transfers.id"), nullable=False),
    Column("purchase_id", Id, ForeignKey("purchases.id"), nullable=True),
    Column("amount", BigInteger, nullable=False),
    # Part of `amount` that went straight to paying an existing debt, never spendable.
    Column("debt_paid", BigInteger, nullable=False),
    Column("remaining", BigInteger, nullable=False),
    _ts("available_at"),
    _ts("expires_at"),
    _ts("created_at"),
    # The expiry run that emptied this lot and how many points it took (core_0006): a lot expires at
    # most once, and each member leg of a run is explained by the lots that name it.
    Column("expired_transfer_id", Id, ForeignKey("transfers.id"), nullable=True),
    Column("expired_points", BigInteger, nullable=True),
    CheckConstraint("remaining >= 0", name="remaining_nonneg"),
    CheckConstraint("remaining + debt_paid <= amount", name="remaining_le_amount"),
    CheckConstraint(
        # Spelled out with IS NOT NULL: a CHECK whose expression is NULL passes.
        "(expired_transfer_id IS NULL AND expired_points IS NULL) OR "
        "(expired_transfer_id IS NOT NULL AND expired_points IS NOT NULL AND expired_points > 0)",
        name="expiry",
    ),
)
Index("ix_point_lots_account_expiry", point_lots.c.account_id, point_lots.c.expires_at)
Index("ix_point_lots_purchase", point_lots.c.purchase_id)  # a return reverses its order's lots
# No index names `remaining`: a spend or an expiry rewrites a lot's row, which on PostgreSQL stays on
# its page (a HOT update, with fillfactor 50) only while no indexed column changes (core_0009).

lot_allocations = Table(
    "lot_allocations",
    metadata,
    _id(),
    Column("lot_id", Id, ForeignKey("point_lots.id"), nullable=False),
    Column("transfer_id", Id, ForeignKey("transfers.id"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    CheckConstraint("amount > 0", name="amount"),
)
Index("ix_lot_allocations_lot", lot_allocations.c.lot_id)
Index("ix_lot_allocations_transfer", lot_allocations.c.transfer_id)

tier_history = Table(
    "tier_history",
    metadata,
    _id(),
    Column("member_id", Id, ForeignKey("members.id"), nullable=False),
    Column("from_tier_id", Id, ForeignKey("tiers.id"), nullable=True),
    Column("to_tier_id", Id, ForeignKey("tiers.id"), nullable=False),
    Column("reason", String(40), nullable=False),
    Column("note", Text, nullable=True),
    Column("qualifying_minor", BigInteger, nullable=True),
    _ts("at"),
)
Index("ix_tier_history_member", tier_history.c.member_id, tier_history.c.at)

audit_log = Table(
    "audit_log",
    metadata,
    _id(),
    _ts("at"),
    Column("actor_kind", String(20), nullable=False),
    Column("actor_id", String(100), nullable=False),
    Column("action", String(60), nullable=False),
    Column("entity", String(60), nullable=False),
    Column("entity_id", String(100), nullable=False),
    Column("before", JSON, nullable=True),
    Column("after", JSON, nullable=True),
)
Index("ix_audit_log_entity", audit_log.c.entity, audit_log.c.entity_id)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("scope", String(100), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("response", JSON, nullable=False),
    Column("status_code", Integer, nullable=False),
    _ts("created_at"),
)

CORE_TABLES = (
    programmes,
    merchants,
    stores,
    tiers,
    members,
    accounts,
    purchases,
    purchase_lines,
    returns,
    transfers,
    postings,
    point_lots,
    lot_allocations,
    tier_history,
    audit_log,
    idempotency_keys,
)
