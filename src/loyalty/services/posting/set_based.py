"""Set-based posting of a batch of orders: the live rules run on whole columns at once.

`post_purchase_batch` (an import's batch) and `post_set_based` (also the POS batches of
`pos_batch`) post many orders with a handful of vectorised steps and multi-row writes, instead of a
dozen statements per order:

1. Line amounts, points and eligible spend come from `domain.earning` (`line_amount`, `line_points`,
   `line_eligible`, `lot_times`, `debt_paid`), as in the few-orders form that posts a sale alone.
2. Tier upgrades happen at once, as live: each member's qualifying spend in the rolling window is
   computed at every order in posting order (`window_spend`), mapped to tiers by
   `domain.tiers.tier_index_for_spend`, and `upgrade_path` gives the tier each order earns with (a
   member's later orders in the batch earn with the new multiplier) and where `tier_history` rows go.
3. New points pay debt first (`debt_paid`, cumulated per member in posting order).
4. Rows are written with ids handed out up front (so the earning transfer, its postings and the lot
   link without a round trip) by one writer (`sale_rows.SaleWriter`, through `db.rows` and
   `db.ledger_writer`), inside the caller's transaction, so a batch and its import checkpoint commit
   together.

These steps have two forms: over NumPy columns (here: an import's batches, and a POS batch where a
member has two orders) and over Python's values (`few_orders`: a sale alone, a batch of one, and a
batch on its own of a few orders, no member's two, which the array machinery would cost more than
the work).

Anonymous orders (member id `ANONYMOUS`) are written with their lines only, as live: every step that
depends on a member runs over the members' orders (`OrderMembers.by_member`), so they earn nothing,
lock no account and count in nobody's window. Each order's channel is written where any is not
`store` (the column's default).

Fallback: the batch's orders are posted one by one, each alone (`one_sale.post_sale`: its checks,
then a batch of one), when it holds anything this routine does not model set-based: an invalid
line, an unknown store or member, an inactive or merged member, a member whose orders are not in
time order within the batch, or an order that already exists (replay or idempotency mismatch:
detected by the unique constraint inside a savepoint). Each then raises or replays exactly as it
would for a POS.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from loyalty.bootstrap import Context
from loyalty.db import unnest
from loyalty.db.ledger_writer import TransferColumns
from loyalty.db.prepared import savepoint as prepared_savepoint
from loyalty.db.rows import is_postgres
from loyalty.db.stored_time import stored_text, stored_texts
from loyalty.domain.actors import Actor
from loyalty.domain.earning import (
    ANONYMOUS_RULE,
    US_PER_DAY,
    debt_paid,
    line_eligible,
    line_points,
    lot_times,
    rule_label,
)
from loyalty.domain.errors import NotFound
from loyalty.domain.programme.engine import Earned
from loyalty.domain.tiers import tier_index_for_spend, upgrade_path
from loyalty.services.catalogue import Programme, StoreInfo, TierLadder, catalogue_of
from loyalty.services.earning_rules.frames import (
    rule_entries,
    stored_date,
)
from loyalty.services.posting import few_orders
from loyalty.services.posting.batch_rules import earned_by_rules
from loyalty.services.posting.few_orders import FewOrders
from loyalty.services.posting.import_session import BulkSession
from loyalty.services.posting.member_state import MemberState, read_members
from loyalty.services.posting.one_sale import post_sale
from loyalty.services.posting.order_batch import (
    ANONYMOUS,
    FEW_LINES,
    BoolArray,
    IntArray,
    OrderBatch,
    arrow,
    texts,
)
from loyalty.services.posting.read_ahead import FEW_ORDERS, ReadAhead, new_ids
from loyalty.services.posting.sale_rows import Posted, SaleWriter, line_columns, purchase_columns
from loyalty.services.posting.window_spend import send_held_spend, spend_at_orders


def post_purchase_batch(
    conn: Connection, ctx: Context, batch: OrderBatch, session: BulkSession | None = None
) -> int:
    """Post `batch` inside the caller's transaction; return how many orders were newly posted.

    Same effect as posting the orders one by one with the live routine (see the module docstring for
    when it does exactly that instead). Successive batches of one run pass the same `session`.
    """
    if len(batch) == 0:
        return 0
    posted = post_set_based(conn, ctx, batch, session or BulkSession())
    if posted is not None:
        return len(posted.purchase_ids)
    # One by one, by the live routine, which the caller audits with the batch.
    catalogue = catalogue_of(ctx)
    return sum(not post_sale(conn, ctx, catalogue, item).replayed for item in batch.items())


@dataclass(frozen=True)
class OrderMembers:
    """Who a batch's orders belong to."""

    members: IntArray  # the batch's members, sorted and unique
    of_order: IntArray  # each order's member, as an index into `members` (never read for an anonymous one)
    by_member: IntArray  # the members' orders grouped by member, each member's in posting order
    anonymous: BoolArray | None  # which orders are anonymous; None when none is
    states: list[MemberState]  # each member's, as `members`

    @property
    def of_member_order(self) -> IntArray:
        """The member of each order of `by_member`, as an index into `members`."""
        indexes: IntArray = self.of_order[self.by_member]
        return indexes

    def per_member(self, values: IntArray) -> IntArray:
        """Sum of `values` (one per order of `by_member`) per member."""
        summed: IntArray = np.bincount(
            self.of_member_order, weights=values, minlength=len(self.members)
        ).astype(np.int64)
        return summed


def post_set_based(
    conn: Connection,
    ctx: Context,
    batch: OrderBatch,
    session: BulkSession | None = None,
    request_hashes: Sequence[str] | None = None,
    *,
    ahead: ReadAhead | None = None,
    savepoint: bool = True,
    actors: Sequence[Actor] | None = None,
    writes: unnest.Writes | None = None,
) -> Posted | None:
    """Post `batch` set-based inside the caller's transaction, or write nothing and return None.

    None means the batch holds something only the live routine handles (see the module docstring):
    an invalid line, an unknown store or member, an inactive member, a currency that is not the
    programme's, a member's orders out of time order, or an order already posted. `request_hashes`
    (one per order) are kept for POS replays. `actors` (one per order: POS sales) get an audit row per
    order, written with the batch's other rows; without them the caller audits the batch (an import
    records one row per batch).

    `ahead`: the batch's reads, sent before (`read_ahead`). Without a `savepoint` an order that
    already exists is not detected here: its `IntegrityError` is raised, here or when the caller's
    pipeline or transaction ends, and the caller rolls the whole transaction back.

    `writes` (PostgreSQL, up to `FEW_ORDERS` orders, no savepoint): the caller's one write statement,
    which the batch's rows join and the caller sends, with more of its own rows (a POS batch's coupon
    uses and Idempotency-Keys); without it they are sent here.
    """
    if ahead is not None and ahead.batch is not batch:
        raise ValueError("the reads sent ahead are another batch's")
    if writes is not None and (savepoint or len(batch) > FEW_ORDERS or not is_postgres(conn)):
        raise ValueError("a caller's write statement takes a few orders on PostgreSQL, without a savepoint")
    posting: FewOrders | _SetBasedPosting | None
    if session is None and few_orders.takes(batch):  # a till's: its steps on Python's values
        session = BulkSession()
        posting = FewOrders.of(conn, ctx, batch, ahead)
    else:
        if session is None:
            # A batch on its own (the POS's): nothing to carry to a next batch, so nothing to keep. In
            # particular no upper bound of every member's window spend, which an import run reads
            # once for all its batches but which would cost a POS batch a scan of the window's
            # purchases.
            session = BulkSession()
        else:
            session.validate(conn)
        posting = _in_columns(conn, ctx, batch, session, ahead)
    if posting is None:
        return None
    try:
        with prepared_savepoint(conn) if savepoint else nullcontext():
            return posting.post(request_hashes, actors, writes)
    except IntegrityError:
        session.reset()
        if not savepoint:
            raise
        return None  # an order already exists (rolled back to the savepoint): replay or mismatch, as live
    except BaseException:
        session.reset()
        raise


def _in_columns(
    conn: Connection, ctx: Context, batch: OrderBatch, session: BulkSession, ahead: ReadAhead | None
) -> _SetBasedPosting | None:
    """The posting of `batch` over its columns, or None where it holds what only the live routine
    handles (`post_set_based`)."""
    amounts = batch.line_amounts()
    if not batch.well_formed(amounts):  # an empty batch included
        return None
    catalogue = catalogue_of(ctx)
    stores: dict[int, StoreInfo] = {}
    try:
        for store_id in np.unique(batch.store_id).tolist():
            stores[store_id] = catalogue.store(conn, store_id)
    except NotFound:  # unknown store: the live routine raises the proper error
        return None
    if batch.currency is not None and any(s.programme.currency != batch.currency for s in stores.values()):
        return None  # not the programme's currency: the live routine refuses it (CURRENCY_MISMATCH)
    who = _order_members(conn, batch, session, ahead)
    if who is None:
        session.reset()
        return None
    # Per member, orders must come in time order (the import sorts them so); else post one by one.
    member, time = who.of_member_order, batch.occurred_us[who.by_member]
    if ((member[1:] == member[:-1]) & (time[1:] < time[:-1])).any():
        return None
    try:
        return _SetBasedPosting(conn, ctx, batch, amounts, stores, catalogue.tiers(conn), who, session, ahead)
    except BaseException:
        session.reset()
        raise


def _order_members(
    conn: Connection, batch: OrderBatch, session: BulkSession, ahead: ReadAhead | None
) -> OrderMembers | None:
    """Who the orders belong to, their members read (or known to the session); None when a member is
    unknown or not active."""
    anonymous = batch.anonymous()
    members = batch.members()
    known = session.members
    if ahead is not None:
        known.update(ahead.members())
    elif is_postgres(conn):  # the accounts are locked, so read every time
        known.update(read_members(conn, members))
    else:
        missing = [m for m in members.tolist() if m not in known]
        if missing:
            known.update(read_members(conn, np.array(missing, dtype=np.int64)))
    states = [known.get(m) for m in members.tolist()]
    if any(state is None or state.status != "active" for state in states):
        return None
    of_order = np.searchsorted(members, batch.member_id)
    if anonymous is None:
        by_member = np.lexsort((np.arange(len(batch)), of_order))
    else:
        theirs = np.nonzero(~anonymous)[0]
        by_member = theirs[np.lexsort((theirs, of_order[theirs]))]
    return OrderMembers(members, of_order, by_member, anonymous, [s for s in states if s is not None])


@dataclass(frozen=True)
class ProgrammePerOrder:
    """The programme's parameters of each order's store, per order (and the exclusions per line)."""

    stores: list[StoreInfo]  # by store id
    store_of_order: IntArray  # index into `stores`
    points_per_unit: IntArray
    window_us: IntArray
    return_window_days: IntArray
    expiry_days: IntArray
    liability_account: IntArray
    merchant: IntArray
    excluded: BoolArray  # per line: its category is excluded by its store's programme

    @classmethod
    def of(cls, batch: OrderBatch, stores: dict[int, StoreInfo]) -> ProgrammePerOrder:
        ordered = [stores[s] for s in sorted(stores)]
        store_of_order = np.searchsorted(np.array(sorted(stores), dtype=np.int64), batch.store_id)
        programmes = [s.programme for s in ordered]
        # Every parameter of every store in one table, taken for each order at once.
        table = np.array(
            [
                (
                    p.points_per_unit, p.tier_window_days * US_PER_DAY, p.return_window_days,
                    p.expiry_days, s.liability_account_id, s.merchant_id,
                )
                for s, p in zip(ordered, programmes, strict=True)
            ],
            dtype=np.int64,
        )[store_of_order]  # fmt: skip
        points_per_unit, window_us, return_window_days, expiry_days, liability, merchant = table.T
        return cls(
            ordered,
            store_of_order,
            points_per_unit,
            window_us,
            return_window_days,
            expiry_days,
            liability,
            merchant,
            _excluded_lines(batch, programmes, np.repeat(store_of_order, batch.lines_per_order)),
        )

    @property
    def programmes(self) -> list[Programme]:
        return [s.programme for s in self.stores]


def _excluded_lines(batch: OrderBatch, programmes: list[Programme], programme_of_line: IntArray) -> BoolArray:
    """Lines whose category their store's programme excludes from earning (a few lines, the till's,
    looked up in Python: Arrow's calls cost more than the whole look-up at that size)."""
    if len(batch.quantity) <= FEW_LINES:
        names = [p.excluded_categories for p in programmes]
        categories = texts(batch.category)
        return np.array(
            [c in names[i] for c, i in zip(categories, programme_of_line.tolist(), strict=True)], dtype=bool
        )
    excluded = np.zeros(len(batch.quantity), dtype=bool)
    for index, programme in enumerate(programmes):
        if programme.excluded_categories:
            categories = _value_set(programme.excluded_categories)
            hit = pc.fill_null(pc.is_in(arrow(batch.category), value_set=categories), False)
            excluded |= hit.to_numpy(zero_copy_only=False) & (programme_of_line == index)
    return excluded


@lru_cache(maxsize=64)
def _value_set(names: frozenset[str]) -> pa.Array:
    """`names` as the Arrow array `pc.is_in` looks them up in (a programme's, built once)."""
    return pa.array(sorted(names), pa.string())


@dataclass(frozen=True)
class TierPath:
    """The tier (an index into the ladder) each order earns with and leaves its member in."""

    before: IntArray  # per order (0 for an anonymous one: never read)
    after: IntArray
    after_by_member: IntArray  # `after` of the orders of `OrderMembers.by_member`
    spend: IntArray  # window spend at each order (0 where it was not needed)


class _SetBasedPosting:
    """One batch's posting: the steps of the module docstring, over the batch's columns."""

    def __init__(
        self,
        conn: Connection,
        ctx: Context,
        batch: OrderBatch,
        amounts: IntArray,
        stores: dict[int, StoreInfo],
        ladder: TierLadder,
        who: OrderMembers,
        session: BulkSession,
        ahead: ReadAhead | None,
    ) -> None:
        self.conn, self.batch, self.amounts, self.ladder = conn, batch, amounts, ladder
        self.who, self.session, self.ahead = who, session, ahead
        self.pg = is_postgres(conn)
        self.now: datetime = ctx.now()
        self.now_text = stored_text(self.now, self.pg)
        self.rules = ProgrammePerOrder.of(batch, stores)
        self.rule_book = catalogue_of(ctx).rule_book(conn)
        self.earned: Earned | None = None
        self.line_counts = batch.lines_per_order
        self.first_lines = batch.offsets[:-1]
        self.totals = np.add.reduceat(amounts, self.first_lines)
        self.start_tier = np.array([ladder.index_of[s.tier_id] for s in who.states], dtype=np.int64)
        self.account = np.array([s.account_id for s in who.states], dtype=np.int64)
        self.balance = np.array([s.balance for s in who.states], dtype=np.int64)
        self.debt = np.array([s.debt for s in who.states], dtype=np.int64)

    def post(
        self,
        request_hashes: Sequence[str] | None,
        actors: Sequence[Actor] | None,
        given: unnest.Writes | None,
    ) -> Posted:
        who, batch = self.who, self.batch
        tiers = self._tier_path()
        line_pts, points, eligible, rules = self._earnings(tiers.before)
        available, expires = lot_times(
            batch.occurred_us, self.rules.return_window_days, self.rules.expiry_days
        )
        points_by_member = points[who.by_member]
        paid_by_member = self._debt_paid(points_by_member)
        paid = np.zeros(len(batch), dtype=np.int64)
        paid[who.by_member] = paid_by_member
        earning = np.nonzero(points > 0)[0]
        wanted = {"purchases": len(batch), "transfers": len(earning), "postings": 2 * len(earning)}
        wanted["point_lots"] = len(earning)
        ids = new_ids(self.conn, self.ahead, wanted)
        purchase_ids, transfer_ids, posting_ids, lot_ids = (ids[table][:n] for table, n in wanted.items())
        # A few POS sales (the API's batches) on PostgreSQL: every write goes in one statement.
        writes = given
        if writes is None and self.pg and len(batch) <= FEW_ORDERS:
            writes = unnest.Writes()
        codes = [t.code for t in self.ladder.ranked]
        # Table by table, each table's lists let go once written (an import's batch is a million lines).
        writer = SaleWriter(self.conn, self.now_text, writes)
        purchases, constants = self._purchase_columns(
            purchase_ids, eligible, points, rules, tiers, codes, request_hashes
        )
        writer.purchases(list(purchases), zip(*purchases.values(), strict=True), constants)
        audited = purchases if actors is not None else None
        del purchases
        lines, entries = self._line_columns(purchase_ids, line_pts)
        writer.lines(list(lines), zip(*lines.values(), strict=True), entries)
        del lines
        if len(earning):
            writer.earnings(
                *self._earning_rows(
                    earning, purchase_ids, transfer_ids, posting_ids, lot_ids, points, paid, rules, available,
                    expires,
                ),
                self._account_rows(points_by_member, paid_by_member),
            )  # fmt: skip
        writer.upgrades(*self._upgrade_rows(tiers))
        if actors is not None and audited is not None:
            p = audited
            writer.audit(
                zip(
                    actors, p["id"], p["store_id"], p["order_id"], p["member_id"], p["total_minor"],
                    p["points_earned"], batch.channels(),
                    strict=True,
                ),
                self.now,
            )  # fmt: skip
        if writes is not None and given is None:
            writes.send(self.conn)
        if self.session.key is not None:
            self._remember(purchase_ids, points_by_member, paid_by_member, tiers)
        return Posted(
            purchase_ids, self.totals, points, rules, available, expires, tiers.before, tiers.after, codes
        )

    # -- tiers: the window spend at each order decides upgrades, in posting order --------------------

    def _tier_path(self) -> TierPath:
        who, batch, defs = self.who, self.batch, self.ladder.defs
        n, top = len(batch), len(defs) - 1
        member = who.of_member_order
        window_us = self.rules.window_us
        may_climb = self.start_tier < top
        upper = None
        if self.session.key is not None:  # an import's run: its members' spend bounded from above
            upper = self.session.bounds(self.conn, int(batch.occurred_us.min()) - int(window_us.max()))
        if upper is not None:
            thresholds = np.array([d.threshold_minor for d in defs] + [0], dtype=np.int64)
            spend_bound = np.array([upper.get(m, 0) for m in who.members.tolist()], dtype=np.int64)
            spend_bound += who.per_member(self.totals[who.by_member])
            may_climb &= spend_bound >= thresholds[np.minimum(self.start_tier + 1, top)]
        climbing = np.zeros(n, dtype=bool)
        climbing[who.by_member] = may_climb[member]
        spend = np.zeros(n, dtype=np.int64)
        if climbing.any():
            held = self._held_spend(who.members[may_climb])
            orders = np.nonzero(climbing)[0]
            spend[orders] = spend_at_orders(
                held, who.members, orders, who.of_order, batch.occurred_us, self.totals, window_us
            )
        # Members who cannot climb keep their tier (their spend is never read, so never used).
        start = self.start_tier[member]
        target = np.where(climbing[who.by_member], tier_index_for_spend(defs, spend)[who.by_member], start)
        before_by_member, after_by_member = upgrade_path(member, start, target)
        # An anonymous order has no tier: index 0 here, never read (it earns nothing, moves nobody).
        before = np.zeros(n, dtype=np.int64)
        after = np.zeros(n, dtype=np.int64)
        before[who.by_member] = before_by_member
        after[who.by_member] = after_by_member
        return TierPath(before, after, after_by_member, spend)

    def _held_spend(self, climbers: IntArray) -> tuple[IntArray, IntArray, IntArray]:
        """The spend the database holds of the members who may climb, in the batch's windows."""
        if self.ahead is not None:  # every member's spend was read: keep those who may climb
            held_member, held_time, held_amount = self.ahead.spend()
            keep = np.isin(held_member, climbers)
            return held_member[keep], held_time[keep], held_amount[keep]
        times, window_us = self.batch.occurred_us, self.rules.window_us
        first, last = int(times.min()), int(times.max())
        shortest, longest = int(window_us.min()), int(window_us.max())
        return send_held_spend(self.conn, climbers, first, last, shortest, longest, self.session)()

    # -- earning and debt --------------------------------------------------------------------------

    def _earnings(self, tier_before: IntArray) -> tuple[IntArray, IntArray, IntArray, list[str]]:
        """(points per line, points per order, eligible spend per order, each order's rule label)."""
        multiplier = np.array([t.multiplier_pct for t in self.ladder.ranked], dtype=np.int64)
        counts, amounts, excluded = self.line_counts, self.amounts, self.rules.excluded
        line_pts = line_points(
            amounts,
            excluded,
            np.repeat(self.rules.points_per_unit, counts),
            np.repeat(multiplier[tier_before], counts),
        )
        anonymous = self.who.anonymous
        if anonymous is not None:
            line_pts = line_pts * np.repeat(~anonymous, counts)
        self.earned = self._earned_by_rules(tier_before, excluded)
        if self.earned is not None:
            line_pts = self.earned.line_points
        points = np.add.reduceat(line_pts, self.first_lines)
        eligible = np.add.reduceat(line_eligible(amounts, excluded), self.first_lines)
        rungs = len(self.ladder.ranked)
        label_key = self.rules.store_of_order * rungs + tier_before
        labels: dict[int, str] = {}
        for key in np.unique(label_key).tolist():
            programme, tier = self.rules.programmes[key // rungs], self.ladder.ranked[key % rungs]
            labels[key] = rule_label(
                programme.points_per_unit, tier.code, tier.multiplier_pct, programme.excluded_categories
            )
        rules = [labels[key] for key in label_key.tolist()]
        if anonymous is not None:
            for i in np.nonzero(anonymous)[0].tolist():
                rules[i] = ANONYMOUS_RULE
        return line_pts, points, eligible, rules

    def _earned_by_rules(self, tier_before: IntArray, excluded: BoolArray) -> Earned | None:
        """The lines' points by the programmes' earning rules (None: no rule, the base rule alone)."""
        rules = self.rule_book.for_programmes({p.id for p in self.rules.programmes})
        if not rules:
            return None
        who = self.who
        member = np.ones(len(self.batch), dtype=bool) if who.anonymous is None else ~who.anonymous

        def birthdays() -> list[date | None]:
            known = [stored_date(state.stored_birthday) for state in who.states]
            of_order = who.of_order.tolist()
            return [known[m] if named else None for m, named in zip(of_order, member.tolist(), strict=True)]

        return earned_by_rules(
            self.conn, rules, self.batch, self.rules.stores, self.rules.store_of_order, self.ladder.ranked,
            tier_before, member, birthdays, self.amounts, excluded, self.session,
        )  # fmt: skip

    def _debt_paid(self, points_by_member: IntArray) -> IntArray:
        """What each order's points pay of its member's debt (per order of `by_member`): the debt
        left by the member's earlier orders of the batch first."""
        member = self.who.of_member_order
        running = np.cumsum(points_by_member)
        first = np.ones(len(member), dtype=bool)
        first[1:] = member[1:] != member[:-1]
        member_start = np.maximum.accumulate(np.where(first, running - points_by_member, 0))
        earlier = running - points_by_member - member_start
        paid: IntArray = debt_paid(points_by_member, self.debt[member] - earlier)
        return paid

    # -- rows --------------------------------------------------------------------------------------

    def _purchase_columns(
        self,
        purchase_ids: IntArray,
        eligible: IntArray,
        points: IntArray,
        rules: list[str],
        tiers: TierPath,
        codes: list[str],
        request_hashes: Sequence[str] | None,
    ) -> tuple[dict[str, list[Any]], dict[str, int | str | None]]:
        batch, anonymous = self.batch, self.who.anonymous
        members: list[int | None] = batch.member_id.tolist()
        if anonymous is not None:
            members = [None if m == ANONYMOUS else m for m in members]
        # The tier each order left its member in, and the one it upgraded them to, as live.
        tier_after: list[str | None] = [codes[i] for i in tiers.after.tolist()]
        upgraded: list[str | None] = [
            code if b != a else None
            for code, b, a in zip(tier_after, tiers.before.tolist(), tiers.after.tolist(), strict=True)
        ]
        if anonymous is not None:
            for i in np.nonzero(anonymous)[0].tolist():
                tier_after[i] = upgraded[i] = None
        currency = [batch.currency or s.programme.currency for s in self.rules.stores]
        computed = {
            "id": purchase_ids.tolist(),
            "member_id": members,
            "occurred_at": stored_texts(batch.occurred_us, self.pg),
            "total_minor": self.totals.tolist(),
            "eligible_minor": eligible.tolist(),
            "points_earned": points.tolist(),
            "rule": rules,
        }
        return purchase_columns(
            batch,
            computed,
            currency=[currency[i] for i in self.rules.store_of_order.tolist()],
            request_hashes=request_hashes,
            tier_after=tier_after,
            upgraded_to=upgraded,
            now_text=self.now_text,
        )

    def _line_columns(
        self, purchase_ids: IntArray, line_pts: IntArray
    ) -> tuple[dict[str, list[Any]], dict[str, list[int]] | None]:
        """The lines' columns, and the entries of the earning rules that applied to them."""
        line_no = (
            np.arange(len(self.amounts), dtype=np.int64) - np.repeat(self.first_lines, self.line_counts) + 1
        )
        line_purchase = np.repeat(purchase_ids, self.line_counts)
        lines = line_columns(
            self.batch, line_purchase.tolist(), line_no.tolist(), self.amounts.tolist(), line_pts.tolist()
        )
        entries = None
        if self.earned is not None and len(self.earned.entry_line):
            entries = rule_entries(self.earned, line_purchase, line_no)
        return lines, entries

    def _earning_rows(
        self,
        earning: IntArray,
        purchase_ids: IntArray,
        transfer_ids: IntArray,
        posting_ids: IntArray,
        lot_ids: IntArray,
        points: IntArray,
        paid: IntArray,
        rules: list[str],
        available: IntArray,
        expires: IntArray,
    ) -> tuple[TransferColumns, list[Sequence[Any]], list[int]]:
        """The earning transfers (with their postings), the lots they credit (`sale_rows.LOT_COLUMNS`)
        and the lots' ids."""
        batch = self.batch
        account = self.account[self.who.of_order[earning]]
        amount = points[earning]
        earners = earning.tolist()
        order_ids = texts(batch.order_id)
        transfers = TransferColumns(
            kind="earn",
            created_at=self.now_text,
            ids=transfer_ids.tolist(),
            posting_ids=posting_ids.tolist(),
            debit_account_id=self.rules.liability_account[earning].tolist(),
            credit_account_id=account.tolist(),
            amount=amount.tolist(),
            member_id=batch.member_id[earning].tolist(),
            purchase_id=purchase_ids[earning].tolist(),
            store_id=batch.store_id[earning].tolist(),
            order_id=[order_ids[i] for i in earners],
            rule=[rules[i] for i in earners],
        )
        to_debt = paid[earning]
        lots: list[Sequence[Any]] = [
            transfers.credit_account_id, transfers.member_id, self.rules.merchant[earning].tolist(),
            transfers.purchase_id, transfers.amount, to_debt.tolist(), (amount - to_debt).tolist(),
            stored_texts(available[earning], self.pg), stored_texts(expires[earning], self.pg),
        ]  # fmt: skip
        return transfers, lots, lot_ids.tolist()

    def _account_rows(
        self, points_by_member: IntArray, paid_by_member: IntArray
    ) -> list[tuple[int, int, int]]:
        """Balance and debt as the last credit of each member leaves them."""
        gained = self.who.per_member(points_by_member)
        repaid = self.who.per_member(paid_by_member)
        moved = np.nonzero(gained > 0)[0]
        return list(
            zip(
                (self.balance[moved] + gained[moved]).tolist(),
                (self.debt[moved] - repaid[moved]).tolist(),
                self.account[moved].tolist(),
                strict=True,
            )
        )

    def _upgrade_rows(self, tiers: TierPath) -> tuple[list[tuple[int, int, int, int]], list[tuple[int, int]]]:
        """Tier upgrades, in posting order: their history, and each member's new tier."""
        up = np.nonzero(tiers.after > tiers.before)[0]
        if not len(up):
            return [], []
        tier_ids = np.array([t.id for t in self.ladder.ranked], dtype=np.int64)
        history = list(zip(
            self.batch.member_id[up].tolist(), tier_ids[tiers.before[up]].tolist(),
            tier_ids[tiers.after[up]].tolist(), tiers.spend[up].tolist(),
            strict=True,
        ))  # fmt: skip
        final = np.full(len(self.who.members), -1, dtype=np.int64)
        # Tiers only rise within a batch: the last is the highest.
        np.maximum.at(final, self.who.of_order[up], tiers.after[up])
        changed = np.nonzero(final >= 0)[0]
        promoted = list(
            zip(tier_ids[final[changed]].tolist(), self.who.members[changed].tolist(), strict=True)
        )
        return history, promoted

    # -- what the next batch of this run may take as known -------------------------------------------

    def _remember(
        self, purchase_ids: IntArray, points_by_member: IntArray, paid_by_member: IntArray, tiers: TierPath
    ) -> None:
        who, session = self.who, self.session
        session.last_purchase_id = int(purchase_ids[-1])
        session.record(
            self.batch.member_id[who.by_member],
            self.batch.occurred_us[who.by_member],
            self.totals[who.by_member],
        )
        balance_end = self.balance + who.per_member(points_by_member)
        debt_end = self.debt - who.per_member(paid_by_member)
        tier_end = np.full(len(who.members), -1, dtype=np.int64)
        np.maximum.at(tier_end, who.of_member_order, tiers.after_by_member)
        tier_ids = [t.id for t in self.ladder.ranked]
        ends = zip(tier_end.tolist(), balance_end.tolist(), debt_end.tolist(), strict=True)
        for member, state, (tier, balance, debt) in zip(who.members.tolist(), who.states, ends, strict=True):
            status, _, account, _, _, born, tags, registered = state  # a run's tens of thousands: no _replace
            session.members[member] = MemberState(
                status, tier_ids[tier], account, balance, debt, born, tags, registered
            )
        if session.upper is not None:
            spent = who.per_member(self.totals[who.by_member])
            for member, value in zip(who.members.tolist(), spent.tolist(), strict=True):
                session.upper[member] = session.upper.get(member, 0) + value
