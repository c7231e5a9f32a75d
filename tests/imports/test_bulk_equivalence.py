"""The set-based bulk posting and the live per-order posting leave identical ledgers.

Two fresh databases get the same members, the same history and then the same purchases: one through
`posting.set_based.post_purchase_batch` (what `loyalty import purchases` runs), the other through the live
`purchases.post_purchases` (one `_post_one` per order, as a POS would). Every row of the ledger must then
be identical: purchases and lines (points, rule; the request hash only live orders have), transfers,
postings, lots (amount, debt paid, remaining, pending-until, expiry), account balances and debts,
members' tiers and tier history.

The data crosses tier thresholds in the middle of a batch, has excluded categories, stores in three
time zones, orders at midnight and at the same instant, members with an outstanding debt, and history
already in the database that enters and leaves the rolling window during the batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, insert, select, text, update

from loyalty.bootstrap import Context, FrozenClock
from loyalty.db.core_tables import accounts, stores
from loyalty.db.engine import make_engine
from loyalty.db.migrate import upgrade
from loyalty.domain.channels import CHANNELS
from loyalty.domain.errors import IdempotencyMismatch, InvalidInput
from loyalty.imports.loaders import insert_members
from loyalty.services import purchases
from loyalty.services.posting.import_session import BulkSession
from loyalty.services.posting.order_batch import ANONYMOUS, OrderBatch
from loyalty.services.posting.set_based import post_purchase_batch
from loyalty.services.schemas import PurchaseIn, PurchaseLineIn, ReturnIn
from loyalty.services.seed import ensure_programme
from tests.conftest import migrated_url

NOW = datetime(2026, 10, 1, 12, tzinfo=UTC)
#: who rang a sale: codes as tills send them, quotes, commas and braces included (the PostgreSQL
#: batch's arrays are text literals), and a username
STAFF_CODES = ("C01", "SH01-C2", "收银员 07", 'say "hi", {x}\\', "NULL", "li.wei", "x" * 100)
STORES = (("EQ-SH", "Asia/Shanghai"), ("EQ-NY", "America/New_York"), ("EQ-LN", "Europe/London"))
CATEGORIES = ("coffee", "tobacco", None, "gift_card", "咖啡", 'quote"d')
#: brands as receipts name them (a line may name none), quotes and commas included
BRANDS = ("ACME", "星巴克", None, 'brand "x", {y}', "house")
TABLES = {
    "purchases": "id",
    "purchase_lines": "purchase_id, line_no",
    "transfers": "id",
    "postings": "id",
    "point_lots": "id",
    "accounts": "id",
    "tier_history": "id",
}


def _migrated(url: str) -> None:
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()


def _chain(url: str) -> Context:
    """A migrated database with the seeded programme and the test's stores, on a frozen clock."""
    _migrated(url)
    ctx = Context.from_url(url)
    ctx.clock = FrozenClock(NOW)
    ensure_programme(ctx)
    with ctx.engine.begin() as conn:
        merchant = conn.execute(text("SELECT min(id) FROM merchants")).scalar_one()
        for code, tz in STORES:
            conn.execute(
                insert(stores).values(merchant_id=merchant, code=code, name=code, timezone=tz, created_at=NOW)
            )
    return ctx


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def pair(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Context, Context]]:
    """Two identical fresh databases: (bulk, live)."""
    with ExitStack() as databases:
        urls = [
            databases.enter_context(migrated_url(request.param, tmp_path_factory, n))
            for n in ("bulk", "live")
        ]
        ctxs = [_chain(url) for url in urls]
        yield ctxs[0], ctxs[1]
        for ctx in ctxs:
            ctx.engine.dispose()


def _store_ids(ctx: Context) -> list[int]:
    with ctx.engine.connect() as conn:
        return [
            int(conn.execute(select(stores.c.id).where(stores.c.code == code)).scalar_one())
            for code, _ in STORES
        ]


def _add_members(ctx: Context, n: int, tag: str, debts: list[int]) -> list[int]:
    """`n` members (same ids in both databases); member i owes debts[i] points (if any)."""
    with ctx.engine.begin() as conn:
        rows = [{"card_no": f"{tag}{i:06d}", "member_code": f"{tag}-{i}", "phone": None} for i in range(n)]
        ids = list(insert_members(conn, rows, NOW, None).values())
        for mid, debt in zip(ids, debts, strict=False):
            if debt:
                # A debt left by an earlier return (balance −debt, as `reverse_points` leaves it).
                conn.execute(
                    update(accounts).where(accounts.c.member_id == mid).values(balance=-debt, debt=debt)
                )
    return ids


@dataclass
class Order:
    store: int
    member: int  # ANONYMOUS (0): an anonymous sale
    at: datetime
    #: sku, category, qty, unit price, discount (and with `_scenario(brands=True)`, brand)
    lines: list[tuple[Any, ...]]
    channel: str = "store"
    staff: str | None = None  # who rang it


def _batch(orders: list[Order], order_prefix: str) -> OrderBatch:
    counts = [len(o.lines) for o in orders]
    flat = [ln for o in orders for ln in o.lines]
    channels = [o.channel for o in orders]
    staff = [o.staff for o in orders]
    brands = [ln[5] if len(ln) > 5 else None for ln in flat]
    return OrderBatch(
        store_id=np.array([o.store for o in orders], dtype=np.int64),
        order_id=pa.array([f"{order_prefix}{i}" for i in range(len(orders))], pa.string()),
        occurred_us=np.array(
            [(o.at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) for o in orders],
            dtype=np.int64,
        ),
        member_id=np.array([o.member for o in orders], dtype=np.int64),
        offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        sku=pa.array([ln[0] for ln in flat], pa.string()),
        category=pa.array([ln[1] for ln in flat], pa.string()),
        quantity=np.array([ln[2] for ln in flat], dtype=np.int64),
        unit_price_minor=np.array([ln[3] for ln in flat], dtype=np.int64),
        discount_minor=np.array([ln[4] for ln in flat], dtype=np.int64),
        channel=None if set(channels) <= {"store"} else pa.array(channels, pa.string()),
        staff=None if set(staff) == {None} else pa.array(staff, pa.string()),
        brand=None if set(brands) == {None} else pa.array(brands, pa.string()),
    )


def _post_both(
    bulk: Context, live: Context, batch: OrderBatch, cut: int | Sequence[int] | None = None
) -> None:
    """Post `batch` through the bulk routine (in one batch, or cut into several at `cut`) and live."""
    cuts = [] if cut is None else [cut] if isinstance(cut, int) else sorted(set(cut))
    edges = [0, *(c for c in cuts if 0 < c < len(batch)), len(batch)]
    parts = list(pairwise(edges))
    session = BulkSession()  # what one import run carries from batch to batch
    for lo, hi in parts:
        with bulk.engine.begin() as conn:
            assert post_purchase_batch(conn, bulk, _slice(batch, lo, hi), session) == hi - lo
    purchases.post_purchases(live, batch.items())


def _slice(b: OrderBatch, lo: int, hi: int) -> OrderBatch:
    a, z = int(b.offsets[lo]), int(b.offsets[hi])
    return OrderBatch(
        store_id=b.store_id[lo:hi],
        order_id=b.order_id.slice(lo, hi - lo),
        occurred_us=b.occurred_us[lo:hi],
        member_id=b.member_id[lo:hi],
        offsets=b.offsets[lo : hi + 1] - a,
        sku=b.sku.slice(a, z - a),
        category=b.category.slice(a, z - a),
        quantity=b.quantity[a:z],
        unit_price_minor=b.unit_price_minor[a:z],
        discount_minor=b.discount_minor[a:z],
        currency=b.currency,
        channel=None if b.channel is None else b.channel.slice(lo, hi - lo),
        staff=None if b.staff is None else b.staff.slice(lo, hi - lo),
        brand=None if b.brand is None else b.brand.slice(a, z - a),
    )


def _dump(ctx: Context) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    with ctx.engine.connect() as conn:
        for table, key in TABLES.items():
            result = conn.execute(text(f"SELECT * FROM {table} ORDER BY {key}"))
            keep = [i for i, name in enumerate(result.keys()) if name != "request_hash"]
            out[table] = [tuple(r[i] for i in keep) for r in result]
        out["members"] = [
            tuple(r)
            for r in conn.execute(
                text("SELECT id, tier_id, tier_grace_until, status FROM members ORDER BY id")
            )
        ]
    return out


def _without_ids(rows: list[tuple[Any, ...]], table: str) -> list[tuple[Any, ...]]:
    """Rows without surrogate keys (first column) and the keys they point to (table-specific)."""
    refs = {"purchase_lines": (0,), "postings": (0, 1), "point_lots": (0, 4, 5), "transfers": (0, 6)}
    drop = refs.get(table, (0,))
    return [tuple(v for i, v in enumerate(r) if i not in drop) for r in rows]


def assert_same_ledger(bulk: Context, live: Context, *, same_ids: bool = True) -> None:
    """Identical rows; with `same_ids=False` surrogate ids may differ (PostgreSQL sequences skip values
    a rolled-back savepoint took, as any rolled-back transaction does)."""
    a, b = _dump(bulk), _dump(live)
    for table in a:
        assert len(a[table]) == len(b[table]), table
        ra_all = a[table] if same_ids else _without_ids(a[table], table)
        rb_all = b[table] if same_ids else _without_ids(b[table], table)
        for ra, rb in zip(ra_all, rb_all, strict=True):
            assert ra == rb, (table, ra, rb)


def anonymous_sale_transfers(conn: Connection) -> int:
    """Ledger transfers tied to anonymous sales (none: an anonymous sale moves no points)."""
    return int(
        conn.execute(
            text(
                "SELECT count(*) FROM transfers t JOIN purchases p ON p.id = t.purchase_id "
                "WHERE p.member_id IS NULL"
            )
        ).scalar_one()
    )


def _scenario(
    store_ids: list[int],
    members: list[int],
    rng: np.random.Generator,
    n: int,
    *,
    anonymous: float = 0.0,
    channels: bool = False,
    staff: bool = False,
    brands: bool = False,
) -> list[Order]:
    """Orders in time order, including midnight (local) sales, simultaneous sales and big baskets; a
    share of them `anonymous`, with `channels` made in every channel (mostly in stores), with
    `staff` most of them naming who rang them (a till's code, any text a staff code may be), and with
    `brands` most lines naming a brand."""
    start = NOW - timedelta(days=400)
    orders = []
    for _ in range(n):
        day = int(rng.integers(0, 400))
        kind = rng.random()
        if kind < 0.2:  # local midnight in the store's zone (Shanghai +8, New York −4/−5, London 0/+1)
            at = start.replace(hour=16) + timedelta(days=day)
        elif kind < 0.3:
            at = start + timedelta(days=day, microseconds=int(rng.integers(0, 999_999)))
        else:
            at = start + timedelta(days=day, seconds=int(rng.integers(0, 86_400)))
        big = rng.random() < 0.15
        lines = [
            (
                f"SKU{int(rng.integers(0, 50))}",
                CATEGORIES[int(rng.integers(0, len(CATEGORIES)))],
                int(rng.integers(1, 4)),
                int(rng.integers(100, 900_000 if big else 20_000)),
                int(rng.integers(0, 100)) if rng.random() < 0.3 else 0,
            )
            for _ in range(int(rng.integers(1, 5)))
        ]
        if brands:
            lines = [(*ln, BRANDS[int(rng.integers(0, len(BRANDS)))]) for ln in lines]
        order = Order(
            store_ids[int(rng.integers(0, len(store_ids)))],
            members[int(rng.integers(0, len(members)))],
            at,
            lines,
        )
        if anonymous and rng.random() < anonymous:
            order.member = ANONYMOUS
        if channels:
            order.channel = str(rng.choice(CHANNELS, p=[0.6, 0.15, 0.15, 0.1]))
        if staff and rng.random() < 0.8:
            order.staff = STAFF_CODES[int(rng.integers(0, len(STAFF_CODES)))]
        orders.append(order)
    orders.sort(key=lambda o: o.at)
    # A few sales at the very same instant as the one before (order of posting decides).
    for i in range(1, len(orders), 17):
        orders[i].at = orders[i - 1].at
    return orders


def test_bulk_equals_live(pair: tuple[Context, Context]) -> None:
    bulk, live = pair
    rng = np.random.default_rng(11)
    store_ids = _store_ids(bulk)
    assert store_ids == _store_ids(live)
    debts = [0, 500, 0, 30, 0, 0, 2_000_000]
    members = _add_members(bulk, 12, "EQ", debts)
    assert members == _add_members(live, 12, "EQ", debts)
    # History already in the database, some of it leaving the window while the batch runs.
    history = _batch(_scenario(store_ids, members, rng, 40), "H")
    hist_items = history.items()
    purchases.post_purchases(bulk, hist_items)
    purchases.post_purchases(live, hist_items)
    # The batch: later than most history, so windows slide over it.
    orders = _scenario(store_ids, members, rng, 160)
    for o in orders:
        o.at += timedelta(days=200)
    batch = _batch(orders, "B")
    _post_both(bulk, live, _slice(batch, 0, 100), cut=40)
    _post_both(bulk, live, _slice(batch, 100, len(batch)), cut=[15, 30, 45])
    assert_same_ledger(bulk, live)
    with bulk.engine.connect() as conn:
        upgrades = conn.execute(
            text("SELECT count(*) FROM tier_history WHERE reason = 'upgrade'")
        ).scalar_one()
        lots_paid = conn.execute(text("SELECT count(*) FROM point_lots WHERE debt_paid > 0")).scalar_one()
    assert upgrades >= 3  # the scenario really crossed thresholds...
    assert lots_paid >= 2  # ... and paid debts


def test_bulk_equals_live_with_staff(pair: tuple[Context, Context]) -> None:
    """Most sales name who rang them (anonymous ones too), some nobody: the bulk routine writes each
    sale's staff code exactly as the live one does, in one batch and cut into several, a batch
    naming nobody included; a staff code that is not one sends the batch to the live routine, which
    refuses it naming the field."""
    bulk, live = pair
    rng = np.random.default_rng(31)
    store_ids = _store_ids(bulk)
    members = _add_members(bulk, 6, "ST", [0, 700, 0])
    assert members == _add_members(live, 6, "ST", [0, 700, 0])
    orders = _scenario(store_ids, members, rng, 90, anonymous=0.3, channels=True, staff=True)
    batch = _batch(orders, "ST")
    _post_both(bulk, live, _slice(batch, 0, 60), cut=[7, 33])
    _post_both(bulk, live, _slice(batch, 60, len(batch)))
    nobody = _scenario(store_ids, members, rng, 5)  # a batch in which no sale names anyone
    for o in nobody:
        o.at += timedelta(days=420)
    _post_both(bulk, live, _batch(nobody, "SN"))
    assert_same_ledger(bulk, live)
    with bulk.engine.connect() as conn:
        named = dict(conn.execute(text("SELECT order_id, staff FROM purchases")).all())
    sent = {f"ST{i}": o.staff for i, o in enumerate(orders)}
    assert {k: named[k] for k in sent} == sent
    assert set(sent.values()) == {*STAFF_CODES, None}
    late = _scenario(store_ids, members, rng, 2, staff=True)
    for o in late:
        o.at += timedelta(days=500)
        o.staff = "C01"
    late[1].staff = " C01"  # not a staff code (a space at the start)
    with bulk.engine.begin() as conn, pytest.raises(InvalidInput) as refused:
        post_purchase_batch(conn, bulk, _batch(late, "SX"), BulkSession())
    assert [e["field"] for e in refused.value.details["errors"]] == ["staff"]


def test_bulk_equals_live_with_anonymous_sales_and_channels(pair: tuple[Context, Context]) -> None:
    """A third of the sales anonymous, in every channel, among members' sales that cross thresholds and
    pay debts: the bulk routine writes exactly what the live one does, anonymous sales included (no
    member, no points, no transfer, no lot, no tier effect), in one batch and cut into several."""
    bulk, live = pair
    rng = np.random.default_rng(23)
    store_ids = _store_ids(bulk)
    debts = [0, 900, 0, 0, 1_500_000]
    members = _add_members(bulk, 8, "AN", debts)
    assert members == _add_members(live, 8, "AN", debts)
    history = _batch(_scenario(store_ids, members, rng, 40, anonymous=0.35, channels=True), "AH")
    purchases.post_purchases(bulk, history.items())
    purchases.post_purchases(live, history.items())
    orders = _scenario(store_ids, members, rng, 150, anonymous=0.35, channels=True)
    for o in orders:
        o.at += timedelta(days=200)
    batch = _batch(orders, "AB")
    _post_both(bulk, live, _slice(batch, 0, 70), cut=[11, 40])
    _post_both(bulk, live, _slice(batch, 70, len(batch)))
    # A batch of anonymous sales only.
    only = _batch([o for o in _scenario(store_ids, members, rng, 12, anonymous=1.0, channels=True)], "AO")
    _post_both(bulk, live, only)
    assert_same_ledger(bulk, live)
    with bulk.engine.connect() as conn:
        anonymous = conn.execute(
            text(
                "SELECT count(*), sum(points_earned), count(DISTINCT channel), min(rule), max(rule) "
                "FROM purchases WHERE member_id IS NULL"
            )
        ).one()
        assert anonymous[0] >= 50
        assert anonymous[1:] == (0, 4, "anonymous", "anonymous")
        assert conn.execute(text("SELECT count(DISTINCT channel) FROM purchases")).scalar_one() == 4
        assert anonymous_sale_transfers(conn) == 0
        upgrades = conn.execute(
            text("SELECT count(*) FROM tier_history WHERE reason = 'upgrade'")
        ).scalar_one()
        assert upgrades >= 2  # members' sales still moved tiers
        eligible = conn.execute(
            text("SELECT count(*) FROM purchases WHERE member_id IS NULL AND eligible_minor < total_minor")
        ).scalar_one()
        assert eligible > 0  # anonymous sales keep their eligible spend by the programme's exclusions


def test_pos_replay_of_an_imported_order(pair: tuple[Context, Context]) -> None:
    """An imported order keeps no request hash; a POS sending it again is told apart by content."""
    bulk, _ = pair
    store_ids = _store_ids(bulk)
    members = _add_members(bulk, 1, "RP", [])
    with bulk.engine.begin() as conn:  # a member with a real card number (check digit)
        ((card, carded),) = insert_members(conn, [{"member_code": "RP-card"}], NOW, None).items()
    members.insert(0, carded)
    at = NOW - timedelta(days=3, microseconds=250)
    lines = [("A", "咖啡", 2, 1_250, 100), ("B", None, 1, 990, 0)]
    batch = _batch([Order(store_ids[0], members[0], at, lines)], "RP")
    with bulk.engine.begin() as conn:
        assert post_purchase_batch(conn, bulk, batch) == 1
        assert conn.execute(text("SELECT request_hash FROM purchases")).scalar_one() is None
    (item,) = batch.items()
    first = purchases.get_purchase(bulk, store_id=store_ids[0], order_id=item.order_id)

    again = purchases.post_purchase(bulk, item)
    assert again.replayed
    assert again.purchase_id == first.purchase_id
    assert again.points_earned == first.points_earned
    by_card = item.model_copy(update={"member_id": None, "card_no": card, "total_minor": 3_390})
    assert purchases.post_purchase(bulk, by_card).replayed
    with_currency = item.model_copy(update={"currency": "CNY"})
    assert purchases.post_purchase(bulk, with_currency).replayed

    changed_line = item.model_copy(
        update={"lines": [item.lines[0], item.lines[1].model_copy(update={"quantity": 2})]}
    )
    for other in (
        changed_line,
        item.model_copy(update={"lines": item.lines[:1]}),
        item.model_copy(update={"occurred_at": at + timedelta(microseconds=1)}),
        item.model_copy(update={"member_id": members[1]}),
        item.model_copy(update={"total_minor": 3_391}),
    ):
        with pytest.raises(IdempotencyMismatch):
            purchases.post_purchase(bulk, other)
    # another currency is refused before any look-up: never posted, never taken for a resend
    with pytest.raises(InvalidInput) as foreign:
        purchases.post_purchase(bulk, item.model_copy(update={"currency": "USD"}))
    assert foreign.value.code == "CURRENCY_MISMATCH"
    with bulk.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM purchases")).scalar_one() == 1


def test_duplicate_order_replays_like_live(pair: tuple[Context, Context]) -> None:
    """A batch holding an order that is already posted falls back to the live routine (replay)."""
    bulk, live = pair
    store_ids = _store_ids(bulk)
    members = _add_members(bulk, 2, "DU", [])
    _add_members(live, 2, "DU", [])
    item = PurchaseIn(
        store_id=store_ids[0],
        order_id="D1",
        occurred_at=NOW - timedelta(days=1),
        member_id=members[0],
        lines=[PurchaseLineIn(sku="A", category="coffee", quantity=1, unit_price_minor=12_345)],
    )
    purchases.post_purchase(bulk, item)
    purchases.post_purchase(live, item)
    orders = [
        Order(store_ids[0], members[0], NOW - timedelta(days=1), [("A", "coffee", 1, 12_345, 0)]),
        Order(store_ids[1], members[1], NOW, [("B", None, 2, 5_000, 0)]),
        Order(store_ids[2], ANONYMOUS, NOW, [("C", "coffee", 1, 700, 0)], "delivery"),  # live, anonymous
    ]
    batch = _batch(orders, "D")  # order ids D0, D1: D1 at store 0 exists... at another store: new
    batch.order_id = pa.array(["D1", "D2", "D3"], pa.string())
    with bulk.engine.begin() as conn:
        assert post_purchase_batch(conn, bulk, batch) == 2  # the replayed order is not new
    purchases.post_purchases(live, batch.items())
    assert_same_ledger(bulk, live, same_ids=bulk.engine.dialect.name == "sqlite")


_order = st.tuples(
    st.integers(0, 2),  # store
    st.integers(0, 4),  # member (4: none, an anonymous sale)
    st.integers(0, 500 * 24),  # hour offset
    st.lists(
        st.tuples(
            st.sampled_from(CATEGORIES),
            st.integers(1, 3),
            st.integers(0, 1_500_000),
            st.integers(0, 50),
        ),
        min_size=1,
        max_size=3,
    ),
    st.sampled_from(CHANNELS),
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.lists(_order, min_size=1, max_size=25), cuts=st.lists(st.integers(1, 24), max_size=4))
def test_bulk_equals_live_property(
    tmp_path_factory: pytest.TempPathFactory, data: list[Any], cuts: list[int]
) -> None:
    """Random batches (SQLite), posted in up to five batches of one session: thresholds, exclusions,
    debts, windows (reaching over orders earlier batches posted), anonymous sales and channels always
    agree with live."""
    base = tmp_path_factory.mktemp("prop")
    urls = [f"sqlite:///{base / 'bulk.db'}", f"sqlite:///{base / 'live.db'}"]
    ctxs = [_chain(url) for url in urls]
    bulk, live = ctxs
    store_ids = _store_ids(bulk)
    members = _add_members(bulk, 4, "P", [0, 700, 0, 0])
    _add_members(live, 4, "P", [0, 700, 0, 0])
    start = NOW - timedelta(days=500)
    orders = sorted(
        (
            Order(
                store_ids[s],
                members[m] if m < len(members) else ANONYMOUS,
                start + timedelta(hours=h),
                [(f"S{i}", c, q, p, min(d, q * p)) for i, (c, q, p, d) in enumerate(lines)],
                channel,
            )
            for s, m, h, lines, channel in data
        ),
        key=lambda o: o.at,
    )
    batch = _batch(orders, "P")
    _post_both(bulk, live, batch, cut=cuts)
    assert_same_ledger(bulk, live)
    for ctx in ctxs:
        ctx.engine.dispose()


def test_imported_returns_equal_live_returns(pair: tuple[Context, Context]) -> None:
    """Returns posted by the import (a batch in one transaction) leave the ledger live returns leave.

    Several returns hit the same order (cumulative refunds), one member's returns follow each other
    in the batch (lots consumed by an earlier return of the same transaction), one return takes back
    more points than the member still holds (debt).
    """
    from loyalty.imports.loaders import _post_returns

    bulk, live = pair
    rng = np.random.default_rng(5)
    store_ids = _store_ids(bulk)
    members = _add_members(bulk, 6, "RT", [])
    assert members == _add_members(live, 6, "RT", [])
    batch = _batch(_scenario(store_ids, members, rng, 30), "R")
    _post_both(bulk, live, batch)
    # Spend most of one member's points, so that a return later in the batch creates a debt.
    with bulk.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT store_id, order_id, total_minor, member_id FROM purchases ORDER BY id")
        ).all()
    rich = rows[0].member_id
    for ctx in (bulk, live):
        with ctx.engine.begin() as conn:
            conn.execute(text("UPDATE point_lots SET remaining = 0 WHERE member_id = :m"), {"m": rich})
    returns_rows = []
    for i, r in enumerate(rows[:12]):
        parts = [r.total_minor // 3, r.total_minor // 4] if i % 3 == 0 else [max(r.total_minor // 2, 1)]
        for k, refund in enumerate(parts):
            if refund <= 0:
                continue
            returns_rows.append(
                {
                    "store_id": r.store_id,
                    "return_id": f"RET-{i}-{k}",
                    "original_order_id": r.order_id,
                    "occurred_us": int((NOW - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)),
                    "refund_minor": int(refund),
                }
            )
    table = pa.Table.from_pylist(returns_rows)
    with bulk.engine.begin() as conn:
        assert _post_returns(bulk, conn, table) == len(returns_rows)
    for r in returns_rows:
        purchases.post_return(
            live,
            ReturnIn(
                store_id=r["store_id"],
                return_id=r["return_id"],
                order_id=r["original_order_id"],
                occurred_at=NOW,
                refund_minor=r["refund_minor"],
            ),
        )
    assert_same_ledger(bulk, live)
    extra = {"returns": "id", "lot_allocations": "id"}  # purchases: compared above
    dumps = []
    for ctx in (bulk, live):
        with ctx.engine.connect() as conn:
            dumps.append(
                {
                    t: [tuple(r) for r in conn.execute(text(f"SELECT * FROM {t} ORDER BY {k}"))]
                    for t, k in extra.items()
                }
            )
    assert dumps[0] == dumps[1]
    assert len(dumps[0]["returns"]) == len(returns_rows)
    assert any(r.debt_created > 0 for r in _returns(bulk))  # the scenario really created a debt
    # Replaying the file posts nothing new (each return replays).
    with bulk.engine.begin() as conn:
        assert _post_returns(bulk, conn, table) == 0


def _returns(ctx: Context) -> list[Any]:
    with ctx.engine.connect() as conn:
        return list(conn.execute(text("SELECT * FROM returns ORDER BY id")))


def test_a_return_between_batches_of_one_session_is_seen(pair: tuple[Context, Context]) -> None:
    """A return posted on the session's own connection between two batches (which SQLite's
    data_version does not report) must not leave the next batch with the refunded spend or the old
    balance: here it would otherwise reach 银卡 on 1,500 + 1,000 yuan instead of 500 + 1,000."""
    bulk, live = pair
    store_ids = _store_ids(bulk)
    (member,) = _add_members(bulk, 1, "RB", [])
    assert _add_members(live, 1, "RB", []) == [member]
    first = _batch([Order(store_ids[0], member, NOW - timedelta(days=3), [("A", None, 1, 150_000, 0)])], "A")
    second = _batch([Order(store_ids[0], member, NOW - timedelta(days=1), [("B", None, 1, 100_000, 0)])], "B")
    refund = ReturnIn(
        store_id=store_ids[0],
        return_id="R1",
        order_id="A0",
        occurred_at=NOW - timedelta(days=2),
        refund_minor=100_000,
    )
    session = BulkSession()
    with bulk.engine.begin() as conn:
        assert post_purchase_batch(conn, bulk, first, session) == 1
    purchases.post_return(bulk, refund)
    with bulk.engine.begin() as conn:
        assert post_purchase_batch(conn, bulk, second, session) == 1
    purchases.post_purchases(live, first.items())
    purchases.post_return(live, refund)
    purchases.post_purchases(live, second.items())
    assert_same_ledger(bulk, live)
    with bulk.engine.connect() as conn:
        assert (
            conn.execute(text("SELECT count(*) FROM tier_history WHERE reason = 'upgrade'")).scalar_one() == 0
        )


@given(
    st.lists(st.integers(min_value=-2_208_988_800_000_000, max_value=253_402_300_799_999_999), max_size=64),
    st.booleans(),
)
def test_a_few_times_are_written_as_the_same_text_as_many(values: list[int], pg: bool) -> None:
    """A handful of times (a POS batch) are formatted in Python, a column of many by Arrow: same text."""
    from loyalty.db.stored_time import stored_texts

    few = stored_texts(np.array(values, dtype=np.int64), pg)
    many = stored_texts(np.array(values * 65, dtype=np.int64), pg)  # past the few: Arrow's path
    assert few == many[: len(values)]
