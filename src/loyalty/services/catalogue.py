"""The catalogue: stores (with their merchant's accounts), the programme they run and the tier ladder,
as every posting reads them, kept per process and invalidated explicitly.

A sale needs its store's programme rules, the accounts it credits and debits, and the member's tier;
these change a few times a year, so they are read once and kept (`catalogue_of(ctx)`), not re-read
per sale. Every service that changes a store, a merchant, the programme, a tier or a rule clears
this process's catalogue in the same call (`Context.invalidate`: merchants, seed, programme
settings, the rule book); the next posting reads them afresh. A change made by another process (a
second server worker, a CLI run) reaches a server's catalogue within a second: the database counts
the changes (`db.catalogue_revision`) and `services.catalogue_watch` swaps in a catalogue read
afresh when the count moves.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, select

from loyalty.bootstrap import Context
from loyalty.db.core_tables import accounts, merchants, programmes, stores, tiers
from loyalty.domain.errors import NotFound
from loyalty.domain.tiers import TierDef

if TYPE_CHECKING:
    from loyalty.services.earning_rules.book import RuleBook


@dataclass(frozen=True)
class Programme:
    """The rules of a programme: earning, redemption, the return window, expiry and the tier window."""

    id: int
    points_per_unit: int
    excluded_categories: frozenset[str]
    points_per_currency_unit: int
    redeem_cap_pct: int
    min_redeem_balance: int
    return_window_days: int
    expiry_days: int
    tier_window_days: int
    downgrade_policy: str
    downgrade_grace_days: int
    currency: str


@dataclass(frozen=True)
class StoreInfo:
    """A store, the programme it runs and the ledger accounts of its merchant."""

    id: int
    merchant_id: int
    programme: Programme
    liability_account_id: int
    redeemed_account_id: int
    expired_account_id: int
    timezone: str = "UTC"  # the store's zone: its business days, member days and birthdays
    code: str = ""  # what offers' and rules' conditions name it by


@dataclass(frozen=True)
class Tier:
    """A rung of the tier ladder: what it takes (spend in the window) and what it gives (multiplier)."""

    id: int
    code: str
    rank: int
    threshold_minor: int
    multiplier_pct: int


@dataclass(frozen=True)
class TierLadder:
    """The tiers by id and in rank order (`defs`, as `domain.tiers` takes them)."""

    by_id: dict[int, Tier]
    ranked: tuple[Tier, ...]
    defs: tuple[TierDef, ...]

    @classmethod
    def of(cls, rows: Iterable[Row[Any]]) -> TierLadder:
        ranked = tuple(
            Tier(r.id, r.code, r.rank, r.threshold_minor, r.multiplier_pct)
            for r in sorted(rows, key=lambda r: r.rank)
        )
        return cls(
            {t.id: t for t in ranked},
            ranked,
            tuple(TierDef(t.id, t.code, t.rank, t.threshold_minor) for t in ranked),
        )

    @cached_property
    def index_of(self) -> dict[int, int]:
        """Each tier's place in `ranked`, by tier id."""
        return {t.id: i for i, t in enumerate(self.ranked)}

    @cached_property
    def codes(self) -> list[str]:
        """The tiers' codes, lowest first."""
        return [t.code for t in self.ranked]

    def is_top(self, tier_id: int) -> bool:
        """Whether a member at `tier_id` has nowhere higher to go."""
        return self.by_id[tier_id].rank >= self.ranked[-1].rank


def programme_from_row(row: Row[Any]) -> Programme:
    return Programme(
        id=row.id,
        points_per_unit=row.points_per_unit,
        excluded_categories=frozenset(row.excluded_categories or ()),
        points_per_currency_unit=row.points_per_currency_unit,
        redeem_cap_pct=row.redeem_cap_pct,
        min_redeem_balance=row.min_redeem_balance,
        return_window_days=row.return_window_days,
        expiry_days=row.expiry_days,
        tier_window_days=row.tier_window_days,
        downgrade_policy=row.downgrade_policy,
        downgrade_grace_days=row.downgrade_grace_days,
        currency=row.currency,
    )


def default_programme(conn: Connection) -> Programme:
    """The programme (the first one): what a merchant without one of its own runs."""
    row = conn.execute(select(programmes).order_by(programmes.c.id).limit(1)).first()
    if row is None:
        raise NotFound("PROGRAMME_NOT_FOUND", "no programme configured; run `loyalty programme init`")
    return programme_from_row(row)


def store_info(conn: Connection, store_id: int) -> StoreInfo:
    """Read a store, its programme and its merchant's accounts now (STORE_NOT_FOUND when none)."""
    row = conn.execute(
        select(stores.c.id, stores.c.code, stores.c.merchant_id, stores.c.timezone, merchants.c.programme_id)
        .join(merchants, merchants.c.id == stores.c.merchant_id)
        .where(stores.c.id == store_id)
    ).first()
    if row is None:
        raise NotFound("STORE_NOT_FOUND", "store {store_id} does not exist", {"store_id": store_id})
    if row.programme_id is None:
        prog = default_programme(conn)
    else:
        prow = conn.execute(select(programmes).where(programmes.c.id == row.programme_id)).one()
        prog = programme_from_row(prow)
    accs = {
        r.kind: r.id
        for r in conn.execute(
            select(accounts.c.id, accounts.c.kind).where(accounts.c.merchant_id == row.merchant_id)
        )
    }
    return StoreInfo(
        id=row.id,
        merchant_id=row.merchant_id,
        programme=prog,
        liability_account_id=accs["liability"],
        redeemed_account_id=accs["redeemed"],
        expired_account_id=accs["expired"],
        timezone=row.timezone,
        code=row.code,
    )


@dataclass(frozen=True)
class CreditSource:
    """Where points credited outside a sale come from: a programme and its merchant's liability."""

    programme: Programme
    liability_account_id: int
    merchant_id: int
    timezone: str


def credit_source(conn: Connection, store_id: int | None, default_zone: str) -> CreditSource:
    """The store's programme, merchant and zone; without a store, the first programme and the first
    merchant's liability, in `default_zone` (a head-office adjustment, a registration with no store)."""
    if store_id is not None:
        store = store_info(conn, store_id)
        return CreditSource(store.programme, store.liability_account_id, store.merchant_id, store.timezone)
    row = conn.execute(
        select(accounts.c.id, accounts.c.merchant_id)
        .where(accounts.c.kind == "liability")
        .order_by(accounts.c.id)
        .limit(1)
    ).one()
    return CreditSource(default_programme(conn), int(row.id), int(row.merchant_id), default_zone)


def tier_ladder(conn: Connection) -> TierLadder:
    """Read the tier ladder now."""
    return TierLadder.of(conn.execute(select(tiers)).all())


class Catalogue:
    """Stores and the tier ladder as read once by this process, until `invalidate`d.

    Reads go through the caller's connection (inside its transaction); an unknown store is not
    kept, so posting to it gets STORE_NOT_FOUND each time.
    """

    def __init__(self) -> None:
        self._stores: dict[int, StoreInfo] = {}
        self._tiers: TierLadder | None = None
        self._rules: RuleBook | None = None

    def store(self, conn: Connection, store_id: int) -> StoreInfo:
        """The store (STORE_NOT_FOUND when there is none)."""
        found = self._stores.get(store_id)
        if found is None:
            found = self._stores[store_id] = store_info(conn, store_id)
        return found

    def stores(self, conn: Connection, store_ids: Iterable[int]) -> dict[int, StoreInfo]:
        """The stores among `store_ids` that exist (unknown ones are left out)."""
        out = {}
        for store_id in store_ids:
            try:
                out[store_id] = self.store(conn, store_id)
            except NotFound:
                continue
        return out

    def known(self, store_id: int) -> StoreInfo | None:
        """The store if it is read already (no statement)."""
        return self._stores.get(store_id)

    def tiers(self, conn: Connection) -> TierLadder:
        """The tier ladder."""
        if self._tiers is None:
            self._tiers = tier_ladder(conn)
        return self._tiers

    def rule_book(self, conn: Connection) -> RuleBook:
        """The programmes' earning rules, every version (`services.earning_rules.book`)."""
        if self._rules is None:
            from loyalty.services.earning_rules.book import read_book

            self._rules = read_book(conn)
        return self._rules

    def refreshed(self, conn: Connection) -> Catalogue:
        """A new catalogue holding, read afresh, the tier ladder, the rule book and the stores this
        one holds, those it read meanwhile included (`read_afresh`): never colder than this one, so
        that a posting that read it before a pipeline finds what it needs without a statement of its
        own."""
        fresh = Catalogue()
        fresh.tiers(conn)
        fresh.rule_book(conn)
        fresh.stores(conn, list(self._stores))
        fresh.stores(conn, [store_id for store_id in list(self._stores) if store_id not in fresh._stores])
        return fresh

    def invalidate(self) -> None:
        """Forget everything read: a store, the programme, a tier or a rule changed."""
        self._stores = {}
        self._tiers = None
        self._rules = None


#: where `ctx.cache` keeps the process's catalogue
_CACHE_KEY = "catalogue"


def catalogue_of(ctx: Context) -> Catalogue:
    """This process's catalogue, kept in `ctx` (`Context.invalidate` starts a new one)."""
    found = ctx.cache.get(_CACHE_KEY)
    if found is None:
        found = ctx.cache.setdefault(_CACHE_KEY, Catalogue())
    return found  # type: ignore[no-any-return]


def read_afresh(ctx: Context, conn: Connection) -> None:
    """Replace this process's catalogue with one holding, read afresh on `conn`, what it held (another
    process changed it: `services.catalogue_watch`). The new one is swapped in whole, so a posting
    never finds a cold catalogue between two of its look-ups (a PostgreSQL batch reads it before its
    pipeline), and no sale pays for the reading."""
    held = ctx.cache.get(_CACHE_KEY)
    fresh = held.refreshed(conn) if isinstance(held, Catalogue) else None
    for key in [key for key in ctx.cache if key != _CACHE_KEY]:  # the rest, as `Context.invalidate`
        ctx.cache.pop(key, None)
    if fresh is None:
        ctx.cache.pop(_CACHE_KEY, None)
    else:
        ctx.cache[_CACHE_KEY] = fresh  # in one step: no moment without a catalogue for a posting to fill


def store_of(ctx: Context, store_id: int) -> StoreInfo:
    """The store from the catalogue, read on a connection of its own when not yet known."""
    catalogue = catalogue_of(ctx)
    found = catalogue.known(store_id)
    if found is not None:
        return found
    with ctx.engine.connect().execution_options(sqlite_begin="DEFERRED") as conn:
        return catalogue.store(conn, store_id)
