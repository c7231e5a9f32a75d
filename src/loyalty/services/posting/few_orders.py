"""The set-based posting of a few orders, no member's two: the routine's steps on Python's values.

A till's batch is a sale alone or the few sales a server received at once, rarely two of one
member's. Over NumPy columns such a batch pays the array machinery a member's several orders need
(sorting by member, cumulating their spend and debt, grouping their upgrades) in calls that cost
more than the work at that size. Here each step is the array form's (`set_based`) written for
orders whose members are all different, taken order by order over lists (`OrderLists`): the same
domain rules (`domain.earning`, `domain.tiers`), the same earning rules engine, the same reads
(`member_state`, `window_spend`, `read_ahead`) and the same writer (`sale_rows`).
`post_set_based` picks this form for such a batch; an import's batches always take the array form.
Both forms are tested to write the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any, NamedTuple

import numpy as np
from sqlalchemy import Connection

from loyalty.bootstrap import Context
from loyalty.db.ledger_writer import TransferColumns
from loyalty.db.prepared import pipelined
from loyalty.db.rows import is_postgres
from loyalty.db.stored_time import instant, stored_instant, stored_text
from loyalty.db.unnest import Writes
from loyalty.domain import earning
from loyalty.domain.actors import Actor
from loyalty.domain.errors import NotFound
from loyalty.domain.programme.engine import Earned
from loyalty.domain.tiers import tier_index_for_spend
from loyalty.services.catalogue import StoreInfo, catalogue_of
from loyalty.services.earning_rules.frames import rule_entries, stored_date
from loyalty.services.posting.batch_rules import earned_by_rules
from loyalty.services.posting.member_state import MemberState, read_members
from loyalty.services.posting.order_batch import ANONYMOUS, OrderBatch, OrderLists
from loyalty.services.posting.read_ahead import ReadAhead, new_id_lists
from loyalty.services.posting.sale_rows import Posted, SaleWriter, line_columns, purchase_columns
from loyalty.services.posting.window_spend import held_in_window
from loyalty.services.tier_window import send_qualifying_spend

#: up to this many orders, no member's two, a batch is posted in this form
FEW_ORDERS_AS_VALUES = 8


def takes(batch: OrderBatch) -> bool:
    """Whether `batch` is a few orders, none of them a member's second."""
    if len(batch) > FEW_ORDERS_AS_VALUES:
        return False
    named = [m for m in batch.member_id.tolist() if m != ANONYMOUS]
    return len(set(named)) == len(named)


class _Earned(NamedTuple):
    """What the batch's lines and orders earn."""

    line_points: list[int]
    points: list[int]  # per order
    eligible: list[int]  # per order
    labels: list[str]  # each order's rule label
    by_rules: Earned | None  # the earning rules' entries (None: the base rule alone)


class FewOrders:
    """One few-order batch's posting: `of` checks and reads what it needs, `post` writes it."""

    def __init__(
        self,
        conn: Connection,
        ctx: Context,
        orders: OrderLists,
        amounts: list[int],
        stores: list[StoreInfo],
        states: list[MemberState | None],
        ahead: ReadAhead | None,
        batch: OrderBatch,
    ) -> None:
        """`amounts`: each line's; `batch`: the same orders as arrays (for the earning rules)."""
        self.conn, self.ctx, self.orders, self.amounts = conn, ctx, orders, amounts
        self.stores, self.states, self.ahead = stores, states, ahead
        self.batch = batch
        # What the posting reads of the catalogue, read here: on PostgreSQL `post` may run in a
        # pipeline, where a statement SQLAlchemy runs itself cannot.
        catalogue = catalogue_of(ctx)
        self.ladder = catalogue.tiers(conn)
        self.rules = catalogue.rule_book(conn).for_programmes({s.programme.id for s in stores})
        self.pg = is_postgres(conn)
        self.members = orders.member_id
        self.times = orders.occurred_us
        self.spans = list(pairwise(orders.offsets))
        self.totals = [sum(amounts[lo:hi]) for lo, hi in self.spans]

    @classmethod
    def of(
        cls,
        conn: Connection,
        ctx: Context,
        batch: OrderBatch,
        ahead: ReadAhead | None,
    ) -> FewOrders | None:
        """The posting of `batch` (`takes`), or None where it holds what only the live routine
        handles (as `set_based.post_set_based`): an invalid line, an unknown store or member, an
        inactive member, a currency that is not the programme's."""
        orders = OrderLists.of(batch)
        prices = zip(orders.quantity, orders.unit_price_minor, orders.discount_minor, strict=True)
        amounts = [earning.line_amount(q, p, d) for q, p, d in prices]
        if not orders.well_formed(amounts):
            return None
        catalogue = catalogue_of(ctx)
        try:
            stores = [catalogue.store(conn, store_id) for store_id in orders.store_id]
        except NotFound:  # unknown store: the live routine raises the proper error
            return None
        if batch.currency is not None and any(s.programme.currency != batch.currency for s in stores):
            return None  # not the programme's currency: the live routine refuses it (CURRENCY_MISMATCH)
        members = orders.member_id
        named = sorted(m for m in members if m != ANONYMOUS)
        known: dict[int, MemberState] = {}
        if ahead is not None:
            known = ahead.members()
        elif named:
            known = read_members(conn, np.array(named, dtype=np.int64))
        states = [None if m == ANONYMOUS else known.get(m) for m in members]
        if any(
            s is None or s.status != "active" for m, s in zip(members, states, strict=True) if m != ANONYMOUS
        ):
            return None
        return cls(conn, ctx, orders, amounts, stores, states, ahead, batch)

    def post(
        self, hashes: Sequence[str] | None, actors: Sequence[Actor] | None, given: Writes | None
    ) -> Posted:
        """Write the batch in the caller's transaction and answer what it posted (as
        `set_based.post_set_based`: `actors` one an order, audited with it; `given`, PostgreSQL's
        one write statement of the caller's)."""
        conn, orders, pg, n = self.conn, self.orders, self.pg, len(self.orders)
        ranked = self.ladder.ranked
        now = self.ctx.now()
        now_text = stored_text(now, pg)
        index_of = self.ladder.index_of
        before = [0 if s is None else index_of[s.tier_id] for s in self.states]
        after, spend = self._tiers_after(before)
        earned = self._earnings(before)
        points = earned.points
        earners = [o for o in range(n) if points[o] > 0]
        ids = self._new_ids(n, len(earners))
        purchase_ids = ids["purchases"]
        # Each order's purchase columns and answer, then each earning order's rows, order by order.
        member_id: list[int | None] = []
        tier_after: list[str | None] = []
        upgraded_to: list[str | None] = []
        currency: list[str] = []
        occurred: list[str] = []
        available: list[int] = []
        expires: list[int] = []
        history: list[tuple[int, int, int, int]] = []
        promoted: list[tuple[int, int]] = []
        for o, (member, time, store, b, a) in enumerate(
            zip(self.members, self.times, self.stores, before, after, strict=True)
        ):
            prog = store.programme
            occurred.append(stored_instant(time, pg))
            currency.append(orders.currency or prog.currency)
            lot = earning.lot_times(time, prog.return_window_days, prog.expiry_days)
            available.append(lot[0])
            expires.append(lot[1])
            if member == ANONYMOUS:
                member_id.append(None)
                tier_after.append(None)
                upgraded_to.append(None)
                continue
            member_id.append(member)
            tier_after.append(ranked[a].code)
            upgraded_to.append(ranked[a].code if a != b else None)
            if a != b:
                history.append((member, ranked[b].id, ranked[a].id, spend[o]))
                promoted.append((ranked[a].id, member))
        computed: dict[str, list[Any]] = {
            "id": purchase_ids,
            "member_id": member_id,
            "occurred_at": occurred,
            "total_minor": self.totals,
            "eligible_minor": earned.eligible,
            "points_earned": points,
            "rule": earned.labels,
        }
        purchases, constants = purchase_columns(
            orders,
            computed,
            currency=currency,
            request_hashes=hashes,
            tier_after=tier_after,
            upgraded_to=upgraded_to,
            now_text=now_text,
        )
        line_purchase: list[int] = []
        line_no: list[int] = []
        for pid, (lo, hi) in zip(purchase_ids, self.spans, strict=True):
            line_purchase += [pid] * (hi - lo)
            line_no += range(1, hi - lo + 1)
        entries = None
        if earned.by_rules is not None and len(earned.by_rules.entry_line):
            entries = rule_entries(
                earned.by_rules, np.array(line_purchase, dtype=np.int64), np.array(line_no, dtype=np.int64)
            )
        # On PostgreSQL every write goes in one statement, the caller's where given.
        writes = given if given is not None or not pg else Writes()
        writer = SaleWriter(conn, now_text, writes)
        writer.purchases(purchases, constants)
        writer.lines(line_columns(orders, line_purchase, line_no, self.amounts, earned.line_points), entries)
        if earners:
            writer.earnings(*self._earning_rows(earners, ids, earned, available, expires, now_text))
        writer.upgrades(history, promoted)
        if actors is not None:
            writer.audit(actors, purchases, orders.channels(), now)
        if writes is not None and given is None:
            writes.send(conn)
        codes = [t.code for t in ranked]
        return Posted(
            purchase_ids, self.totals, points, earned.labels, available, expires, before, after, codes
        )

    def _new_ids(self, orders: int, earning: int) -> dict[str, list[int]]:
        """The ids of the rows the batch writes."""
        wanted = {"purchases": orders, "transfers": earning, "postings": 2 * earning, "point_lots": earning}
        return new_id_lists(self.conn, self.ahead, wanted)

    def _earning_rows(
        self,
        earners: list[int],
        ids: dict[str, list[int]],
        earned: _Earned,
        available: list[int],
        expires: list[int],
        now_text: str,
    ) -> tuple[TransferColumns, list[Sequence[Any]], list[tuple[int, int, int]]]:
        """The earning orders' transfers (`earners`: their indexes, at least one), from liability to
        member; their lots (columns, `sale_rows.LOT_COLUMNS`), which pay their member's debt first;
        and the rows (balance, debt, account id) of the accounts they credit: one each, no member
        having two orders."""
        pg, points, labels = self.pg, earned.points, earned.labels
        order_ids, purchase_ids = self.orders.order_id, ids["purchases"]
        # Each earning order's values, one tuple an order, then turned into columns (an order id is
        # never null: `OrderLists.well_formed`).
        each: list[tuple[Any, ...]] = []
        accounts: list[tuple[int, int, int]] = []
        for o in earners:
            state, store, earns = self._state(o), self.stores[o], points[o]
            paid = earning.debt_paid(earns, state.debt)
            each.append((
                store.liability_account_id, state.account_id, earns, self.members[o], purchase_ids[o],
                store.id, order_ids[o], labels[o], store.merchant_id, paid, earns - paid,
                stored_instant(available[o], pg), stored_instant(expires[o], pg),
            ))  # fmt: skip
            accounts.append((state.balance + earns, state.debt - paid, state.account_id))
        (
            debit, credit, amount, member, purchase, store_id, order_id, rule, merchant, paid_debt, remaining,
            available_at, expires_at,
        ) = (list(column) for column in zip(*each, strict=True))  # fmt: skip
        transfers = TransferColumns(
            kind="earn", created_at=now_text, ids=ids["transfers"], posting_ids=ids["postings"],
            debit_account_id=debit, credit_account_id=credit, amount=amount, member_id=member,
            purchase_id=purchase, store_id=store_id, order_id=order_id, rule=rule,
        )  # fmt: skip
        lots: list[Sequence[Any]] = [
            ids["point_lots"], credit, member, merchant, ids["transfers"], purchase, amount, paid_debt,
            remaining, available_at, expires_at,
        ]  # fmt: skip
        return transfers, lots, accounts

    def _earnings(self, before: list[int]) -> _Earned:
        """What each line and order earns with the tier it earns with, by the earning rules or, where
        the programme has none, by the base rule; and each order's eligible spend and rule label."""
        ranked, amounts, categories = self.ladder.ranked, self.amounts, self.orders.category
        by_rules = None
        if self.rules:
            excluded = [
                c is not None and c in self.stores[o].programme.excluded_categories
                for o, (lo, hi) in enumerate(self.spans)
                for c in categories[lo:hi]
            ]
            by_rules = self._earned_by_rules(before, excluded)
        line_points: list[int] = [] if by_rules is None else by_rules.line_points.tolist()
        points: list[int] = []
        eligible: list[int] = []
        labels: list[str] = []
        for o, ((lo, hi), store, b) in enumerate(zip(self.spans, self.stores, before, strict=True)):
            prog, named = store.programme, self.members[o] != ANONYMOUS
            out = prog.excluded_categories
            multiplier = ranked[b].multiplier_pct
            order_eligible = 0
            order_points = 0
            for j in range(lo, hi):
                category = categories[j]
                x = category is not None and category in out
                order_eligible += earning.line_eligible(amounts[j], x)
                if by_rules is None:
                    line = (
                        earning.line_points(amounts[j], x, prog.points_per_unit, multiplier) if named else 0
                    )
                    line_points.append(line)
                order_points += line_points[j]
            points.append(order_points)
            eligible.append(order_eligible)
            labels.append(
                earning.rule_label(prog.points_per_unit, ranked[b].code, multiplier, out)
                if named
                else earning.ANONYMOUS_RULE
            )
        return _Earned(line_points, points, eligible, labels, by_rules)

    def _state(self, order: int) -> MemberState:
        state = self.states[order]
        if state is None:  # an anonymous order never earns
            raise ValueError("an anonymous order has no member")
        return state

    def _tiers_after(self, before: list[int]) -> tuple[list[int], list[int]]:
        """The tier each order leaves its member in (an upgrade happens at once, never a downgrade),
        and the window spend that decided it (0 where the member could not go higher)."""
        defs, top = self.ladder.defs, len(self.ladder.ranked) - 1
        climbing = [
            o for o, (m, b) in enumerate(zip(self.members, before, strict=True)) if m != ANONYMOUS and b < top
        ]
        after, spend = list(before), [0] * len(before)
        for o, held in zip(climbing, self._held_spend(climbing), strict=True):
            spend[o] = held + self.totals[o]
            after[o] = max(before[o], int(tier_index_for_spend(defs, spend[o])))
        return after, spend

    def _held_spend(self, climbing: list[int]) -> list[int]:
        """The spend the database holds of each climbing order's member in its window (order time −
        the programme's window, order time]: from the reads sent ahead, or one prepared statement a
        member (on PostgreSQL sent together)."""
        windows = [self.stores[o].programme.tier_window_days for o in climbing]
        if self.ahead is None:
            with pipelined(self.conn):
                sent = [
                    send_qualifying_spend(self.conn, self.members[o], instant(self.times[o]), days)
                    for o, days in zip(climbing, windows, strict=True)
                ]
                return [int(s.scalar()) for s in sent]
        member, time, amount = (column.tolist() for column in self.ahead.spend())
        return [
            held_in_window(
                (member, time, amount),
                self.members[o],
                self.times[o] - days * earning.US_PER_DAY,
                self.times[o],
            )
            for o, days in zip(climbing, windows, strict=True)
        ]

    def _earned_by_rules(self, before: list[int], excluded: list[bool]) -> Earned:
        """The lines' points by the programmes' earning rules."""
        n = len(self.orders)
        named = [m != ANONYMOUS for m in self.members]
        return earned_by_rules(
            self.conn, self.rules, self.batch, self.stores, np.arange(n, dtype=np.int64), self.ladder.ranked,
            np.array(before, dtype=np.int64), np.array(named, dtype=bool),
            lambda: [None if s is None else stored_date(s.stored_birthday) for s in self.states],
            np.array(self.amounts, dtype=np.int64), np.array(excluded, dtype=bool),
        )  # fmt: skip
