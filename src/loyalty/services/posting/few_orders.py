"""The set-based posting of a few orders, no member's two: the routine's steps on Python's values.

A till's batch is a sale alone or the few sales a server received at once, rarely two of one
member's. Over NumPy columns such a batch pays the array machinery a member's several orders need
(sorting by member, cumulating their spend and debt, grouping their upgrades) in calls that cost
more than the work at that size. Here each step is the array form's (`set_based`) written for
orders whose members are all different: the same domain rules (`domain.earning`, `domain.tiers`),
the same earning rules engine, the same reads (`member_state`, `window_spend`, `read_ahead`) and
the same writer (`sale_rows`), on lists. `post_set_based` picks this form for such a batch; an
import's batches always take the array form. Both are tested to write the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, cast

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
from loyalty.services.catalogue import StoreInfo, TierLadder, catalogue_of
from loyalty.services.earning_rules.frames import rule_entries, stored_date
from loyalty.services.posting.batch_rules import earned_by_rules
from loyalty.services.posting.member_state import MemberState, read_members
from loyalty.services.posting.order_batch import ANONYMOUS, OrderBatch, texts
from loyalty.services.posting.read_ahead import ReadAhead, new_id_lists
from loyalty.services.posting.sale_rows import Posted, SaleRows, line_columns, purchase_columns
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


@dataclass(frozen=True)
class _Earned:
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
        batch: OrderBatch,
        amounts: list[int],
        stores: list[StoreInfo],
        states: list[MemberState | None],
        ahead: ReadAhead | None,
    ) -> None:
        self.conn, self.ctx, self.batch, self.amounts = conn, ctx, batch, amounts
        self.stores, self.states, self.ahead = stores, states, ahead
        # What the posting reads of the catalogue, read here: on PostgreSQL `post` may run in a
        # pipeline, where a statement SQLAlchemy runs itself cannot.
        catalogue = catalogue_of(ctx)
        self.ladder = catalogue.tiers(conn)
        self.rules = catalogue.rule_book(conn).for_programmes({s.programme.id for s in stores})
        self.pg = is_postgres(conn)
        self.members: list[int] = batch.member_id.tolist()
        #: which orders are a member's (the others anonymous)
        self.named = [m != ANONYMOUS for m in self.members]
        self.times: list[int] = batch.occurred_us.tolist()
        offsets: list[int] = batch.offsets.tolist()
        self.spans = list(pairwise(offsets))
        #: each line's order
        self.line_order = [o for o, (lo, hi) in enumerate(self.spans) for _ in range(hi - lo)]
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
        prices = zip(
            batch.quantity.tolist(),
            batch.unit_price_minor.tolist(),
            batch.discount_minor.tolist(),
            strict=True,
        )
        amounts = [earning.line_amount(q, p, d) for q, p, d in prices]
        if not batch.well_formed(amounts):
            return None
        catalogue = catalogue_of(ctx)
        try:
            stores = [catalogue.store(conn, store_id) for store_id in batch.store_id.tolist()]
        except NotFound:  # unknown store: the live routine raises the proper error
            return None
        if batch.currency is not None and any(s.programme.currency != batch.currency for s in stores):
            return None  # not the programme's currency: the live routine refuses it (CURRENCY_MISMATCH)
        members = batch.member_id.tolist()
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
        return cls(conn, ctx, batch, amounts, stores, states, ahead)

    def post(
        self, hashes: Sequence[str] | None, actors: Sequence[Actor] | None, given: Writes | None
    ) -> Posted:
        """Write the batch in the caller's transaction and answer what it posted (as
        `set_based.post_set_based`: `actors` one an order, audited with it; `given`, PostgreSQL's
        one write statement of the caller's)."""
        conn, batch, n = self.conn, self.batch, len(self.batch)
        ladder = self.ladder
        now = self.ctx.now()
        now_text = stored_text(now, self.pg)
        before = [0 if s is None else ladder.index_of[s.tier_id] for s in self.states]
        after, spend = self._tiers_after(ladder, before)
        earned = self._earnings(ladder, before)
        lots = [
            earning.lot_times(t, s.programme.return_window_days, s.programme.expiry_days)
            for t, s in zip(self.times, self.stores, strict=True)
        ]
        earners = [o for o in range(n) if earned.points[o] > 0]
        k = len(earners)
        wanted = {"purchases": n, "transfers": k, "postings": 2 * k, "point_lots": k}
        ids = new_id_lists(conn, self.ahead, wanted)
        purchase_ids, transfer_ids, posting_ids, lot_ids = (ids[table] for table in wanted)
        codes = [t.code for t in ladder.ranked]
        member = self.named
        computed: dict[str, list[Any]] = {
            "id": purchase_ids,
            "member_id": [m if named else None for m, named in zip(self.members, member, strict=True)],
            "occurred_at": [stored_instant(t, self.pg) for t in self.times],
            "total_minor": self.totals,
            "eligible_minor": earned.eligible,
            "points_earned": earned.points,
            "rule": earned.labels,
        }
        tier_after: list[str | None] = [codes[a] if m else None for a, m in zip(after, member, strict=True)]
        purchases, constants = purchase_columns(
            batch,
            computed,
            currency=[batch.currency or s.programme.currency for s in self.stores],
            request_hashes=hashes,
            tier_after=tier_after,
            upgraded_to=[
                code if a != b else None for code, a, b in zip(tier_after, after, before, strict=True)
            ],
            now_text=now_text,
        )
        line_purchase = [purchase_ids[o] for o in self.line_order]
        line_no = [j - self.spans[o][0] + 1 for j, o in enumerate(self.line_order)]
        entries = None
        if earned.by_rules is not None and len(earned.by_rules.entry_line):
            entries = rule_entries(
                earned.by_rules, np.array(line_purchase, dtype=np.int64), np.array(line_no, dtype=np.int64)
            )
        transfers = None
        if earners:
            transfers = self._transfers(earners, purchase_ids, transfer_ids, posting_ids, earned, now_text)
        lot_rows, accounts = self._lots(earners, lot_ids, transfer_ids, purchase_ids, earned.points, lots)
        up = [o for o in range(n) if after[o] > before[o]]
        ranked = ladder.ranked
        rows = SaleRows(
            purchases,
            constants,
            line_columns(batch, line_purchase, line_no, self.amounts, earned.line_points),
            entries,
            transfers,
            lot_rows,
            accounts,
            [(self.members[o], ranked[before[o]].id, ranked[after[o]].id, spend[o]) for o in up],
            [(ranked[after[o]].id, self.members[o]) for o in up],
        )
        # On PostgreSQL every write goes in one statement, the caller's where given.
        writes = given if given is not None or not self.pg else Writes()
        rows.write(conn, now_text, writes)
        if actors is not None:
            rows.write_audit(conn, actors, batch.channels(), now, writes)
        if writes is not None and given is None:
            writes.send(conn)
        return Posted(
            purchase_ids,
            self.totals,
            earned.points,
            earned.labels,
            [available for available, _ in lots],
            [expires for _, expires in lots],
            [codes[b] for b in before],
            [codes[a] for a in after],
        )

    def _transfers(
        self,
        earners: list[int],
        purchase_ids: list[int],
        transfer_ids: list[int],
        posting_ids: list[int],
        earned: _Earned,
        now_text: str,
    ) -> TransferColumns:
        """The earning orders' transfers (`earners`: their indexes), from liability to member."""
        order_ids = cast(list[str], texts(self.batch.order_id))  # never null (`OrderBatch.well_formed`)
        stores = self.stores
        return TransferColumns(
            kind="earn",
            created_at=now_text,
            ids=transfer_ids,
            posting_ids=posting_ids,
            debit_account_id=[stores[o].liability_account_id for o in earners],
            credit_account_id=[self._state(o).account_id for o in earners],
            amount=[earned.points[o] for o in earners],
            member_id=[self.members[o] for o in earners],
            purchase_id=[purchase_ids[o] for o in earners],
            store_id=[stores[o].id for o in earners],
            order_id=[order_ids[o] for o in earners],
            rule=[earned.labels[o] for o in earners],
        )

    def _lots(
        self,
        earners: list[int],
        lot_ids: list[int],
        transfer_ids: list[int],
        purchase_ids: list[int],
        points: list[int],
        times: list[tuple[int, int]],
    ) -> tuple[list[tuple[Any, ...]], list[tuple[int, int, int]]]:
        """The earning orders' lots, which pay their member's debt first, and the rows (balance,
        debt, account id) of the accounts they credit: one each, no member having two orders."""
        lots, accounts = [], []
        for lot_id, transfer_id, o in zip(lot_ids, transfer_ids, earners, strict=True):
            state = self._state(o)
            paid = earning.debt_paid(points[o], state.debt)
            available, expires = times[o]
            lots.append((
                lot_id, state.account_id, self.members[o], self.stores[o].merchant_id, transfer_id,
                purchase_ids[o], points[o], paid, points[o] - paid, stored_instant(available, self.pg),
                stored_instant(expires, self.pg),
            ))  # fmt: skip
            accounts.append((state.balance + points[o], state.debt - paid, state.account_id))
        return lots, accounts

    def _earnings(self, ladder: TierLadder, before: list[int]) -> _Earned:
        """What each line and order earns with the tier it earns with, by the earning rules or, where
        the programme has none, by the base rule; and each order's eligible spend and rule label."""
        stores, member = self.stores, self.named
        excluded = [
            c is not None and c in stores[o].programme.excluded_categories
            for c, o in zip(texts(self.batch.category), self.line_order, strict=True)
        ]
        multiplier = [ladder.ranked[b].multiplier_pct for b in before]
        by_rules = self._earned_by_rules(before, excluded)
        if by_rules is not None:
            line_pts: list[int] = by_rules.line_points.tolist()
        else:
            line_pts = [
                earning.line_points(a, x, stores[o].programme.points_per_unit, multiplier[o])
                if member[o]
                else 0
                for a, x, o in zip(self.amounts, excluded, self.line_order, strict=True)
            ]
        eligible = [earning.line_eligible(a, x) for a, x in zip(self.amounts, excluded, strict=True)]
        labels = [
            earning.rule_label(
                s.programme.points_per_unit, ladder.ranked[b].code, m, s.programme.excluded_categories
            )
            if named
            else earning.ANONYMOUS_RULE
            for s, b, m, named in zip(stores, before, multiplier, member, strict=True)
        ]
        return _Earned(
            line_pts,
            [sum(line_pts[lo:hi]) for lo, hi in self.spans],
            [sum(eligible[lo:hi]) for lo, hi in self.spans],
            labels,
            by_rules,
        )

    def _state(self, order: int) -> MemberState:
        state = self.states[order]
        if state is None:  # an anonymous order never earns
            raise ValueError("an anonymous order has no member")
        return state

    def _tiers_after(self, ladder: TierLadder, before: list[int]) -> tuple[list[int], list[int]]:
        """The tier each order leaves its member in (an upgrade happens at once, never a downgrade),
        and the window spend that decided it (0 where the member could not go higher)."""
        top = len(ladder.ranked) - 1
        climbing = [
            o for o, (named, b) in enumerate(zip(self.named, before, strict=True)) if named and b < top
        ]
        after, spend = list(before), [0] * len(before)
        for o, held in zip(climbing, self._held_spend(climbing), strict=True):
            spend[o] = held + self.totals[o]
            after[o] = max(before[o], int(tier_index_for_spend(ladder.defs, spend[o])))
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

    def _earned_by_rules(self, before: list[int], excluded: list[bool]) -> Earned | None:
        """The lines' points by the programmes' earning rules (None: no rule, the base rule alone)."""
        if not self.rules:
            return None
        n = len(self.batch)
        return earned_by_rules(
            self.conn, self.rules, self.batch, self.stores, np.arange(n, dtype=np.int64), self.ladder.ranked,
            np.array(before, dtype=np.int64), np.array(self.named, dtype=bool),
            lambda: [None if s is None else stored_date(s.stored_birthday) for s in self.states],
            np.array(self.amounts, dtype=np.int64), np.array(excluded, dtype=bool),
        )  # fmt: skip
