"""The set-based posting of a few orders, no member's two, on Python's values: a sale alone, as a
batch of one, and a till's few sales.

`post_orders` posts both: a sale alone once `one_sale.post_sale` has checked it and locked its
member, and the few sales a server received at once once `FewOrders.of` has checked them and read
their members (`takes`: a member's second order needs the array form's cumulated spend and debt).
Over NumPy columns such a batch would pay the array machinery in calls that cost more than the work
at that size, so each step of the array form (`set_based`) is taken order by order, each order's
rows built as tuples from its values: the same domain rules (`domain.earning`, `domain.tiers`), the
same earning rules engine (`batch_rules`), the same reads (`member_state`, `window_spend`,
`read_ahead`) and the same writer (`sale_rows.SaleWriter`). On SQLite the rows are numbered as they
are written, with no read of the highest ids first; on PostgreSQL their ids are taken up front, so
that one statement carries them all. An import's batches always take the array form; both forms are
tested to write the same rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import accumulate, pairwise
from typing import Any, NamedTuple

import numpy as np
from sqlalchemy import Connection

from loyalty.bootstrap import Context
from loyalty.db.ledger_writer import TransferColumns
from loyalty.db.prepared import pipelined
from loyalty.db.rows import is_postgres, next_id_lists
from loyalty.db.stored_time import instant, stored_instant, stored_text
from loyalty.db.unnest import Writes
from loyalty.domain import earning
from loyalty.domain.actors import Actor
from loyalty.domain.errors import NotFound
from loyalty.domain.programme.engine import Earned, Rule
from loyalty.domain.tiers import tier_index_for_spend
from loyalty.services.catalogue import Programme, StoreInfo, Tier, TierLadder, catalogue_of
from loyalty.services.earning_rules.frames import rule_entries, stored_date
from loyalty.services.posting.batch_rules import earned_by_rules
from loyalty.services.posting.member_state import MemberState, read_members
from loyalty.services.posting.order_batch import ANONYMOUS, OrderBatch, OrderLists
from loyalty.services.posting.read_ahead import ReadAhead, new_id_lists
from loyalty.services.posting.sale_rows import LINE_ROW, Posted, SaleWriter
from loyalty.services.posting.window_spend import held_in_window
from loyalty.services.tier_window import send_qualifying_spend

#: up to this many orders, no member's two, a batch is posted in this form
FEW_ORDERS_AS_VALUES = 8

#: the ids of the rows a posting writes, by table, given how many of each it wants
NewIds = Callable[[dict[str, int]], dict[str, list[int]]]


def takes(batch: OrderBatch) -> bool:
    """Whether `batch` is a few orders, none of them a member's second."""
    if len(batch) > FEW_ORDERS_AS_VALUES:
        return False
    named = [m for m in batch.member_id.tolist() if m != ANONYMOUS]
    return len(set(named)) == len(named)


class Line(NamedTuple):
    """A line as it is written, less its purchase, number and points."""

    sku: str
    category: str | None
    brand: str | None
    quantity: int
    unit_price_minor: int
    discount_minor: int  # the till's, and what the sale's coupons took off it
    amount_minor: int


@dataclass(slots=True)
class Order:
    """One order of a few-order posting: the sale and what its posting read of its member."""

    store: StoreInfo
    order_id: str
    occurred_us: int
    channel: str
    staff: str | None
    currency: str  # as written: the sale's, else its programme's
    lines: list[Line]
    total: int  # the till's, else the lines'
    member_id: int | None  # None: an anonymous sale
    state: MemberState | None  # the member's, None for an anonymous sale
    held: int | None  # the member's spend in the window before this order; None: nowhere higher to go


def base_points(
    programme: Programme, amounts: Sequence[int], categories: Sequence[str | None], multiplier: int
) -> int:
    """What lines of these amounts and categories earn by `programme`'s base rule at a tier of this
    multiplier (`domain.earning.line_points`, as `post_orders` takes each line)."""
    out, per_unit = programme.excluded_categories, programme.points_per_unit
    return sum(
        earning.line_points(amount, category is not None and category in out, per_unit, multiplier)
        for amount, category in zip(amounts, categories, strict=True)
    )


class CatalogueReads(NamedTuple):
    """What posting a few orders reads of the catalogue (`catalogue_reads`)."""

    ladder: TierLadder
    rules: tuple[Rule, ...]  # the orders' programmes' earning rules (none: the base rule alone earns)


def catalogue_reads(conn: Connection, ctx: Context, stores: Iterable[StoreInfo]) -> CatalogueReads:
    """The tier ladder and the earning rules of the programmes that `stores` run."""
    catalogue = catalogue_of(ctx)
    rules = catalogue.rule_book(conn).for_programmes({s.programme.id for s in stores})
    return CatalogueReads(catalogue.tiers(conn), rules)


def post_orders(
    conn: Connection,
    ctx: Context,
    orders: Sequence[Order],
    now: datetime,
    reads: CatalogueReads,
    *,
    request_hashes: Sequence[str] | None,
    actors: Sequence[Actor] | None = None,
    writes: Writes | None = None,
    new_ids: NewIds | None = None,
) -> Posted:
    """Write `orders` in the caller's transaction, as posted at `now`, and answer what it posted.

    `reads`: the tier ladder and the orders' programmes' earning rules (`catalogue_reads`), read
    before: on PostgreSQL the caller may post inside a pipeline, where a statement SQLAlchemy runs
    itself cannot. `request_hashes` (one an order) are kept for POS replays; `actors` (one an order)
    get an audit row each, written with the other rows (without them the caller audits). `writes`:
    PostgreSQL's one write statement of the caller's, which the rows join (without it, the rows are
    sent here in one statement of their own). `new_ids`: on PostgreSQL, how the rows' ids are handed
    out (reserved, or sent ahead; by default taken now); SQLite numbers them as it writes them.
    """
    ladder, rules = reads
    ranked, index_of, defs = ladder.ranked, ladder.index_of, ladder.defs
    pg = is_postgres(conn)
    now_text = stored_text(now, pg)
    before = [0 if o.state is None else index_of[o.state.tier_id] for o in orders]
    totals: list[int] = []
    by_rules = _earned_by_rules(conn, rules, orders, before, ranked) if rules else None
    # Each order's purchase row (less its id) and each line's points; then the ids.
    purchases: list[tuple[Any, ...]] = []
    # Each line's points: the earning rules' (for all lines at once), or the base rule's (line by line).
    line_points: list[int] = [] if by_rules is None else by_rules.line_points.tolist()
    points: list[int] = []
    labels: list[str] = []
    after: list[int] = []
    available: list[int] = []
    expires: list[int] = []
    history: list[tuple[int, int, int, int]] = []  # upgrades: member, from tier, to tier, window spend
    promoted: list[tuple[int, int]] = []  # the upgraded members' new tier: tier id, member
    hashes = request_hashes if request_hashes is not None else [None] * len(orders)
    j = 0  # the order's first line among all the orders' lines
    for o, order in enumerate(orders):
        prog, member, b = order.store.programme, order.member_id, before[o]
        totals.append(order.total)
        out, per_unit, multiplier = prog.excluded_categories, prog.points_per_unit, ranked[b].multiplier_pct
        eligible = earned = 0
        for line in order.lines:
            amount, category = line.amount_minor, line.category
            excluded = category is not None and category in out
            eligible += earning.line_eligible(amount, excluded)
            if by_rules is None:
                gained = (
                    earning.line_points(amount, excluded, per_unit, multiplier) if member is not None else 0
                )
                line_points.append(gained)
                earned += gained
        if by_rules is not None:
            earned = sum(line_points[j : j + len(order.lines)])
        j += len(order.lines)
        points.append(earned)
        # The tier the order leaves its member in: up at once when the window now reaches one.
        a = b
        if order.held is not None and member is not None:
            window_spend = order.held + order.total
            a = max(b, int(tier_index_for_spend(defs, window_spend)))
            if a != b:
                history.append((member, ranked[b].id, ranked[a].id, window_spend))
                promoted.append((ranked[a].id, member))
        after.append(a)
        lot = earning.lot_times(order.occurred_us, prog.return_window_days, prog.expiry_days)
        available.append(lot[0])
        expires.append(lot[1])
        if member is None:
            label, tier_code = earning.ANONYMOUS_RULE, None
        else:
            label, tier_code = earning.rule_label(per_unit, ranked[b].code, multiplier, out), ranked[a].code
        labels.append(label)
        purchases.append((
            order.store.id, member, order.order_id, stored_instant(order.occurred_us, pg), order.total,
            eligible, earned, label, order.currency, order.channel, order.staff, tier_code,
            tier_code if a != b else None, hashes[o],
        ))  # fmt: skip
    earners = [o for o, p in enumerate(points) if p > 0]
    # PostgreSQL: the rows' ids up front, so that every write goes in one statement (the caller's
    # where given); SQLite numbers the rows as it writes them.
    ids = None
    into = writes
    if pg:
        wanted = {"purchases": len(orders), "transfers": len(earners)}
        wanted |= {"postings": 2 * len(earners), "point_lots": len(earners)}
        ids = (new_ids or (lambda counts: next_id_lists(conn, counts)))(wanted)
        into = writes or Writes()
    writer = SaleWriter(conn, now_text, into)
    purchase_ids = writer.numbered_purchases(purchases, None if ids is None else ids["purchases"])
    line_rows: list[tuple[Any, ...]] = []
    for pid, order in zip(purchase_ids, orders, strict=True):
        first = len(line_rows)
        line_rows += [(pid, n, *line, line_points[first + n - 1]) for n, line in enumerate(order.lines, 1)]
    entries = None
    if by_rules is not None and len(by_rules.entry_line):
        line_purchase = np.array([row[0] for row in line_rows], dtype=np.int64)
        entries = rule_entries(
            by_rules, line_purchase, np.array([row[1] for row in line_rows], dtype=np.int64)
        )
    writer.lines(LINE_ROW, line_rows, entries)
    if earners:
        writer.earnings(
            *_earnings(orders, earners, purchase_ids, ids, points, labels, available, expires, now_text, pg)
        )
    if history:
        writer.upgrades(history, promoted)
    if actors is not None:
        writer.audit(
            [
                (actor, pid, o.store.id, o.order_id, o.member_id, o.total, p, o.channel)
                for actor, pid, o, p in zip(actors, purchase_ids, orders, points, strict=True)
            ],
            now,
        )
    if into is not None and writes is None:
        into.send(conn)
    return Posted(purchase_ids, totals, points, labels, available, expires, before, after, ladder.codes)


def _earnings(
    orders: Sequence[Order],
    earners: list[int],
    purchase_ids: Sequence[int],
    ids: dict[str, list[int]] | None,
    points: list[int],
    labels: list[str],
    available: list[int],
    expires: list[int],
    now_text: str,
    pg: bool,
) -> tuple[TransferColumns, list[Sequence[Any]], Sequence[int] | None, list[tuple[int, int, int]]]:
    """The earning orders' transfers (`earners`: their indexes, at least one), from liability to
    member; their lots (columns, `sale_rows.LOT_COLUMNS`), which pay their member's debt first, and
    the lots' ids; and the rows (balance, debt, account id) of the accounts they credit: one each, no
    member having two orders. `ids`: the transfers', postings' and lots' ids (None: SQLite's)."""
    # Each earning order's values, one tuple an order, then turned into columns (tuples).
    each: list[tuple[Any, ...]] = []
    accounts: list[tuple[int, int, int]] = []
    for o in earners:
        order, earns = orders[o], points[o]
        state, store = order.state, order.store
        if state is None:  # an anonymous order never earns
            raise ValueError("an anonymous order has no member")
        paid = earning.debt_paid(earns, state.debt)
        each.append((
            store.liability_account_id, state.account_id, earns, order.member_id, purchase_ids[o],
            store.id, order.order_id, labels[o], store.merchant_id, paid, earns - paid,
            stored_instant(available[o], pg), stored_instant(expires[o], pg),
        ))  # fmt: skip
        accounts.append((state.balance + earns, state.debt - paid, state.account_id))
    (
        debit, credit, amount, member, purchase, store_id, order_id, rule, merchant, paid_debt, remaining,
        available_at, expires_at,
    ) = zip(*each, strict=True)  # fmt: skip
    transfers = TransferColumns(
        kind="earn", created_at=now_text, ids=None if ids is None else ids["transfers"],
        posting_ids=None if ids is None else ids["postings"], debit_account_id=debit,
        credit_account_id=credit, amount=amount, member_id=member, purchase_id=purchase,
        store_id=store_id, order_id=order_id, rule=rule,
    )  # fmt: skip
    lots: list[Sequence[Any]] = [
        credit, member, merchant, purchase, amount, paid_debt, remaining, available_at, expires_at,
    ]  # fmt: skip
    return transfers, lots, None if ids is None else ids["point_lots"], accounts


def _earned_by_rules(
    conn: Connection,
    rules: Sequence[Rule],
    orders: Sequence[Order],
    before: list[int],
    ranked: Sequence[Tier],
) -> Earned:
    """The lines' points by the programmes' earning rules."""
    n = len(orders)
    lines = [line for o in orders for line in o.lines]
    brands = [line.brand for line in lines]
    stores = [o.store for o in orders]
    columns = OrderBatch(  # the orders in columns, as the rules engine reads a batch
        store_id=np.array([s.id for s in stores], dtype=np.int64),
        order_id=[o.order_id for o in orders],
        occurred_us=np.array([o.occurred_us for o in orders], dtype=np.int64),
        member_id=np.array(
            [ANONYMOUS if o.member_id is None else o.member_id for o in orders], dtype=np.int64
        ),
        offsets=np.array(list(accumulate((len(o.lines) for o in orders), initial=0)), dtype=np.int64),
        sku=[line.sku for line in lines],
        category=[line.category for line in lines],
        quantity=np.array([line.quantity for line in lines], dtype=np.int64),
        unit_price_minor=np.array([line.unit_price_minor for line in lines], dtype=np.int64),
        discount_minor=np.array([line.discount_minor for line in lines], dtype=np.int64),
        channel=[o.channel for o in orders],
        brand=None if all(b is None for b in brands) else brands,
    )
    excluded = [
        line.category is not None and line.category in o.store.programme.excluded_categories
        for o in orders
        for line in o.lines
    ]
    return earned_by_rules(
        conn, rules, columns, stores, np.arange(n, dtype=np.int64), ranked,
        np.array(before, dtype=np.int64), np.array([o.member_id is not None for o in orders], dtype=bool),
        lambda: [None if o.state is None else stored_date(o.state.stored_birthday) for o in orders],
        np.array([line.amount_minor for line in lines], dtype=np.int64), np.array(excluded, dtype=bool),
    )  # fmt: skip


class FewOrders:
    """A till's few-order batch: `of` checks it and reads its members and their window spend, `post`
    writes it (`post_orders`)."""

    def __init__(
        self,
        conn: Connection,
        ctx: Context,
        orders: list[Order],
        ahead: ReadAhead | None,
        reads: CatalogueReads,
    ) -> None:
        self.conn, self.ctx, self.orders, self.ahead, self.reads = conn, ctx, orders, ahead, reads

    @classmethod
    def of(
        cls, conn: Connection, ctx: Context, batch: OrderBatch, ahead: ReadAhead | None
    ) -> FewOrders | None:
        """The posting of `batch` (`takes`), or None where it holds what only the live routine
        handles (as `set_based.post_set_based`): an invalid line, an unknown store or member, an
        inactive member, a currency that is not the programme's."""
        columns = OrderLists.of(batch)
        prices = zip(columns.quantity, columns.unit_price_minor, columns.discount_minor, strict=True)
        amounts = [earning.line_amount(q, p, d) for q, p, d in prices]
        if not columns.well_formed(amounts):
            return None
        catalogue = catalogue_of(ctx)
        try:
            stores = [catalogue.store(conn, store_id) for store_id in columns.store_id]
        except NotFound:  # unknown store: the live routine raises the proper error
            return None
        if batch.currency is not None and any(s.programme.currency != batch.currency for s in stores):
            return None  # not the programme's currency: the live routine refuses it (CURRENCY_MISMATCH)
        members = columns.member_id
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
        ladder = catalogue.tiers(conn)
        climbing = [o for o, s in enumerate(states) if s is not None and not ladder.is_top(s.tier_id)]
        held = dict(zip(climbing, _held_spend(conn, columns, stores, climbing, amounts, ahead), strict=True))
        channels = columns.channels()
        staff = columns.staff or [None] * len(columns)
        brands = columns.brand or [None] * len(amounts)
        orders = []
        for o, (lo, hi) in enumerate(pairwise(columns.offsets)):
            lines = [
                Line(
                    columns.sku[j], columns.category[j], brands[j], columns.quantity[j],  # type: ignore[arg-type]
                    columns.unit_price_minor[j], columns.discount_minor[j], amounts[j],
                )
                for j in range(lo, hi)
            ]  # fmt: skip
            member = members[o]
            orders.append(
                Order(
                    stores[o], columns.order_id[o], columns.occurred_us[o], channels[o], staff[o],  # type: ignore[arg-type]
                    batch.currency or stores[o].programme.currency, lines, sum(amounts[lo:hi]),
                    None if member == ANONYMOUS else member, states[o], held.get(o),
                )
            )  # fmt: skip
        return cls(conn, ctx, orders, ahead, catalogue_reads(conn, ctx, stores))

    def post(
        self, hashes: Sequence[str] | None, actors: Sequence[Actor] | None, given: Writes | None
    ) -> Posted:
        """Write the batch in the caller's transaction and answer what it posted (as
        `set_based.post_set_based`: `actors` one an order, audited with it; `given`, PostgreSQL's
        one write statement of the caller's)."""
        ahead = self.ahead
        return post_orders(
            self.conn, self.ctx, self.orders, self.ctx.now(), self.reads, request_hashes=hashes,
            actors=actors, writes=given, new_ids=lambda wanted: new_id_lists(self.conn, ahead, wanted),
        )  # fmt: skip


def _held_spend(
    conn: Connection,
    columns: OrderLists,
    stores: list[StoreInfo],
    climbing: list[int],
    amounts: list[int],
    ahead: ReadAhead | None,
) -> list[int]:
    """The spend the database holds of each climbing order's member in its window (order time − the
    programme's window, order time]: from the reads sent ahead, or one prepared statement a member (on
    PostgreSQL sent together)."""
    members, times = columns.member_id, columns.occurred_us
    windows = [stores[o].programme.tier_window_days for o in climbing]
    if ahead is None:
        with pipelined(conn):
            sent = [
                send_qualifying_spend(conn, members[o], instant(times[o]), days)
                for o, days in zip(climbing, windows, strict=True)
            ]
            return [int(s.scalar()) for s in sent]
    member, time, amount = (column.tolist() for column in ahead.spend())
    return [
        held_in_window((member, time, amount), members[o], times[o] - days * earning.US_PER_DAY, times[o])
        for o, days in zip(climbing, windows, strict=True)
    ]
